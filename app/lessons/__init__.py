"""Lessons: human-editable Markdown files with a YAML header and a script of steps
(narrative, focus, actions, checkpoints, quiz), parsed, checked and run headless."""

from app.lessons.check import check_lesson
from app.lessons.model import Lesson, LessonError
from app.lessons.parse import load
from app.lessons.script import checked, new_session, perform, verify
from app.lessons.wording import words

__all__ = ["Lesson", "LessonError", "check_lesson", "checked", "load", "new_session",
           "perform", "verify", "words"]

"""`kmemvisor check`: a lesson's schema, then its script run headless with every
checkpoint verified. Problems name the lesson file and line."""

from __future__ import annotations

from app.lessons.model import LessonError
from app.lessons.parse import load
from app.lessons.script import new_session, perform, verify
from app.session import SessionError


def check_lesson(path: str) -> list[str]:
    """Every problem found, as `file:line: message` (empty when the lesson is sound)."""
    try:
        lesson = load(path)
        session = new_session(lesson)
    except LessonError as e:
        return [str(e)]
    except SessionError as e:
        return [f"{path}:1: {e.message}"]
    problems = []
    for step in lesson.steps:
        try:
            for action in step.actions:
                perform(session, action)
        except LessonError as e:
            problems.append(str(e))
            break
        for c in step.checks:
            ok, seen = verify(session, c)
            if not ok:
                problems.append(f"{c.where}: checkpoint '{c.text}' failed: {seen}")
    return problems

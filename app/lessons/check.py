"""`kmemvisor check`: a lesson's schema, then its script run headless with every
checkpoint verified. Problems name the lesson file and line."""

from __future__ import annotations

from pathlib import Path

from app.lessons.model import LessonError
from app.lessons.parse import load
from app.lessons.script import new_session, perform, verify
from app.session import SessionError


def check_lesson(path: str) -> list[str]:
    """Every problem found, as `file:line: message` (empty when the lesson is sound)."""
    try:
        lesson = load(path)
    except LessonError as e:
        return [str(e)]
    try:
        session = new_session(lesson)
    except SessionError as e:
        program = Path(path).parent / lesson.program_name
        if e.line and program.suffix == ".s" and program.is_file():
            return [f"{program}:{e.line}: {e.message}"]   # the program file beside it
        return [f"{path}:2: {e.message}"]                  # the header that names it
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

"""A lesson as the rest of the program sees it, once parsed and checked."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.lessons.wording import words


@dataclass(frozen=True)
class Where:
    """A place in a lesson file, for error messages: `path:line`."""

    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


class LessonError(Exception):
    def __init__(self, where: Where, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where, self.message = where, message

    def __reduce__(self):  # it crosses processes whole (the server's engine processes)
        return type(self), (self.where, self.message)

    def to_json(self) -> dict:
        return {"file": self.where.path, "line": self.where.line, "message": self.message}


@dataclass
class Action:
    """One thing the script does: step, back, run, run to, inject, reset."""

    verb: str
    args: dict
    where: Where
    text: str


@dataclass
class Check:
    """A checkpoint the engine verifies."""

    kind: str
    args: dict
    where: Where
    text: str


@dataclass
class Quiz:
    question: str
    choices: list[str]
    answer: int
    explain: str
    where: Where


@dataclass
class Step:
    title: str
    narrative: str          # Markdown as written
    html: str               # rendered and sanitized
    focus: str | None
    actions: list[Action]
    checks: list[Check]
    quiz: Quiz | None
    where: Where


@dataclass
class Lesson:
    path: str
    slug: str
    title: str
    goals: list[str]
    intro_html: str
    source: str
    program_name: str
    mirror: str
    offset: int
    compare: bool
    mirror_devices: bool
    steps: list[Step] = field(default_factory=list)

    def summary(self) -> dict:
        return {"slug": self.slug, "title": self.title, "goals": self.goals,
                "steps": len(self.steps)}

    def to_json(self) -> dict:
        """What a browser needs to follow the lesson (no answers before they are revealed
        — the quiz answer is sent separately)."""
        return {"slug": self.slug, "title": self.title, "goals": self.goals,
                "intro": self.intro_html,
                "setup": {"mirror": self.mirror, "offset": self.offset,
                          "compare": self.compare, "mirror_devices": self.mirror_devices,
                          "program": self.program_name},
                "steps": [{"title": s.title, "html": s.html, "focus": s.focus,
                           "actions": [a.text for a in s.actions],
                           "checks": [words(c) for c in s.checks],
                           "quiz": None if s.quiz is None else {
                               "question": s.quiz.question, "choices": s.quiz.choices}}
                          for s in self.steps]}

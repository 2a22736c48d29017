"""Classrooms: one shared workspace driven by an instructor, followed by students.

The instructor holds an unguessable key (only its hash is stored); students join with a
short code and a display name. Only the instructor may change the shared session; a
student may fork it into a private workspace and come back. What must survive a
restart (lesson position, quiz, the session, students, answers, forks) is in SQLite.

Each classroom guards its own state with its own lock; the list of classrooms is
guarded by another, held only for bookkeeping (a rebuild after a restart runs outside
it, so entering one classroom never waits for another's rebuild).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum

from app.lessons import Lesson
from app.web.store import Store
from app.web.workspaces import Workspace

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 6


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, key_hash: str) -> bool:
    """Whether `key` is the instructor key kept as `key_hash` (in constant time)."""
    return hmac.compare_digest(hash_key(key), key_hash)


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Role(StrEnum):
    INSTRUCTOR = "instructor"
    STUDENT = "student"


@dataclass
class Member:
    role: Role
    student: str | None = None
    name: str = ""
    following: bool = True
    fork: str | None = None   # the workspace of the student's fork, while forked


@dataclass
class Classroom:
    code: str
    key_hash: str
    lesson: Lesson
    workspace: Workspace
    store: Store
    position: int = -1        # -1: the introduction; else the step shown
    quiz: dict | None = None  # {"step", "open"}
    checks: list = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    ended: str | None = None  # why it ended, once it has
    lock: threading.RLock = field(default_factory=threading.RLock)
    touched: float = field(default_factory=time.monotonic)

    @property
    def room(self) -> str:
        return f"class:{self.code}"

    @property
    def teach_room(self) -> str:
        return f"teach:{self.code}"

    def member(self, sid: str) -> Member | None:
        with self.lock:
            return self.members.get(sid)

    def is_instructor(self, sid: str) -> bool:
        m = self.member(sid)
        return m is not None and m.role == Role.INSTRUCTOR

    def key_matches(self, key: str) -> bool:
        return key_matches(key, self.key_hash)

    def save(self) -> None:
        """The lesson's state (the session is saved by its workspace)."""
        with self.lock:
            position, quiz = self.position, self.quiz
        self.store.save_classroom(self.code, position, quiz)

    def students(self) -> list[Member]:
        with self.lock:
            return [m for m in self.members.values() if m.role == Role.STUDENT]

    def state(self) -> dict:
        """The `classroom` push: what every member sees (no answers before the reveal)."""
        with self.lock:
            quiz = None
            if self.quiz is not None:
                q = self.lesson.steps[self.quiz["step"]].quiz
                quiz = {"step": self.quiz["step"], "open": self.quiz["open"],
                        "question": q.question, "choices": q.choices}
                if not self.quiz["open"]:
                    quiz.update(answer=q.answer, explain=q.explain,
                                tally=self.tally(self.quiz["step"]))
            return {"code": self.code, "lesson": self.lesson.to_json(),
                    "position": self.position, "checks": list(self.checks), "quiz": quiz,
                    "ended": self.ended}

    def tally(self, step: int) -> list[int]:
        counts = self.store.tally(self.code, step)
        return [counts.get(i, 0) for i in range(len(self.lesson.steps[step].quiz.choices))]

    def roster(self) -> dict:
        """What only the instructor sees: who is here, and the live tally. A student
        with two tabs open is one student."""
        students = self.students()
        names = sorted({m.student: m.name for m in students}.values())
        forked = sorted({m.student: m.name for m in students if not m.following}.values())
        with self.lock:
            quiz = self.quiz
        tally = self.tally(quiz["step"]) if quiz else None
        return {"names": names, "forked": forked, "tally": tally}

"""Classrooms: one shared workspace driven by an instructor, followed by students.

The instructor holds an unguessable key (only its hash is stored); students join with a
short code and a display name. Only the instructor may change the shared session; a
student may fork it into a private workspace and come back. State that must survive a
restart (lesson position, quiz, the session as a recipe, students, answers) is in SQLite.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.lessons import Lesson, LessonError, load, new_session
from app.session import SessionError, commands, encode, from_recipe, recipe
from app.web.store import Store
from app.web.workspaces import Workspace, Workspaces

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L
CODE_LENGTH = 6
MAX_CLASSROOMS = 16  # open at once (each holds a pinned workspace)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class Member:
    role: str                 # instructor | student
    student: str | None = None
    name: str = ""
    following: bool = True


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
    _saved: list = field(default_factory=list)  # the commands as last saved
    @property
    def room(self) -> str:
        return f"class:{self.code}"

    @property
    def teach_room(self) -> str:
        return f"teach:{self.code}"

    def is_instructor(self, sid: str) -> bool:
        m = self.members.get(sid)
        return m is not None and m.role == "instructor"

    def key_matches(self, key: str) -> bool:
        return hmac.compare_digest(_hash(key), self.key_hash)

    def save(self) -> None:
        """Persist the state; of the session's commands only those past the part saved
        last time (commands change only at their end; their args dicts are compared by
        identity, and the list holds them, so an identity is never reused)."""
        s = self.workspace.session
        now = commands(s)
        keep = 0
        for (_c, a), (_d, b) in zip(self._saved, now, strict=False):
            if a is not b:
                break
            keep += 1
        self.store.save_state(self.code, self.position, self.quiz, recipe(s, history=False),
                              keep, [encode(c, a) for c, a in now[keep:]])
        self._saved = now

    def state(self) -> dict:
        """The `classroom` push: what every member sees (no answers before the reveal)."""
        quiz = None
        if self.quiz is not None:
            q = self.lesson.steps[self.quiz["step"]].quiz
            quiz = {"step": self.quiz["step"], "open": self.quiz["open"],
                    "question": q.question, "choices": q.choices}
            if not self.quiz["open"]:
                quiz.update(answer=q.answer, explain=q.explain,
                            tally=self.tally(self.quiz["step"]))
        return {"code": self.code, "lesson": self.lesson.to_json(),
                "position": self.position, "checks": self.checks, "quiz": quiz,
                "students": sum(1 for m in self.members.values() if m.role == "student")}

    def tally(self, step: int) -> list[int]:
        counts = self.store.tally(self.code, step)
        return [counts.get(i, 0) for i in range(len(self.lesson.steps[step].quiz.choices))]

    def roster(self) -> dict:
        """What only the instructor sees: who is here, and the live tally."""
        names = sorted(m.name for m in self.members.values() if m.role == "student")
        forked = sorted(m.name for m in self.members.values()
                        if m.role == "student" and not m.following)
        tally = self.tally(self.quiz["step"]) if self.quiz else None
        return {"names": names, "forked": forked, "tally": tally}


class Classrooms:
    def __init__(self, store: Store, workspaces: Workspaces, lessons_dir: str) -> None:
        self.store, self.workspaces = store, workspaces
        self.lessons_dir = Path(lessons_dir)
        self._open: dict[str, Classroom] = {}
        self._by_sid: dict[str, Classroom] = {}
        self._lock = threading.Lock()

    def lessons(self) -> tuple[list[Lesson], list[str]]:
        """The lessons that parse, and the problems of those that do not."""
        out, problems = [], []
        for path in sorted(self.lessons_dir.glob("*.md")):
            try:
                out.append(load(path))
            except LessonError as e:
                problems.append(str(e))
        return out, problems

    def lesson(self, slug: str) -> Lesson:
        path = self.lessons_dir / f"{slug}.md"
        if "/" in slug or not path.is_file():
            raise NoSuchLesson(f"there is no lesson '{slug}'")
        return load(path)

    def open(self, slug: str) -> tuple[Classroom, str]:
        lesson = self.lesson(slug)
        if len(self._open) >= MAX_CLASSROOMS:
            raise ClassroomsFull(f"{MAX_CLASSROOMS} classrooms are open on this server "
                                 "already")
        ws = self.workspaces.adopt(new_session(lesson), pinned=True)
        key = secrets.token_urlsafe(24)
        with self._lock:
            code = self._new_code()
            room = Classroom(code, _hash(key), lesson, ws, self.store)
            ws.classroom = room
            self.store.add_classroom(code, room.key_hash, slug, recipe(ws.session, history=False))
            self._open[code] = room
        return room, key

    def _new_code(self) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self._open and self.store.classroom(code) is None:
                return code

    def get(self, code: str) -> Classroom | None:
        """An open classroom, or one rebuilt from SQLite after a restart (NoSuchLesson if
        its lesson file is gone)."""
        code = code.strip().upper()
        with self._lock:  # one rebuild per code, however many arrive at once
            if code in self._open:
                return self._open[code]
            row = self.store.classroom(code)
            if row is None:
                return None
            if len(self._open) >= MAX_CLASSROOMS:
                raise ClassroomsFull(f"{MAX_CLASSROOMS} classrooms are open on this server "
                                     "already")
            lesson = self.lesson(row["lesson"])
            try:
                session = from_recipe(row["recipe"])
            except SessionError as e:
                raise NoSuchLesson(f"classroom {code} cannot be rebuilt: {e.message}") from None
            ws = self.workspaces.adopt(session, pinned=True)
            position = max(-1, min(row["position"], len(lesson.steps) - 1))
            quiz = row["quiz"]
            if quiz and (quiz["step"] >= len(lesson.steps)
                         or lesson.steps[quiz["step"]].quiz is None):
                quiz = None  # the lesson file changed since
            room = Classroom(code, row["key_hash"], lesson, ws, self.store,
                             position=position, quiz=quiz, _saved=commands(session))
            ws.classroom = room
            self._open[code] = room
            return room

    def of(self, sid: str) -> Classroom | None:
        return self._by_sid.get(sid)

    def enter(self, sid: str, room: Classroom, member: Member) -> None:
        with self._lock:
            self._by_sid[sid] = room
            room.members[sid] = member

    def leave(self, sid: str) -> Classroom | None:
        with self._lock:
            room = self._by_sid.pop(sid, None)
            if room is not None:
                room.members.pop(sid, None)
            return room


class NoSuchLesson(Exception):
    pass


class ClassroomsFull(Exception):
    pass

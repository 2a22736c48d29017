"""The classrooms of a server: opened from a lesson, held in memory while in use,
rebuilt from SQLite when someone comes back after a restart or an idle spell, ended
by their instructor or when unused for too long."""

from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from app.engine import Build, Engines
from app.lessons import Lesson, LessonError, load
from app.session import SessionError
from app.web.classroom import Classroom, Member, hash_key, key_matches, new_code
from app.web.persist import Saver
from app.web.scheduler import Lane, Scheduler
from app.web.workspaces import Kind, Workspaces

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")

# why a classroom nobody used ended (the page says "This classroom has ended: …")
ENDED_UNUSED = "nobody had used it for too long"


@dataclass(frozen=True)
class Lifecycle:
    """How many classrooms there may be, and how long they live (operations.md)."""

    in_memory: int = 16          # held at once (each holds a session)
    per_address: int = 8         # open (not ended) classrooms opened from one address
    open_total: int = 500        # open classrooms on the server, in memory or not
    idle_seconds: float = 20 * 60      # no member: dropped from memory (rebuilt later)
    expire_seconds: float = 7 * 86400  # nobody for this long: the classroom ends


class NoSuchLesson(Exception):
    pass


class ClassroomsFull(Exception):
    pass


class Classrooms:
    def __init__(self, store, saver: Saver, workspaces: Workspaces, scheduler: Scheduler,
                 engines: Engines, lessons_dir: str, life: Lifecycle | None = None) -> None:
        self.store, self.saver, self.workspaces = store, saver, workspaces
        self.scheduler, self.engines = scheduler, engines
        self.lessons_dir = Path(lessons_dir)
        self.life = life or Lifecycle()
        self._open: dict[str, Classroom] = {}
        self._building: dict[str, Future] = {}
        self._by_sid: dict[str, Classroom] = {}
        self._lock = threading.Lock()

    # -- lessons
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
        if not SLUG.match(slug) or not path.is_file():
            raise NoSuchLesson(f"there is no lesson '{slug[:64]}'")
        return load(path)

    # -- opening and finding
    def open(self, slug: str, address: str = "") -> tuple[Classroom, str]:
        lesson = self.lesson(slug)
        life = self.life
        live = self.store.live_classrooms()
        if len(live) >= life.open_total:
            raise ClassroomsFull(f"{life.open_total} classrooms are open on this server; "
                                 "end one (the lessons page lists yours) or wait until "
                                 "unused ones expire")
        if address and len(self.store.live_classrooms(address)) >= life.per_address:
            raise ClassroomsFull(f"{life.per_address} classrooms are open from your address "
                                 "already; end one first (the lessons page lists the ones "
                                 "this browser opened)")
        self._make_room()
        try:
            session = self.scheduler.call(f"new:{address}", lambda: self.engines.start(
                Build.LESSON, lesson), Lane.HEAVY, timeout=120)
        except SessionError as e:
            raise NoSuchLesson(e.message) from None
        ws = self.workspaces.add(session, address, pinned=True)
        key = secrets.token_urlsafe(24)
        with self._lock:
            code = self._fresh_code()
            room = Classroom(code, hash_key(key), lesson, ws, self.store)
            ws.classroom = room
            self._open[code] = room
        self.store.add_classroom(code, room.key_hash, slug, address)
        self.scheduler.call(ws.id, lambda: self.saver.save(code, Kind.CLASSROOM, session),
                            Lane.INTERACTIVE, timeout=60)
        return room, key

    def _fresh_code(self) -> str:
        while True:
            code = new_code()
            if code not in self._open and self.store.classroom(code) is None:
                return code

    def _make_room(self) -> None:
        """Drop the least recently used classroom nobody is in, if memory is full."""
        with self._lock:
            if len(self._open) < self.life.in_memory:
                return
            idle = sorted((r for r in self._open.values() if not r.members),
                          key=lambda r: r.touched)
            if not idle:
                raise ClassroomsFull(f"{self.life.in_memory} classrooms are in use on this "
                                     "server right now; try again when a class ends")
            self._unload(idle[0])

    def _unload(self, room: Classroom) -> None:
        self._open.pop(room.code, None)
        self.workspaces.drop(room.workspace)

    def get(self, code: str) -> Classroom | None:
        """An open classroom, rebuilt from SQLite if it is not in memory (None if there
        is no such classroom or it has ended)."""
        code = code.strip().upper()
        if len(code) != 6 or any(c not in "ABCDEFGHJKMNPQRSTUVWXYZ23456789" for c in code):
            return None
        with self._lock:
            room = self._open.get(code)
            if room is not None and not room.workspace.session.alive:
                self._unload(room)  # its engine died: rebuilt from what was saved
                room = None
            if room is not None:
                return room
            pending = self._building.get(code)
            mine = pending is None
            if mine:
                pending = self._building[code] = Future()
        if not mine:
            return self.scheduler.wait(pending, 120)
        try:
            room = self.scheduler.call(f"build:{code}", lambda: self._rebuild(code),
                                       Lane.HEAVY, timeout=120)
            pending.set_result(room)
            return room
        except BaseException as e:
            pending.set_exception(e)
            raise
        finally:
            with self._lock:
                self._building.pop(code, None)

    def _rebuild(self, code: str) -> Classroom | None:
        row = self.store.classroom(code)
        if row is None or row["ended"]:
            return None
        lesson = self.lesson(row["lesson"])
        self._make_room()
        try:
            rebuilt = self.saver.rebuild(code)
        except SessionError as e:
            raise NoSuchLesson(f"classroom {code} cannot be rebuilt: {e.message}") from None
        session = rebuilt[1] if rebuilt else self.engines.start(Build.LESSON, lesson)
        ws = self.workspaces.add(session, pinned=True)
        position = max(-1, min(row["position"], len(lesson.steps) - 1))
        quiz = row["quiz"]
        if quiz and (quiz["step"] >= len(lesson.steps)
                     or lesson.steps[quiz["step"]].quiz is None):
            quiz = None  # the lesson file changed since
        room = Classroom(code, row["key_hash"], lesson, ws, self.store, position=position,
                         quiz=quiz)
        ws.classroom = room
        with self._lock:
            self._open[code] = room
        return room

    # -- members
    def of(self, sid: str) -> Classroom | None:
        return self._by_sid.get(sid)

    def enter(self, sid: str, room: Classroom, member: Member) -> None:
        with self._lock:
            self._by_sid[sid] = room
        with room.lock:
            room.members[sid] = member
            room.touched = time.monotonic()

    def leave(self, sid: str) -> Classroom | None:
        with self._lock:
            room = self._by_sid.pop(sid, None)
        if room is not None:
            with room.lock:
                room.members.pop(sid, None)
                room.touched = time.monotonic()
        return room

    def in_memory(self) -> list[Classroom]:
        with self._lock:
            return list(self._open.values())

    def owned(self, keys: dict[str, str]) -> list[dict]:
        """Of the classrooms whose keys are given (code -> key, as a browser that
        opened them keeps them), those still open: code, key, lesson title, members."""
        out = []
        for code, key in keys.items():
            row = self.store.classroom(code)
            if row is None or row["ended"] or not key_matches(key, row["key_hash"]):
                continue
            try:
                title = self.lesson(row["lesson"]).title
            except NoSuchLesson:
                title = row["lesson"]
            room = self._open.get(code)
            out.append({"code": code, "key": key, "title": title,
                        "members": len(room.members) if room else 0})
        return out

    def in_memory_room(self, code: str) -> Classroom | None:
        return self._open.get(code)

    def end_closed(self, code: str, why: str) -> None:
        """End a classroom that is not in memory (nobody to tell)."""
        self.store.end_classroom(code, why)
        self.saver.forget(code)

    # -- the end
    def end(self, room: Classroom, why: str) -> list[str]:
        """End a classroom for good; the tabs that were in it."""
        with room.lock:
            room.ended = why
            sids = list(room.members)
            room.members.clear()
        with self._lock:
            for sid in sids:
                self._by_sid.pop(sid, None)
            self._unload(room)
        self.store.end_classroom(room.code, why)
        self.saver.forget(room.code)
        return sids

    def sweep(self) -> list[Classroom]:
        """Drop from memory the classrooms nobody has been in for a while, and end
        those unused for longer that are not in memory; the ones in memory to end."""
        now = time.monotonic()
        with self._lock:
            for room in [r for r in self._open.values() if not r.members and
                         now - r.touched > self.life.idle_seconds]:
                self._unload(room)
        ended = []
        for code in self.store.idle_classrooms(time.time() - self.life.expire_seconds):
            room = self._open.get(code)
            if room is not None and room.members:
                continue
            if room is None:
                self.store.end_classroom(code, ENDED_UNUSED)
                self.saver.forget(code)
            else:
                ended.append(room)  # the caller tells its members, then ends it
        return ended

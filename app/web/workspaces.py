"""Workspaces: one session each, shared by the browser tabs in its room.

A workspace outlives a dropped connection so that a reconnecting tab gets its state
back; idle ones are dropped oldest first when the server holds too many (each owns an
emulated machine).
"""

from __future__ import annotations

import secrets
import threading
import time

from app.session import DEFAULT_EXAMPLE, Session, example_source, snapshot

MAX_WORKSPACES = 64
IDLE_SECONDS = 30 * 60


class Busy(Exception):
    pass


class Workspace:
    def __init__(self, session: Session) -> None:
        self.id = secrets.token_urlsafe(12)
        self.session = session
        self.lock = threading.RLock()
        self.breakpoints: set[int] = set()
        self.watchpoints: list[tuple[int, int]] = []
        self.running = False
        self.stop = threading.Event()
        self.clients: set[str] = set()
        self.touched = time.monotonic()
        self.error: dict | None = None
        self.pinned = False              # a classroom's workspace is never evicted
        self.classroom = None            # the Classroom that owns it, if any

    @property
    def room(self) -> str:
        return f"ws:{self.id}"

    def replace(self, session: Session) -> None:
        self.session = session
        self.breakpoints.clear()
        self.watchpoints.clear()

    def snapshot(self) -> dict:
        extra = {"breakpoints": sorted(self.breakpoints),
                 "watchpoints": [{"va": va, "size": n} for va, n in self.watchpoints],
                 "running": self.running}
        if self.error:
            extra["error"] = self.error
        return snapshot(self.session, extra)


class Workspaces:
    def __init__(self, limit: int = MAX_WORKSPACES) -> None:
        self.limit = limit
        self._all: dict[str, Workspace] = {}
        self._by_sid: dict[str, Workspace] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._all)

    def of(self, sid: str) -> Workspace | None:
        ws = self._by_sid.get(sid)
        if ws is not None:
            ws.touched = time.monotonic()
        return ws

    def get(self, wid: str) -> Workspace | None:
        return self._all.get(wid)

    def attach(self, sid: str, wid: str | None) -> Workspace:
        """The workspace `wid` if it still exists, else a new one with the default example."""
        with self._lock:
            ws = self._all.get(wid) if wid else None
        if ws is None or ws.classroom is not None:  # a classroom is entered by its code
            ws = self._create()
        self.attach_to(sid, ws)
        return ws

    def adopt(self, session: Session, pinned: bool = False) -> Workspace:
        """A new workspace around an existing session (a classroom's, a fork)."""
        ws = Workspace(session)
        ws.pinned = pinned
        with self._lock:
            self._evict_locked()
            if not pinned and len(self._all) >= self.limit:
                raise Busy(f"the server already holds {self.limit} sessions in use")
            self._all[ws.id] = ws
        return ws

    def attach_to(self, sid: str, ws: Workspace) -> None:
        with self._lock:
            self._detach_locked(sid)
            ws.clients.add(sid)
            self._by_sid[sid] = ws
            ws.touched = time.monotonic()

    def detach(self, sid: str) -> None:
        with self._lock:
            self._detach_locked(sid)

    def _detach_locked(self, sid: str) -> None:
        old = self._by_sid.pop(sid, None)
        if old is not None:
            old.clients.discard(sid)
            if not old.clients:
                old.stop.set()  # a run nobody watches pauses (the workspace stays a while)

    def _create(self) -> Workspace:
        session = Session(example_source(DEFAULT_EXAMPLE), compare=True)
        with self._lock:
            self._evict_locked()
            if len(self._all) >= self.limit:
                raise Busy(f"the server already holds {self.limit} sessions in use; "
                           "try again when one is closed")
            ws = Workspace(session)
            self._all[ws.id] = ws
        return ws

    def _evict_locked(self) -> None:
        now = time.monotonic()
        idle = sorted((w for w in self._all.values()
                       if not w.clients and not w.running and not w.pinned),
                      key=lambda w: w.touched)
        for w in idle:
            if len(self._all) < self.limit and now - w.touched < IDLE_SECONDS:
                break
            del self._all[w.id]

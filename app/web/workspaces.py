"""Workspaces: one session each, shared by the browser tabs in its room.

A workspace outlives a dropped connection so that a reconnecting tab gets its state
back; idle ones are dropped oldest first when the server needs room. Room is counted
in memory (each session says what it holds), in workspaces, and per address, so that
a few scripts cannot take what a class needs.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from app.engine import EngineSession

IDLE_SECONDS = 30 * 60
_EXTRA = ("breakpoints", "watchpoints", "running", "error")  # what snapshot_extra may add


class Busy(Exception):
    pass


class Kind(StrEnum):
    """What a workspace is, which says how it is saved (the store keeps the value)."""

    SOLO = "solo"            # a tab's own session (a share's copy too)
    FORK = "fork"            # a student's copy of a classroom's session
    CLASSROOM = "classroom"  # a classroom's shared session
    EMBED = "embed"          # a read-only view of a shared session


@dataclass(frozen=True)
class Room:
    """What the server may hold (docs/operations.md)."""

    workspaces: int = 256
    memory: int = 6 << 30          # bytes of sessions, about (Session.footprint)
    per_address: int = 200         # workspaces in use made from one address (a class
    #                                behind one NAT is one address)
    idle_seconds: float = IDLE_SECONDS


class Workspace:
    def __init__(self, session: EngineSession, address: str = "", kind: Kind = Kind.SOLO,
                 wid: str | None = None) -> None:
        self.id = wid or secrets.token_urlsafe(12)
        self.session = session
        self.address = address           # who created it (for the per-address limit)
        self.kind = Kind(kind)           # how it is saved
        self.breakpoints: set[int] = set()
        self.watchpoints: list[tuple[int, int]] = []
        self.run = None                  # the run going on (web.runs), if any
        self.clients: set[str] = set()
        self.touched = time.monotonic()
        self.error: dict | None = None
        self.pinned = False              # a classroom's workspace is never evicted
        self.classroom = None            # the Classroom that owns it, if any
        self._snapshot: tuple | None = None
        self._program: dict | None = None
        self.program_sent: str | None = None  # the program the room was last sent

    @property
    def room(self) -> str:
        return f"ws:{self.id}"

    @property
    def running(self) -> bool:
        return self.run is not None

    def forget_points(self) -> None:
        """A new program: the old one's breakpoints and watchpoints mean nothing."""
        self.breakpoints.clear()
        self.watchpoints.clear()

    def snapshot(self) -> dict:
        """The whole state; built once per state, however many tabs ask for it (never
        change the dict returned: copy it)."""
        key = self._snapshot_key()
        running = self.running
        if self._snapshot is not None and self._snapshot[0] == key:
            if self._snapshot[1]["running"] != running:
                # a run that starts or ends changed nothing else the snapshot shows: no
                # round trip to the engine for it
                self._snapshot = (key, {**self._snapshot[1], "running": running})
            return self._snapshot[1]
        self._snapshot = (key, self.session.snapshot(self.snapshot_extra(running)))
        return self._snapshot[1]

    def snapshot_extra(self, running: bool) -> dict:
        """What the workspace adds to the session's snapshot."""
        extra = {"breakpoints": sorted(self.breakpoints),
                 "watchpoints": [{"va": va, "size": n} for va, n in self.watchpoints],
                 "running": running}
        if self.error:
            extra["error"] = self.error
        return extra

    def adopt_snapshot(self, snap: dict) -> None:
        """`snap`, made by the engine with `snapshot_extra` in the answer that changed
        the state (a run's last turn), is the state now: no call to make it again."""
        self._snapshot = (self._snapshot_key(), snap)

    def start_from(self, program: dict, snap: dict) -> None:
        """A copy's first state is the one it was copied from: its program and that
        snapshot, with this workspace's own additions, are not asked of the engine
        again (a class's wave of forks would have each engine draw the same state)."""
        self._program = program
        shared = {k: v for k, v in snap.items() if k not in _EXTRA}
        self._snapshot = (self._snapshot_key(), {**shared, **self.snapshot_extra(self.running)})

    def _snapshot_key(self) -> tuple:
        return (self.session, *self.session.state_key(),
                tuple(sorted(self.breakpoints)), tuple(self.watchpoints), repr(self.error))

    def program(self) -> dict:
        """The program the snapshot names (its source, listing, labels), fetched from
        the engine once per program (never change the dict returned)."""
        pid = self.snapshot()["program"]
        if self._program is None or self._program["id"] != pid:
            self._program = self.session.program()
        return self._program


class Workspaces:
    def __init__(self, room: Room | None = None) -> None:
        self.limits = room or Room()
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

    def held(self) -> int:
        """Bytes the sessions hold, about."""
        return sum(w.session.footprint() for w in list(self._all.values()))

    def add(self, session: EngineSession, address: str = "", pinned: bool = False,
            kind: Kind = Kind.SOLO, wid: str | None = None) -> Workspace:
        """A new workspace around a session (under the id `wid` if given: one rebuilt
        after a restart), if there is room for it (Busy if not)."""
        ws = Workspace(session, address, kind, wid)
        ws.pinned = pinned
        with self._lock:
            if ws.id in self._all:
                session.close()
                return self._all[ws.id]  # rebuilt twice at once: the first one stays
            try:
                self._make_room(session.footprint(), address, pinned)
            except Busy:
                session.close()
                raise
            self._all[ws.id] = ws
        return ws

    def all(self) -> list[Workspace]:
        with self._lock:
            return list(self._all.values())

    def check_room(self, footprint: int, address: str = "") -> None:
        """Busy, with what to do, if a session of `footprint` bytes would not fit."""
        with self._lock:
            self._make_room(footprint, address, False, dry=True)

    def drop(self, ws: Workspace) -> None:
        with self._lock:
            self._all.pop(ws.id, None)
            for sid in list(ws.clients):
                self._by_sid.pop(sid, None)
            ws.clients.clear()
        ws.session.close()

    def attach_to(self, sid: str, ws: Workspace) -> None:
        with self._lock:
            self._detach_locked(sid)
            ws.clients.add(sid)
            self._by_sid[sid] = ws
            ws.touched = time.monotonic()

    def detach(self, sid: str) -> Workspace | None:
        """The tab leaves its workspace; the workspace if nobody watches it any more."""
        with self._lock:
            return self._detach_locked(sid)

    def _detach_locked(self, sid: str) -> Workspace | None:
        old = self._by_sid.pop(sid, None)
        if old is not None:
            old.clients.discard(sid)
            if not old.clients:
                return old
        return None

    def _make_room(self, footprint: int, address: str, pinned: bool,
                   dry: bool = False) -> None:
        lim = self.limits
        # counted while in use: a tab closed leaves an idle session, which goes first
        # when room is needed, and must not keep the rest of its class out
        if not pinned and address and sum(
                1 for w in self._all.values()
                if w.address == address and (w.clients or w.running)) >= lim.per_address:
            raise Busy(f"your address already has {lim.per_address} sessions open on "
                       "this server (the limit per address); close some tabs")
        now = time.monotonic()
        idle = sorted((w for w in self._all.values()
                       if not w.clients and not w.running and not w.pinned),
                      key=lambda w: w.touched)
        held = sum(w.session.footprint() for w in self._all.values())
        count = len(self._all)
        for w in idle:  # the long idle go anyway; the others only to make room
            fits = count < lim.workspaces and held + footprint <= lim.memory
            if fits and now - w.touched < lim.idle_seconds:
                break
            if not dry:
                del self._all[w.id]
                w.session.close()
            count, held = count - 1, held - w.session.footprint()
        if not pinned and (count >= lim.workspaces or held + footprint > lim.memory):
            raise Busy(f"the server is full ({count} sessions, {held / (1 << 20):.0f} MiB "
                       "held); try again when some are closed")

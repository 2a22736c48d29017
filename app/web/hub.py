"""What the server's parts share: the Socket.IO server, the workspaces and classrooms,
the scheduler, the store; and the moves that touch several of them (a tab attached to
a workspace, a workspace created, found again after a restart, or saved)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from flask_socketio import SocketIO

from app.engine import Engines
from app.web.bridge import Bridge
from app.web.classrooms import Classrooms
from app.web.limits import Rates
from app.web.persist import Saver
from app.web.push import Pusher
from app.web.scheduler import Lane, Scheduler
from app.web.store import Store
from app.web.workspaces import Kind, Workspace, Workspaces

log = logging.getLogger("kmemvisor.web")


@dataclass
class Hub:
    socketio: SocketIO
    workspaces: Workspaces
    classrooms: Classrooms
    scheduler: Scheduler
    store: Store
    saver: Saver
    config: dict
    bridge: Bridge
    engines: Engines
    publish: Pusher = None
    runs: object = None
    command_rates: Rates = field(default_factory=lambda: Rates(40.0, 80.0))  # per tab
    join_failures: Rates = field(default_factory=lambda: Rates(10 / 60.0, 10.0))
    _states: dict = field(default_factory=dict)  # workspace id -> (seq, saved state)

    def address_of(self, sid: str) -> str:
        environ = self.socketio.server.get_environ(sid) or {}
        return environ.get("REMOTE_ADDR", "")

    # -- tabs and workspaces
    def attach(self, sid: str, ws: Workspace) -> None:
        """Move the tab to `ws`: it leaves its old room, joins the new one and gets the
        whole state (its program, then the snapshot)."""
        old = self.workspaces.of(sid)
        if old is not None and old is not ws:
            self.socketio.server.leave_room(sid, old.room, namespace="/")
        left = self.workspaces.detach(sid)
        if left is not None and left is not ws:
            self.left(left)
        self.workspaces.attach_to(sid, ws)
        self.socketio.server.enter_room(sid, ws.room, namespace="/")
        program, snap = self.scheduler.call(ws.id, lambda: self._joined(ws),
                                            Lane.INTERACTIVE, timeout=60)
        self.socketio.emit("program", program, to=sid)
        self.socketio.emit("snapshot", snap, to=sid)

    @staticmethod
    def _joined(ws: Workspace) -> tuple[dict, dict]:
        """What a tab that joins gets (in a job of the workspace). Every tab of the
        room has this program now: each got it as it joined, and the room is sent
        every new one (Pusher.snapshot)."""
        program = ws.program()
        ws.program_sent = program["id"]
        return program, ws.snapshot()

    def detach(self, sid: str) -> None:
        ws = self.workspaces.of(sid)
        if ws is not None:
            self.socketio.server.leave_room(sid, ws.room, namespace="/")
        left = self.workspaces.detach(sid)
        if left is not None:
            self.left(left)

    def left(self, ws: Workspace) -> None:
        """Nobody watches `ws` any more: its run pauses, a load it does stops."""
        self.runs.pause(ws)
        ws.session.cancel()

    def new_workspace(self, make, address: str, kind: Kind = Kind.SOLO) -> Workspace:
        """A workspace around the session `make()` builds (on the engine's heavy line,
        not the connection thread: see engines.Engines.start), saved from the start."""
        self.workspaces.check_room(0, address)
        session = self.scheduler.call(f"new:{address}", make, Lane.HEAVY, timeout=60)
        ws = self.workspaces.add(session, address, kind=kind)
        self.scheduler.call(ws.id, lambda: self.saved(ws), Lane.INTERACTIVE, timeout=60)
        return ws

    def replace_session(self, ws: Workspace, how: str, *args) -> None:
        """The workspace's session becomes the one `how` and `args` build (a load, an
        upload: engines.Build), if there is room for it; every tab gets the whole
        state (in a job of the workspace)."""
        footprint = ws.session.prepare(how, *args)
        try:
            self.workspaces.check_room(footprint - ws.session.footprint(), "")
        except BaseException:
            ws.session.discard()
            raise
        ws.session.commit()
        ws.forget_points()
        ws.error = None
        self.publish(ws, [], snapshot=True)

    def find_workspace(self, wid: str, address: str) -> Workspace | None:
        """The workspace `wid` if it is in memory, else rebuilt from the store."""
        ws = self.workspaces.get(wid)
        if ws is not None and not ws.session.alive:
            self.workspaces.drop(ws)  # its engine died: rebuilt from what was saved
            ws = None
        if ws is not None:
            return None if ws.classroom is not None else ws
        rebuilt = self.scheduler.call(f"build:{wid}", lambda: self.saver.rebuild(wid),
                                      Lane.HEAVY, timeout=120)
        if rebuilt is None:
            return None
        kind, session = rebuilt
        if kind == Kind.CLASSROOM:
            session.close()
            return None  # a classroom is entered by its code
        return self.workspaces.add(session, address, kind=kind, wid=wid)

    # -- saving
    def saved(self, ws: Workspace) -> None:
        """Write the workspace through to the store (in one of its jobs)."""
        if ws.classroom is not None:
            ws.classroom.save()
            self.saver.save(ws.classroom.code, Kind.CLASSROOM, ws.session)
        else:
            self.saver.save(ws.id, ws.kind, ws.session)

    def saved_state(self, ws: Workspace):
        """The session's whole state now (in one of its jobs), shared by every fork
        taken at the same moment."""
        key = (id(ws.session), *ws.session.state_key())
        cached = self._states.get(ws.id)
        if cached is None or cached[0] != key:
            cached = self._states[ws.id] = (key, ws.session.saved())
        return cached[1]

    def rewrite_everything(self) -> None:
        """After the database failed or was lost: every session it should hold is
        written again whole, each in a job of its own workspace."""
        for ws in self.workspaces.all():
            key = ws.classroom.code if ws.classroom is not None else ws.id
            self.saver.forget_written(key)
            self.scheduler.submit(ws.id, lambda ws=ws: self.saved(ws), Lane.INTERACTIVE,
                                  continuation=True)


__all__ = ["Hub"]

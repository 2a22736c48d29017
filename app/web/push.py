"""What the server pushes to a workspace's tabs: a command's step events (one list per
command, one event per VM), a snapshot when the events cannot carry everything, and
before it the program it names when that is new to them (see docs/web.md)."""

from __future__ import annotations

from flask_socketio import SocketIO

from app.contracts import EventKind, NoteKind
from app.web.bridge import Bridge
from app.web.workspaces import Workspace

# notes whose effects (memory the hypervisor rewrote) a step event does not carry
# (and the end of a VM: its exit code and report are in the snapshot)
_REDRAW = {NoteKind.INJECT, NoteKind.CE, NoteKind.MCE, NoteKind.RECOVERED, NoteKind.KILLED,
           NoteKind.VOTE, NoteKind.SCRUB, NoteKind.EXIT, NoteKind.FAULT}
# events that are about the session, not one VM
_WHOLE = (EventKind.BACK, EventKind.RESET, EventKind.BRANCH)


def needs_snapshot(events: list[dict]) -> bool:
    return any(e.get("frames") or any(n["kind"] in _REDRAW for n in e.get("notes", ()))
               or e["kind"] in (EventKind.BACK, EventKind.RESET) for e in events)


class Pusher:
    """Called inside a job of the workspace (it reads the session there); the sending
    is handed to the connections' thread."""

    def __init__(self, socketio: SocketIO, bridge: Bridge) -> None:
        self.socketio, self.bridge = socketio, bridge

    def __call__(self, ws: Workspace, events: list[dict], snapshot: bool | None = None,
                 history: dict | None = None) -> None:
        history = history or ws.session.history_view()
        for e in events:
            if e["kind"] not in _WHOLE:
                e["history"] = history
        if events:  # one message per command: a classroom's fan-out halves with two VMs
            self.raw(ws, "events", events)
        if snapshot or (snapshot is None and needs_snapshot(events)):
            self.snapshot(ws)

    def snapshot(self, ws: Workspace, extra: dict | None = None) -> None:
        """The whole state to every tab, after the program it names if the room has
        not been sent that one yet (a tab that joins gets it as it joins: Hub.attach)."""
        snap = ws.snapshot()
        if ws.program_sent != snap["program"]:
            self.raw(ws, "program", ws.program())
            ws.program_sent = snap["program"]
        self.raw(ws, "snapshot", {**snap, **extra} if extra else snap)

    def raw(self, ws: Workspace, event: str, data) -> None:
        room = ws.room
        self.bridge.soon(lambda: self.socketio.emit(event, data, to=room))

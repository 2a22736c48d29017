"""From a Socket.IO event to an acknowledged command.

Every command is checked against its schema (app/contracts/commands.json), held to the
tab's rate, refused with a message when it may not run now, and otherwise run as a job
on its workspace's line of the scheduler (the connection thread only waits for the
answer). The answer is `{"ok": true, ...}` or `{"ok": false, "error": {"message",
"line"}}`; a bug answers too, and never reaches another session.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import TimeoutError as Timeout
from functools import wraps

from flask import request

from app.session import SessionError
from app.web.areas import Where, handlers
from app.web.classrooms import ClassroomsFull, NoSuchLesson
from app.web.protocol import ProtocolError, Refused, check
from app.web.scheduler import Lane, Overloaded
from app.web.shares import VIEWING
from app.web.store import StoreError
from app.web.workspaces import Busy, Kind

log = logging.getLogger("kmemvisor.web")
ANSWER_WITHIN = 60.0  # seconds a tab waits for its command's job
# what a student may ask of the shared classroom session
READ_ONLY = frozenset({"frame", "program", "share", "export"})
_REFUSALS = (ProtocolError, Refused, Busy, Overloaded, NoSuchLesson, ClassroomsFull,
             StoreError)


def error(message: str, line: int | None = None) -> dict:
    return {"ok": False, "error": {"message": message, "line": line}}


def answer(name: str, run: Callable[[], dict | None]) -> dict:
    """The acknowledgement of running `run` for command `name`."""
    try:
        return {"ok": True, **(run() or {})}
    except _REFUSALS as e:
        return error(str(e))
    except SessionError as e:
        return {"ok": False, "error": e.to_json()}
    except Timeout:
        return error(f"no answer to '{name}' within {ANSWER_WITHIN:.0f} s: the server is "
                     "very busy; try again")
    except Exception as e:  # a bug must not take other sessions down
        log.exception("command %s failed", name)
        return error(f"internal error in '{name}': {type(e).__name__}")


class Dispatch:
    def __init__(self, hub) -> None:
        self.hub = hub
        self.names: set[str] = set()  # the commands answered so far

    def add(self, area: object) -> None:
        """Registers every marked handler of a command area (see app/web/areas.py)."""
        for command, fn in handlers(area):
            if command.where is Where.SESSION:
                self.session(command.name, command.lane, command.while_running)(fn)
            else:
                self.connection(command.name)(fn)

    def _claim(self, name: str) -> None:
        if name in self.names:
            raise ValueError(f"two handlers for the command '{name}'")
        self.names.add(name)

    def limit(self, sid: str) -> None:
        wait = self.hub.command_rates.take(sid)
        if wait:
            raise Refused(f"too many commands from this tab: wait {wait:.1f} s")

    def connection(self, name: str):
        """A command about the connection itself (hello, the classroom's own): the
        handler gets (sid, data) on the connection thread and schedules what it needs."""
        self._claim(name)

        def wrap(fn):
            @wraps(fn)
            def handler(payload=None, *_extra):
                sid = request.sid

                def run():
                    self.limit(sid)
                    return fn(sid, check(name, payload))
                return answer(name, run)
            self.hub.socketio.on_event(name, handler)
            return fn
        return wrap

    def session(self, name: str, lane: Lane = Lane.INTERACTIVE, while_running: bool = False):
        """A command on the tab's workspace: the handler gets (ws, data, sid) inside a
        job of that workspace (while_running: on the connection thread, for `pause`)."""
        hub = self.hub
        self._claim(name)

        def wrap(fn):
            @wraps(fn)
            def handler(payload=None, *_extra):
                sid = request.sid

                def run():
                    self.limit(sid)
                    data = check(name, payload)
                    ws = hub.workspaces.of(sid)
                    if ws is None:
                        raise Refused("this tab has no session yet: reload the page")
                    self.guard(ws, name, sid)
                    if while_running:
                        return fn(ws, data, sid)
                    if ws.running:
                        raise Refused("the VMs are running: pause first")
                    return hub.scheduler.call(ws.id, lambda: self._job(ws, name, fn, data, sid),
                                              lane, timeout=ANSWER_WITHIN)
                return answer(name, run)
            hub.socketio.on_event(name, handler)
            return fn
        return wrap

    def _job(self, ws, name: str, fn, data: dict, sid: str) -> dict | None:
        if ws.running:  # a run started while this one waited
            raise Refused("the VMs are running: pause first")
        result = fn(ws, data, sid)
        if name not in READ_ONLY:
            self.hub.saved(ws)
        return result

    def guard(self, ws, name: str, sid: str) -> None:
        """In a classroom only the instructor changes the shared session; a read-only
        view (an embed) only moves along its history."""
        if ws.kind == Kind.EMBED and name not in VIEWING:
            raise Refused(f"'{name}' was not done: this is a read-only view of a shared "
                          "session (open it in kMemvisor Lab to change it)")
        room = ws.classroom
        if room is None or name in READ_ONLY or room.is_instructor(sid):
            return
        member = room.member(sid)
        who = member.name if member else "a visitor"
        self.hub.store.refused(room.code, member.student if member else None, name,
                               "not the instructor")
        log.warning("classroom %s: refused '%s' from %s", room.code, name, who)
        raise Refused(f"'{name}' was not done: in a classroom only the instructor can "
                      f"{_DOING.get(name, 'change')} the shared session (Fork to experiment "
                      "on your own copy)")


_DOING = {"load": "load a program into", "example": "load an example into",
          "step": "step", "back": "step back", "forward": "step forward in",
          "seek": "move along the history of", "reset": "reset", "run": "run",
          "pause": "pause", "breakpoint": "set breakpoints in",
          "watchpoint": "set watchpoints in", "inject": "inject errors into",
          "import": "load a session file into"}

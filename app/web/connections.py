"""A tab's connection: `hello` (a solo workspace, found again after a reconnect or a
restart, or a classroom), leaving, and the answers to frames that are no command."""

from __future__ import annotations

from flask import request

from app.abi import DEFAULT_OFFSET
from app.engine import Build
from app.session import DEFAULT_EXAMPLE, example_source
from app.web import class_sockets, shares
from app.web.areas import on_connection
from app.web.dispatch import answer
from app.web.gate import GREETED, MADE
from app.web.protocol import Refused
from app.web.wire import MALFORMED
from app.web.workspaces import Kind


class ConnectionCommands:
    """`hello`: the tab's workspace (found again after a reconnect or a restart, a new
    one, a share's copy) or its classroom."""

    def __init__(self, hub) -> None:
        self.hub = hub

    @on_connection("hello")
    def hello(self, sid, data):
        hub = self.hub
        address = hub.address_of(sid)
        if "classroom" in data:
            result = class_sockets.join(hub, sid, address, data)
        elif "share" in data:  # a share's tab that reconnects finds its copy again
            wid = data.get("workspace")
            what = f"share:{data['share']}:{bool(data.get('embed'))}"
            ws = (hub.find_workspace(wid, address) if wid else None) or self._made(what) or \
                self._new(what, shares.open_shared, hub, address, data["share"],
                          data.get("embed", False))
            result = self._enter(sid, ws, "viewer" if ws.kind == Kind.EMBED else "solo")
        else:
            result = self._solo(sid, address, data.get("workspace"))
        request.environ[GREETED] = True
        problem = hub.store.status()["problem"]
        if problem:  # said to every tab that comes, not only in the health check
            said = f"this server cannot save sessions now ({problem[:200]}): your work " \
                   "lives while the server runs, and a restart would lose what is new"
            result["note"] = f"{result['note']}; {said}" if result.get("note") else said
        return result

    def _solo(self, sid: str, address: str, wid: str | None) -> dict:
        hub = self.hub
        found = hub.find_workspace(wid, address) if wid else None
        note = None
        if wid and found is None:
            note = ("your earlier session could not be found on this server (it expired "
                    "or was closed); here is a new one")
        def make():
            return hub.engines.start(Build.PROGRAM, example_source(DEFAULT_EXAMPLE), "on",
                                     DEFAULT_OFFSET, True, hub.config["LOAD_SECONDS"])
        ws = found or self._made("solo") or self._new("solo", hub.new_workspace, make, address)
        out = self._enter(sid, ws, "solo")
        if note:
            out["note"] = note
        return out

    def _made(self, what: str):
        """The session this connection made before for the same `what` (its own, or a
        share's copy), if it is still held: a hello said again gets it back (a script
        saying hello over and over on one socket would otherwise fill its address's
        share of the server)."""
        made = request.environ.get(MADE)
        return self.hub.workspaces.get(made[1]) if made and made[0] == what else None

    @staticmethod
    def _new(what: str, make, *args):
        ws = make(*args)
        request.environ[MADE] = (what, ws.id)
        return ws

    def _enter(self, sid: str, ws, role: str) -> dict:
        """The tab leaves any classroom and joins `ws` (it gets the whole state)."""
        class_sockets.leave(self.hub, sid)
        self.hub.attach(sid, ws)
        return {"workspace": ws.id, "role": role}


def register_frames(hub, dispatch) -> None:
    """What is no command: malformed and unknown frames, and the end of a connection."""
    socketio = hub.socketio

    # frames that are no command count against the tab's rate like commands: a flood
    # of them is answered as cheaply as possible, and the same way
    @socketio.on(MALFORMED)
    def malformed(reason=None, *_extra):
        return answer(MALFORMED, lambda: refuse(f"this frame was refused: {str(reason)[:120]}"))

    @socketio.on("*")
    def unknown(event, *_args):
        return answer(str(event)[:40],
                      lambda: refuse(f"unknown command '{str(event)[:40]}'"))

    def refuse(message: str) -> None:
        dispatch.limit(request.sid)
        raise Refused(message)

    @socketio.on("disconnect")
    def bye(*_args):
        sid = request.sid
        hub.detach(sid)
        class_sockets.leave(hub, sid)
        hub.command_rates.forget(sid)

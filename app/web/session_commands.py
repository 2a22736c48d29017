"""The commands on a workspace's session: load, step, back and forward, run, inject,
breakpoints and watchpoints. Each runs in a job of the workspace (see dispatch); what
changed is pushed to every tab in the workspace's room: a command's step events
(`events`), and a `snapshot` when a client needs the whole state."""

from __future__ import annotations

from app.contracts import Granularity
from app.engine import Build
from app.session import SessionError, example_names, example_source, parse_offset
from app.web.areas import on_session
from app.web.protocol import Refused
from app.web.scheduler import Lane

MAX_WATCHPOINTS = 16


def _offset(value) -> int:
    try:
        return parse_offset(value)
    except ValueError as e:
        raise Refused(str(e)) from None


class SoloCommands:
    """The commands on a workspace's own session."""

    def __init__(self, hub) -> None:
        self.hub = hub

    def _load(self, ws, source: str, mirror: str, offset: int, compare: bool) -> None:
        # a load no tab waits for any more (all closed) stops where it is (Hub.left)
        self.hub.replace_session(ws, Build.PROGRAM, source, mirror, offset, compare,
                                 self.hub.config["LOAD_SECONDS"])

    @on_session("load", Lane.HEAVY)
    def on_load(self, ws, d, _sid):
        now = ws.session.settings()
        self._load(ws, d["source"], d.get("mirror", now.mirror),
                   _offset(d.get("offset", now.offset)),
                   d.get("compare", ws.session.comparing()))

    @on_session("example", Lane.HEAVY)
    def on_example(self, ws, d, _sid):
        if d["name"] not in example_names():
            raise Refused(f"there is no example '{d['name'][:60]}'")
        now = ws.session.settings()
        self._load(ws, example_source(d["name"]), now.mirror, now.offset,
                   ws.session.comparing())

    @on_session("step")
    def on_step(self, ws, d, _sid):
        if not ws.session.running():
            raise Refused("no VM is running: reset or load a program")
        self.hub.publish(ws, ws.session.step(d.get("granularity", Granularity.NATIVE)))

    @on_session("back", Lane.HEAVY)  # from a run's end it makes the run again
    def on_back(self, ws, _d, _sid):
        self.hub.publish(ws, ws.session.back(), snapshot=True)

    @on_session("forward", Lane.HEAVY)
    def on_forward(self, ws, _d, _sid):
        self.hub.publish(ws, ws.session.forward(), snapshot=True)

    @on_session("seek", Lane.HEAVY)
    def on_seek(self, ws, d, _sid):
        ws.session.seek(d["position"])
        self.hub.publish(ws, [], snapshot=True)

    @on_session("reset", Lane.HEAVY)
    def on_reset(self, ws, _d, _sid):
        ws.error = None
        self.hub.publish(ws, ws.session.reset(), snapshot=True)

    @on_session("breakpoint")
    def on_breakpoint(self, ws, d, _sid):
        if d["address"] not in ws.session.native_addresses():
            raise Refused(f"{d['address']:#x} is not an instruction of the program")
        (ws.breakpoints.add if d["on"] else ws.breakpoints.discard)(d["address"])
        self.hub.publish(ws, [], snapshot=True)

    @on_session("watchpoint")
    def on_watchpoint(self, ws, d, _sid):
        va = ws.session.address_of(d["target"])
        spot = (va, d.get("size", 8))
        if d["on"]:
            ws.session.check_watchable(*spot)
            if len(ws.watchpoints) >= MAX_WATCHPOINTS and spot not in ws.watchpoints:
                raise Refused(f"at most {MAX_WATCHPOINTS} watchpoints")
            if spot not in ws.watchpoints:
                ws.watchpoints.append(spot)
        else:
            ws.watchpoints = [w for w in ws.watchpoints if w[0] != va]
        self.hub.publish(ws, [], snapshot=True)
        return {"va": va}

    @on_session("inject")
    def on_inject(self, ws, d, _sid):
        events = ws.session.inject(d["kind"], d["target"], d.get("vm"), d.get("bit", 0),
                                   d.get("copy", 0))
        self.hub.publish(ws, events, snapshot=True)

    @on_session("program", while_running=True)
    def on_program(self, ws, _d, _sid):
        return ws.program()

    @on_session("frame")
    def on_frame(self, ws, d, _sid):
        try:
            return {"frame": d["frame"], "hex": ws.session.frame_hex(d["frame"])}
        except ValueError as e:
            raise Refused(str(e)) from None

    @on_session("run")
    def on_run(self, ws, d, _sid):
        if not ws.session.running():
            raise Refused("no VM is running: reset or load a program")
        try:
            self.hub.runs.start(ws, d.get("speed", "max"),
                                d.get("budget", self.hub.config["RUN_BUDGET"]))
        except SessionError as e:
            raise Refused(e.message) from None

    @on_session("pause", while_running=True)
    def on_pause(self, ws, _d, _sid):
        self.hub.runs.pause(ws)


__all__ = ["SoloCommands", "SessionError"]

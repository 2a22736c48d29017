"""Socket.IO commands. Each is checked against protocol.json, runs on its workspace's
session under the workspace lock, and answers with an acknowledgement
`{"ok": true, ...}` or `{"ok": false, "error": {"message", "line"}}`. What changed is
pushed to every tab in the workspace's room: a command's step events (`events`), and a
`snapshot` when a client needs the whole state.
"""

from __future__ import annotations

import logging
from functools import wraps

from flask import request
from flask_socketio import SocketIO, join_room, leave_room

from app.session import (
    Session,
    SessionError,
    example_names,
    example_source,
    frame_hex,
    parse_offset,
)
from app.web import class_sockets, runs
from app.web.classroom import Classrooms, ClassroomsFull, NoSuchLesson
from app.web.protocol import ProtocolError, Refused, check
from app.web.push import Pusher
from app.web.workspaces import Busy, Workspace, Workspaces

log = logging.getLogger("kmemvisor.web")
MAX_WATCHPOINTS = 16
READ_ONLY = {"frame"}  # what a student may ask of the shared classroom session


def _offset(value) -> int:
    try:
        return parse_offset(value)
    except ValueError as e:
        raise Refused(str(e)) from None


def register(socketio: SocketIO, workspaces: Workspaces, classrooms: Classrooms,
             config: dict) -> None:
    publish = Pusher(socketio)

    def guard(ws: Workspace, name: str) -> None:
        """In a classroom only the instructor changes the shared session."""
        room = ws.classroom
        if room is None or name in READ_ONLY or room.is_instructor(request.sid):
            return
        member = room.members.get(request.sid)
        who = member.name if member else "a visitor"
        room.store.refused(room.code, member.student if member else None, name,
                           "not the instructor")
        log.warning("classroom %s: refused '%s' from %s", room.code, name, who)
        raise Refused(f"'{name}' was not done: in a classroom only the instructor changes "
                      "the shared session (Fork to experiment on your own copy)")

    def command(name: str, while_running: bool = False, guarded: bool = True):
        def wrap(fn):
            @wraps(fn)
            def handler(payload=None, *_extra):
                try:
                    data = check(name, payload)
                    ws = workspaces.of(request.sid)
                    if ws is None:
                        raise Refused("this tab has no session yet: reload the page")
                    if guarded:
                        guard(ws, name)
                    if ws.running and not while_running:
                        raise Refused("the VMs are running: pause first")
                    if while_running:  # must not wait for the run's lock
                        answer = fn(ws, data) or {}
                    else:
                        with ws.lock:
                            if ws.running:  # a run started while this one waited
                                raise Refused("the VMs are running: pause first")
                            answer = fn(ws, data) or {}
                            if ws.classroom is not None and name not in READ_ONLY:
                                ws.classroom.save()
                    return {"ok": True, **answer}
                except (ProtocolError, Refused, Busy) as e:
                    return {"ok": False, "error": {"message": str(e), "line": None}}
                except SessionError as e:
                    return {"ok": False, "error": e.to_json()}
                except Exception as e:  # a bug must not take other sessions down
                    log.exception("command %s failed", name)
                    return {"ok": False, "error": {
                        "message": f"internal error in '{name}': {type(e).__name__}: {e}",
                        "line": None}}
            socketio.on_event(name, handler)
            return fn
        return wrap

    @socketio.on("hello")
    def hello(payload=None, *_extra):
        try:
            data = check("hello", payload)
            old = workspaces.of(request.sid)
            if old is not None:  # a second hello on the same connection
                leave_room(old.room)
            if "classroom" in data:
                return class_sockets.join(socketio, workspaces, classrooms, publish, data)
            class_sockets.leave(socketio, classrooms, request.sid)
            ws = workspaces.attach(request.sid, data.get("workspace"))
        except (ProtocolError, Refused, Busy, NoSuchLesson, ClassroomsFull) as e:
            return {"ok": False, "error": {"message": str(e), "line": None}}
        join_room(ws.room)
        publish.snapshot_to(ws, request.sid)
        return {"ok": True, "workspace": ws.id, "role": "solo"}

    @socketio.on("*")
    def unknown(event, *_args):
        return {"ok": False, "error": {"message": f"unknown command '{event}'", "line": None}}

    @socketio.on("disconnect")
    def bye(*_args):
        ws = workspaces.of(request.sid)
        if ws is not None:
            leave_room(ws.room)
        workspaces.detach(request.sid)
        class_sockets.leave(socketio, classrooms, request.sid)

    class_sockets.register(socketio, workspaces, classrooms, publish, command)

    def load(ws: Workspace, source: str, mirror: str, offset: int, compare: bool) -> None:
        ws.replace(Session(source, mirror, offset, compare))
        ws.error = None
        publish(ws, [], snapshot=True)

    @command("load")
    def on_load(ws: Workspace, d: dict):
        s = ws.session
        load(ws, d["source"], d.get("mirror", s.mirror),
             _offset(d.get("offset", s.offset)), d.get("compare", len(s.vms) > 1))

    @command("example")
    def on_example(ws: Workspace, d: dict):
        if d["name"] not in example_names():
            raise Refused(f"there is no example '{d['name']}'")
        s = ws.session
        load(ws, example_source(d["name"]), s.mirror, s.offset, len(s.vms) > 1)

    @command("step")
    def on_step(ws: Workspace, d: dict):
        events = ws.session.step(d.get("granularity", "native"))
        if not events:
            raise Refused("no VM is running: reset or load a program")
        publish(ws, events)

    @command("back")
    def on_back(ws: Workspace, d: dict):
        publish(ws, ws.session.back(), snapshot=True)

    @command("forward")
    def on_forward(ws: Workspace, d: dict):
        publish(ws, ws.session.forward(), snapshot=True)

    @command("seek")
    def on_seek(ws: Workspace, d: dict):
        s = ws.session
        target = min(d["position"], len(s.history) + len(s.undone))
        while len(s.history) > target:
            s.back()
        while len(s.history) < target and s.undone:
            s.forward()
        publish(ws, [], snapshot=True)

    @command("reset")
    def on_reset(ws: Workspace, d: dict):
        ws.error = None
        publish(ws, ws.session.reset(), snapshot=True)

    @command("breakpoint")
    def on_breakpoint(ws: Workspace, d: dict):
        if d["address"] not in ws.session.native_addresses():
            raise Refused(f"{d['address']:#x} is not an instruction of the program")
        (ws.breakpoints.add if d["on"] else ws.breakpoints.discard)(d["address"])
        publish(ws, [], snapshot=True)

    @command("watchpoint")
    def on_watchpoint(ws: Workspace, d: dict):
        va = ws.session.address_of(d["target"])
        spot = (va, d.get("size", 8))
        if d["on"]:
            ws.session.check_watchable(*spot)
            if len(ws.watchpoints) >= MAX_WATCHPOINTS:
                raise Refused(f"at most {MAX_WATCHPOINTS} watchpoints")
        if d["on"] and spot not in ws.watchpoints:
            ws.watchpoints.append(spot)
        elif not d["on"]:
            ws.watchpoints = [w for w in ws.watchpoints if w[0] != va]
        publish(ws, [], snapshot=True)
        return {"va": va}

    @command("inject")
    def on_inject(ws: Workspace, d: dict):
        events = ws.session.inject(d["kind"], d["target"], d.get("vm"), d.get("bit", 0),
                                   d.get("copy", 0))
        publish(ws, events, snapshot=True)

    @command("frame")
    def on_frame(ws: Workspace, d: dict):
        try:
            return {"frame": d["frame"], "hex": frame_hex(ws.session, d["frame"])}
        except ValueError as e:
            raise Refused(str(e)) from None

    @command("run")
    def on_run(ws: Workspace, d: dict):
        if all(vm.status != "running" for vm in ws.session.vms):
            raise Refused("no VM is running: reset or load a program")
        runs.start(socketio, ws, publish, d.get("speed", "max"),
                   d.get("budget", config["RUN_BUDGET"]), config["RUN_CHUNK"],
                   config["RUN_SNAPSHOT_EVERY"])

    @command("pause", while_running=True)
    def on_pause(ws: Workspace, d: dict):
        ws.stop.set()

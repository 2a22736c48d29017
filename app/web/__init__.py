"""The web layer: a Flask app factory, the page blueprints and the Socket.IO commands.

It uses only `app.session`'s public API; the browser draws everything from the step
events and snapshots documented there. The server's limits are in the config (every
key below, documented in docs/operations.md).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from flask import Flask
from flask_socketio import SocketIO

from app.engine import Engines
from app.session import DEFAULT_LOAD_SECONDS
from app.web import security, wire
from app.web.bridge import Bridge
from app.web.classrooms import ENDED_UNUSED, Classrooms, Lifecycle
from app.web.gate import Gate, HelloDeadline, Tabs
from app.web.hub import Hub
from app.web.limits import Rates, quiet
from app.web.persist import Saver
from app.web.push import Pusher
from app.web.scheduler import Lane, Scheduler
from app.web.store import Store
from app.web.workspaces import Room, Workspaces

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = {
    "RUN_CHUNK": 20_000_000, "RUN_BUDGET": 20_000_000, "RUN_SNAPSHOT_EVERY": 1.0,
    "STEP_THREADS": 16, "RUN_THREADS": os.cpu_count() or 2, "LOAD_THREADS": 2,
    "ENGINE_NICE": 19, "LOAD_SECONDS": DEFAULT_LOAD_SECONDS,
    "MAX_WORKSPACES": Room.workspaces, "MEMORY_BUDGET": Room.memory,
    "WORKSPACES_PER_ADDRESS": Room.per_address, "IDLE_SECONDS": Room.idle_seconds,
    "MAX_TABS": Tabs.tabs, "TABS_PER_ADDRESS": Tabs.per_address,
    "HELLO_SECONDS": Tabs.hello_seconds, "HEADER_SECONDS": 10.0, "CONNECTIONS_PER_ADDRESS": 400,
    "COMMANDS_PER_SECOND": 40.0,
    "CLASSROOMS_IN_MEMORY": Lifecycle.in_memory, "CLASSROOMS_PER_ADDRESS": Lifecycle.per_address,
    "CLASSROOMS_OPEN": Lifecycle.open_total, "CLASSROOM_IDLE_SECONDS": Lifecycle.idle_seconds,
    "CLASSROOM_EXPIRE_SECONDS": Lifecycle.expire_seconds, "SWEEP_SECONDS": 60.0,
    "ALLOWED_HOSTS": "localhost", "CSP": True, "EMBED_FRAME_ANCESTORS": "*",
    "SHARE_NATIVE": 100_000_000, "EXPORT_BYTES": 16 << 20, "SHARES_PER_HOUR": 60,
    "SESSION_EXPIRE_SECONDS": 30 * 86400, "SHARE_EXPIRE_SECONDS": 365 * 86400,
}


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), static_url_path="/static")
    app.config.update(DEFAULTS, VENDOR_DIR=str(ROOT / "node_modules"),
                      LESSONS_DIR=str(ROOT / "lessons"),
                      DATABASE=os.environ.get("KMEMVISOR_DATABASE",
                                              str(ROOT / "instance" / "kmemvisor.sqlite3")))
    app.config.update(config or {})
    c = app.config
    quiet("kmemvisor.web", "kmemvisor.store", "kmemvisor.http", "engineio.server",
          "socketio.server")
    bridge = Bridge()
    # each frame its own greenlet: a tab's connection goes on reading while its command
    # waits for the engine, so its closing is seen at once (a load it started stops).
    # A tab's commands still reach the scheduler in the order sent: a greenlet runs
    # until it has queued its job, and greenlets start in the order spawned.
    socketio = SocketIO(app, async_mode="gevent", max_http_buffer_size=1 << 20,
                        async_handlers=True, serializer=wire.Frame, manage_session=False,
                        transports=["websocket"], logger=False, engineio_logger=False)
    # the engine threads only wait for the engine processes (app/engine), which the
    # system shares out between the cores; long work in them yields (ENGINE_NICE)
    scheduler = Scheduler({Lane.INTERACTIVE: c["STEP_THREADS"], Lane.RUN: c["RUN_THREADS"],
                           Lane.HEAVY: c["LOAD_THREADS"]}, waiter=bridge.wait)
    engines = Engines(c["ENGINE_NICE"])
    workspaces = Workspaces(Room(c["MAX_WORKSPACES"], c["MEMORY_BUDGET"],
                                 c["WORKSPACES_PER_ADDRESS"], c["IDLE_SECONDS"]))
    store = Store(c["DATABASE"])
    saver = Saver(store, engines)
    classrooms = Classrooms(store, saver, workspaces, scheduler, engines, c["LESSONS_DIR"],
                            Lifecycle(
        c["CLASSROOMS_IN_MEMORY"], c["CLASSROOMS_PER_ADDRESS"], c["CLASSROOMS_OPEN"],
        c["CLASSROOM_IDLE_SECONDS"], c["CLASSROOM_EXPIRE_SECONDS"]))
    hub = Hub(socketio, workspaces, classrooms, scheduler, store, saver, c, bridge, engines,
              command_rates=Rates(c["COMMANDS_PER_SECOND"], 2 * c["COMMANDS_PER_SECOND"]))
    store.on_lost = hub.rewrite_everything
    _wire(app, hub)
    security.install(app)
    gate = Gate(_without_compression(app.wsgi_app),
                Tabs(c["MAX_TABS"], c["TABS_PER_ADDRESS"], c["HELLO_SECONDS"]),
                security.allowed_hosts(c["ALLOWED_HOSTS"]))
    app.wsgi_app = gate
    app.extensions["kmemvisor.hub"] = hub
    app.extensions["kmemvisor.gate"] = gate
    app.extensions["kmemvisor.deadline"] = HelloDeadline(socketio.server, c["HELLO_SECONDS"],
                                                         bridge)
    _housekeeping(hub, c["SWEEP_SECONDS"])
    return app


def _wire(app: Flask, hub: Hub) -> None:
    from app.web import classes, pages
    from app.web.class_sockets import ForkCommands, LessonCommands
    from app.web.connections import ConnectionCommands, register_frames
    from app.web.dispatch import Dispatch
    from app.web.protocol import commands
    from app.web.quiz_sockets import QuizCommands
    from app.web.runs import Runs
    from app.web.session_commands import SoloCommands
    from app.web.shares import ShareCommands
    hub.publish = Pusher(hub.socketio, hub.bridge)
    hub.runs = Runs(hub.scheduler, hub.publish, hub.config, hub.saved)
    dispatch = Dispatch(hub)
    for area in (ConnectionCommands, SoloCommands, LessonCommands, ForkCommands,
                 QuizCommands, ShareCommands):
        dispatch.add(area(hub))
    register_frames(hub, dispatch)
    unanswered = set(commands()) ^ dispatch.names
    if unanswered:  # a command of commands.json without a handler, or the reverse
        raise RuntimeError(f"commands without a handler or a schema: {sorted(unanswered)}")
    app.register_blueprint(pages.bp)
    app.register_blueprint(classes.bp)


def _housekeeping(hub: Hub, every: float) -> None:
    """Classrooms nobody uses leave memory, then end; saved sessions and links nobody
    used for long are forgotten; checked now and then."""
    from app.web.class_sockets import end_classroom

    def sweep() -> None:
        while True:
            time.sleep(every)
            try:
                for room in hub.classrooms.sweep():
                    hub.bridge.soon(end_classroom, hub, room, ENDED_UNUSED)
                now = time.time()
                hub.saver.expire(now - hub.config["SESSION_EXPIRE_SECONDS"],
                                 now - hub.config["SHARE_EXPIRE_SECONDS"],
                                 {ws.id for ws in hub.workspaces.all()})
            except Exception:  # the next sweep tries again
                import logging
                logging.getLogger("kmemvisor.web").exception("housekeeping failed")
    threading.Thread(target=sweep, daemon=True, name="housekeeping").start()


def _without_compression(wsgi_app):
    """Hide the browser's offer of per-message deflate from the WebSocket server.

    Compressing costs the server about 100 µs per client per message, which was most of
    a classroom's fan-out time (200 students: 37 ms p50 with it, 16 ms without); the
    messages are small and go over loopback or a classroom LAN."""
    def app(environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        return wsgi_app(environ, start_response)
    return app


def socketio_of(app: Flask) -> SocketIO:
    return app.extensions["socketio"]

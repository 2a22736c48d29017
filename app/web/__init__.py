"""The web layer: a Flask app factory, the page blueprint and the Socket.IO commands.

It imports only `app.session`'s public API; the browser draws everything from the
step events and snapshots documented there.
"""

from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from flask_socketio import SocketIO

from app.web.workspaces import MAX_WORKSPACES, Workspaces

ROOT = Path(__file__).resolve().parents[2]


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, template_folder=str(ROOT / "templates"),
                static_folder=str(ROOT / "static"), static_url_path="/static")
    app.config.update(VENDOR_DIR=str(ROOT / "node_modules"), MAX_WORKSPACES=MAX_WORKSPACES,
                      RUN_CHUNK=200_000, RUN_BUDGET=20_000_000,
                      RUN_SNAPSHOT_EVERY=1.0, LESSONS_DIR=str(ROOT / "lessons"),
                      DATABASE=os.environ.get("KMEMVISOR_DATABASE",
                                              str(ROOT / "instance" / "kmemvisor.sqlite3")))
    app.config.update(config or {})
    from app.web import classes, pages, sockets
    from app.web.classroom import Classrooms
    from app.web.store import Store
    workspaces = Workspaces(app.config["MAX_WORKSPACES"])
    classrooms = Classrooms(Store(app.config["DATABASE"]), workspaces,
                            app.config["LESSONS_DIR"])
    app.extensions["kmemvisor.classrooms"] = classrooms
    app.register_blueprint(pages.bp)
    app.register_blueprint(classes.bp)
    socketio = SocketIO(app, async_mode="threading", max_http_buffer_size=1 << 20,
                        async_handlers=False)
    sockets.register(socketio, workspaces, classrooms, app.config)
    app.wsgi_app = _without_compression(app.wsgi_app)
    return app


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

"""`kmemvisor serve`: the app in one process, every connection a greenlet on one
thread (gevent's WSGI server, the standard library left as it is), the engine on the
scheduler's threads. Sessions live in this process's memory."""

from __future__ import annotations

import contextlib
import logging
import signal
import socket
import sys

import gevent
from gevent.pywsgi import WSGIHandler, WSGIServer

from app.engine import Engines
from app.web import DEFAULTS, create_app
from app.web.security import host_allowed

# a thread waiting for the interpreter gets it within this long: the connections'
# thread answers while the engine threads run Python
SWITCH_INTERVAL = 0.001


def serve(host: str = "127.0.0.1", port: int = 5000, config: dict | None = None) -> int:
    config = dict(config or {})
    if not host_allowed(host, frozenset()):  # a name to serve on is a name to answer to
        config["ALLOWED_HOSTS"] = ",".join(
            [config.get("ALLOWED_HOSTS", DEFAULTS["ALLOWED_HOSTS"]), host])
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sys.setswitchinterval(SWITCH_INTERVAL)
    app = create_app(config)
    Engines.prepare()  # the engine processes' zygote warms up while the server starts
    try:
        server = WSGIServer((host, port), app, log=None, error_log=_ErrorLog(),
                            backlog=2048, handler_class=_Handler)
        server.start()
    except OSError as e:
        print(f"kmemvisor serve: cannot listen on {host}:{port}: {e.strerror}",
              file=sys.stderr)
        return 1
    print(f"kMemvisor Lab: open http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):
        gevent.signal_handler(sig, server.stop, 5)
    server.serve_forever()
    return 0


class _Handler(WSGIHandler):
    """Sends small writes at once, and closes the connection when a WebSocket session
    ends. The WebSocket works on a
    duplicate of the connection's socket; without this the handler would go on
    waiting for a next HTTP request on the original, holding the connection open
    until the client gives up on its closing handshake (a second per tab)."""

    def handle(self) -> None:
        # small frames go out at once: without this a step's events and its
        # acknowledgement, written back to back, wait for the browser's delayed ACK
        # (about 40 ms a command)
        with contextlib.suppress(OSError):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def run_application(self) -> None:
        try:
            super().run_application()
        finally:
            if self.environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                self.close_connection = True


class _ErrorLog:
    """gevent's error log into logging (rate-limited there like the rest)."""

    def __init__(self) -> None:
        self.log = logging.getLogger("kmemvisor.http")

    def write(self, text: str) -> None:
        if text.strip():
            self.log.error("%s", text.rstrip())

    def flush(self) -> None:
        pass


if __name__ == "__main__":
    sys.exit(serve())

"""`kmemvisor serve`: the app in one process, every connection a greenlet on one
thread (gevent's WSGI server, the standard library left as it is), the engine on the
scheduler's threads. Sessions live in this process's memory.

A connection costs a greenlet and a file descriptor, so the server bounds them before
the app sees a request: connections per address (an answer of 503 that says so), and
time (a request's line and headers within HEADER_SECONDS, a keep-alive connection idle
that long is closed, and a plain request's body and answer must move at least that
often): a client that opens connections and trickles bytes into them holds none for
long."""

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
from app.web.security import client_of, host_allowed

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
        server = _Server((host, port), app, log=None, error_log=_ErrorLog(),
                         backlog=2048, handler_class=_Handler)
        server.header_seconds = float(app.config["HEADER_SECONDS"])
        server.per_address = int(app.config["CONNECTIONS_PER_ADDRESS"])
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


class _Server(WSGIServer):
    """Counts the connections of each address (all on this one thread: no lock) and
    answers one over the limit at once, without reading it."""

    header_seconds = 10.0
    per_address = 400

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.open: dict[str, int] = {}

    def handle(self, sock, address) -> None:
        ip = client_of(address[0] if isinstance(address, tuple) else str(address))
        held = self.open.get(ip, 0)
        if held >= self.per_address:
            sock.settimeout(1.0)
            with contextlib.suppress(OSError):
                sock.sendall(_answer("503 Service Unavailable",
                                     f"{held} connections are open from your address already "
                                     "(the limit per address); close some tabs"))
            sock.close()
            return
        self.open[ip] = held + 1
        try:
            super().handle(sock, address)
        finally:
            self.open[ip] -= 1
            if not self.open[ip]:
                del self.open[ip]


def _answer(status: str, text: str) -> bytes:
    body = text.encode()
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\nRetry-After: 10\r\n"
            "X-Content-Type-Options: nosniff\r\n\r\n").encode() + body


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

    def handle_one_request(self):
        # the request line and headers come within the deadline (the wait for them
        # too: an idle keep-alive connection ends); read_request lifts it once they came
        seconds = self.server.header_seconds
        self.requestline = None  # (the last request's, on a keep-alive connection)
        self._deadline = deadline = gevent.Timeout(seconds)
        deadline.start()
        try:
            return super().handle_one_request()
        except gevent.Timeout as t:
            if t is not deadline:
                raise
            if not self.requestline:
                return None  # nothing asked: the connection just ends
            self.socket.settimeout(seconds)
            return ("408", _answer("408 Request Timeout",
                                   f"the request's headers did not come within {seconds:g} s"))
        finally:
            deadline.cancel()

    def read_request(self, raw_requestline):
        try:
            return super().read_request(raw_requestline)
        finally:
            self._deadline.cancel()

    def run_application(self) -> None:
        upgrade = self.environ.get("HTTP_UPGRADE", "").lower() == "websocket"
        if not upgrade:  # a body and an answer that move, or the connection ends
            self.socket.settimeout(self.server.header_seconds)
        try:
            super().run_application()
        finally:
            if upgrade:
                self.close_connection = True
            else:
                with contextlib.suppress(OSError):
                    self.socket.settimeout(None)


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

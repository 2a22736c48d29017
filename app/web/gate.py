"""The gate of the WebSocket connections: how many tabs the server keeps open, in all
and per address, and how long a connection may stay without saying `hello`.

Each open tab costs a greenlet, a socket and its share of every push, so their number
is bounded here, in all and per address, and plain HTTP (the page, /healthz) is always
answered. A connection over a limit is refused at once with a 503 that says which
limit; a browser cannot read that answer, so the page asks `/tabs` why it could not
connect (`refusal`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass

from app.web.security import HEADERS, client_of, host_allowed

OPENED = "kmemvisor.opened"    # WSGI environ: when the connection was opened
GREETED = "kmemvisor.greeted"  # set by a successful hello
MADE = "kmemvisor.made"        # (what, id) of the session the connection's hello made


@dataclass(frozen=True)
class Tabs:
    tabs: int = 1200          # open WebSocket connections in all
    per_address: int = 300    # from one address (a class behind one NAT needs many)
    hello_seconds: float = 5.0


class Gate:
    """WSGI middleware in front of everything: the host name first (security.py), then
    the limits of Socket.IO's WebSocket endpoint."""

    def __init__(self, wsgi_app, limits: Tabs, hosts: frozenset[str]) -> None:
        self.app, self.limits, self.hosts = wsgi_app, limits, hosts
        self.open: dict[str, int] = {}
        self.total = 0
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "")
        if not host_allowed(host, self.hosts):
            return _refuse(start_response, "400 Bad Request",
                           f"this server does not answer to the name '{host[:80]}': open it "
                           "by its address, or add the name to ALLOWED_HOSTS")
        # every limit per address, here and in the app, counts the client (an IPv6
        # /64 is one): the request's address is that from here on
        environ["REMOTE_ADDR"] = client_of(environ.get("REMOTE_ADDR", ""))
        if not environ.get("PATH_INFO", "").startswith("/socket.io") or \
                environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            return self.app(environ, _with_headers(start_response))
        address = environ.get("REMOTE_ADDR", "")
        why = self._admit(address)
        if why:
            return _refuse(start_response, "503 Service Unavailable", why)
        environ[OPENED] = time.monotonic()
        try:
            return self.app(environ, start_response)
        finally:  # in threading mode the call lasts as long as the connection
            with self._lock:
                self.total -= 1
                self.open[address] -= 1
                if not self.open[address]:
                    del self.open[address]

    def _admit(self, address: str) -> str | None:
        with self._lock:
            why = self._refusal_locked(address)
            if why:
                self.refused += 1
                return why
            self.total += 1
            self.open[address] = self.open.get(address, 0) + 1
            return None

    def refusal(self, address: str) -> str | None:
        """Why a new tab from `address` would be refused now (None: it would open)."""
        with self._lock:
            return self._refusal_locked(address)

    def _refusal_locked(self, address: str) -> str | None:
        lim = self.limits
        if self.total >= lim.tabs:
            return (f"the server has {lim.tabs} tabs open already (its limit); "
                    "try again in a moment")
        if self.open.get(address, 0) >= lim.per_address:
            return (f"{lim.per_address} tabs are open from your address already (the "
                    "limit per address); close some")
        return None

    def status(self) -> dict:
        with self._lock:
            return {"tabs": self.total, "tabs_limit": self.limits.tabs,
                    "per_address_limit": self.limits.per_address,
                    "addresses": len(self.open), "refused": self.refused}


def _with_headers(start_response):
    """What every response says about itself (security.HEADERS), the ones the app's
    pages do not make too: Socket.IO's own answers to a request it refuses."""
    def start(status: str, headers: list, *rest):
        have = {k.lower() for k, _v in headers}
        headers = [*headers, *((k, v) for k, v in HEADERS.items() if k.lower() not in have)]
        return start_response(status, headers, *rest)
    return start


def _refuse(start_response, status: str, why: str) -> list[bytes]:
    body = why.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"),
                            ("Content-Length", str(len(body))), ("Retry-After", "10"),
                            ("X-Content-Type-Options", "nosniff")])
    return [body]


class HelloDeadline:
    """Closes the connections that have not said `hello` within `seconds`: an idle
    socket would otherwise hold a server thread until its pings time out."""

    def __init__(self, server, seconds: float, bridge) -> None:
        self.server, self.seconds, self.bridge = server, seconds, bridge  # a socketio.Server
        self.closed = 0
        threading.Thread(target=self._sweep, daemon=True, name="hello-deadline").start()

    def _sweep(self) -> None:
        while True:
            time.sleep(min(1.0, self.seconds / 2))
            now = time.monotonic()
            for eio_sid, environ in list(self.server.environ.items()):
                opened = environ.get(OPENED)
                if opened is not None and not environ.get(GREETED) and \
                        now - opened > self.seconds:
                    environ[GREETED] = "closed"  # once
                    self.closed += 1
                    self.bridge.soon(self._close, eio_sid)

    def _close(self, eio_sid: str) -> None:
        with contextlib.suppress(Exception):  # gone meanwhile
            self.server.eio.disconnect(eio_sid)

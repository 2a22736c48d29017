"""Raw connections against a real server, as a script (or a room of flaky laptops)
makes them: connections that say nothing, headers and bodies that trickle in a byte at
a time, and one address opening more than its share. None holds the server: each is
ended in a bounded time or answered at once, with what happened, and everyone else is
answered meanwhile."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from tests.live import Live, hello, run


@pytest.fixture
def live(request):
    server = Live(*getattr(request, "param", ()))
    yield server
    server.stop()


def _connect(live: Live, source: str = "127.0.0.1") -> socket.socket:
    return socket.create_connection(("127.0.0.1", live.port), timeout=10,
                                    source_address=(source, 0))


def _until_closed(s: socket.socket, trickle: bytes = b"", every: float = 0.25,
                  within: float = 10.0) -> tuple[float, bytes]:
    """Send `trickle` a byte at a time until the server ends the connection: how long
    that took and what it answered."""
    start, answer = time.monotonic(), b""
    s.settimeout(every)
    closed = False
    for byte in [trickle[i:i + 1] for i in range(len(trickle))]:
        try:
            s.sendall(byte)
            chunk = s.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
        answer += chunk
        if not chunk or answer:  # answered: no more bytes after it
            closed = not chunk
            break
    while not closed and time.monotonic() - start < within:
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        answer += chunk
    return time.monotonic() - start, answer


def _response(s: socket.socket) -> bytes:
    """One whole response (its headers and as many bytes as they say it has)."""
    s.settimeout(5)
    got = b""
    while b"\r\n\r\n" not in got:
        got += s.recv(4096)
    head, _, body = got.partition(b"\r\n\r\n")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length")))
    while len(body) < length:
        body += s.recv(4096)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("live", [("HEADER_SECONDS=1",)], indirect=True)
def test_a_connection_that_says_nothing_is_closed(live):
    quiet = _connect(live)
    took, answer = _until_closed(quiet)
    assert answer == b"" and took < 3, took
    assert live.get("/healthz")[0] == 200


@pytest.mark.parametrize("live", [("HEADER_SECONDS=1",)], indirect=True)
def test_headers_that_trickle_in_are_answered_408_and_closed(live):
    slow = _connect(live)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    took, answer = _until_closed(slow, b"X-Slow: " + b"a" * 200, every=0.1)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout"), answer[:80]
    assert b"headers did not come within 1 s" in answer and took < 4, took


@pytest.mark.parametrize("live", [("HEADER_SECONDS=1",)], indirect=True)
def test_a_body_that_stalls_ends_its_connection(live):
    slow = _connect(live)
    slow.sendall(b"POST /classrooms HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                 b"application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nx")
    took, answer = _until_closed(slow)
    assert answer.startswith(b"HTTP/1.1 408") and b"body stopped coming" in answer, answer
    assert took < 4, took
    assert live.get("/healthz")[0] == 200 and "Traceback" not in live.logged()


@pytest.mark.parametrize("live", [("HEADER_SECONDS=1",)], indirect=True)
def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not(live):
    s = _connect(live)
    for _ in range(3):  # requests closer together than the deadline: served, kept
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _response(s).startswith(b"HTTP/1.1 200")
        time.sleep(0.5)
    took, answer = _until_closed(s)
    assert answer == b"" and took < 3


@pytest.mark.parametrize("live", [("CONNECTIONS_PER_ADDRESS=20", "HEADER_SECONDS=30")],
                         indirect=True)
def test_an_address_over_its_connections_is_answered_at_once_and_others_are_not(live):
    held = [_connect(live) for _ in range(20)]
    time.sleep(0.3)
    over = _connect(live)
    over.settimeout(5)
    answer = over.recv(4096)
    assert answer.startswith(b"HTTP/1.1 503 Service Unavailable"), answer[:80]
    assert b"20 connections are open from your address already" in answer
    other = _connect(live, "127.0.0.2")   # another address is answered
    other.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert _response(other).startswith(b"HTTP/1.1 200")

    async def tab_from_elsewhere():
        t = live.tab("127.0.0.3")
        ack = await hello(t)
        await t.close()
        return ack
    assert run(tab_from_elsewhere())["ok"]
    for s in held:
        s.close()
    time.sleep(0.3)
    again = _connect(live)            # the address's connections given back
    again.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert _response(again).startswith(b"HTTP/1.1 200")


@pytest.mark.parametrize("live", [("HEADER_SECONDS=1",)], indirect=True)
def test_a_tab_lives_on_past_the_header_deadline(live):
    # the deadline is for plain HTTP: a WebSocket, once open, stays as long as its tab
    async def scenario():
        t = live.tab()
        assert (await hello(t))["ok"]
        await asyncio.sleep(2.5)
        ack = await t.call("step")
        await t.close()
        return ack
    assert run(scenario())["ok"]

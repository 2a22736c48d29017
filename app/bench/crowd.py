"""Many browser tabs in one thread: a small Socket.IO client over one WebSocket each
(Engine.IO 4, Socket.IO 5, text frames only), as the page speaks it, for the load
benchmark and the reliability tests. A crowd of a thousand costs the client side
almost nothing, so what is measured is the server."""

from __future__ import annotations

import asyncio
import json
import re
import time
from dataclasses import dataclass, field

import orjson
import websockets

_SEQ = re.compile(r'"seq":(\d+)')


@dataclass
class Tab:
    url: str
    source: str | None = None      # local address to connect from (127.0.0.x)
    events: int = 0
    snapshots: int = 0
    lost: int = 0                  # step events missing from the sequence
    seq: int | None = None
    pushes: dict = field(default_factory=dict)  # push name -> how many
    closed: str | None = None
    _acks: dict = field(default_factory=dict)
    _n: int = 0
    _waiters: list = field(default_factory=list)

    async def open(self, timeout: float = 30.0) -> None:
        """Connect and join the default namespace (without saying hello)."""
        ws_url = self.url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        kw = {"local_addr": (self.source, 0)} if self.source else {}
        self.ws = await websockets.connect(ws_url, max_size=None, compression=None,
                                           open_timeout=timeout, ping_interval=None,
                                           close_timeout=1, **kw)
        await self.ws.recv()              # the Engine.IO open packet
        await self.ws.send("40")
        await self.ws.recv()              # the namespace's connect
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        try:
            async for m in self.ws:
                if m == "2":
                    await self.ws.send("3")
                elif m.startswith("43"):
                    i = 2
                    while m[i].isdigit():
                        i += 1
                    fut = self._acks.pop(int(m[2:i]), None)
                    if fut is not None and not fut.done():
                        fut.set_result(orjson.loads(m[i:])[0])
                elif m.startswith('42["snapshot"') and not self._waiters:
                    # a crowd must not spend the machine decoding whole snapshots:
                    # their sequence number is all a tab needs
                    found = _SEQ.search(m)
                    self._on("snapshot", {"seq": int(found.group(1)) if found else 0})
                elif m.startswith("42"):
                    name, *args = orjson.loads(m[2:])
                    self._on(name, args[0] if args else None)
        except websockets.ConnectionClosed as e:
            self.closed = f"{e.rcvd.code} {e.rcvd.reason}" if e.rcvd else "closed"
        finally:
            self.closed = self.closed or "closed"
            for fut in self._acks.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("the connection closed"))

    def _on(self, name: str, body) -> None:
        self.pushes[name] = self.pushes.get(name, 0) + 1
        if name == "snapshot":
            self.snapshots += 1
            self.seq = body["seq"]
        elif name == "events":
            for e in body:
                if self.seq is not None and e["seq"] > self.seq + 1:
                    self.lost += e["seq"] - self.seq - 1
                self.seq = max(self.seq or 0, e["seq"])
                self.events += 1
        for w in list(self._waiters):
            if w[0](name, body):
                self._waiters.remove(w)
                if not w[1].done():
                    w[1].set_result(body)

    async def call(self, name: str, payload: dict | None = None, timeout: float = 60.0):
        """Send a command; its acknowledgement."""
        self._n += 1
        fut = asyncio.get_running_loop().create_future()
        self._acks[self._n] = fut
        await self.ws.send(f"42{self._n}" + json.dumps([name, payload or {}]))
        return await asyncio.wait_for(fut, timeout)

    def expect(self, predicate):
        """A future for the next push that `predicate(name, body)` accepts."""
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, fut))
        return fut

    async def close(self) -> None:
        await self.ws.close()


async def timed(coro) -> tuple[float, object]:
    start = time.perf_counter()
    result = await coro
    return time.perf_counter() - start, result


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

"""Step round trip over a real Socket.IO connection on loopback.

A server (`kmemvisor serve`) runs in its own process; this process connects
as a browser would (WebSocket transport) and times each step from the command until
its acknowledgement *and* every VM's step event have arrived. Measured side by side in
the same run: the engine's own step time in-process, and a command that does nothing
(the floor of the transport).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator

from app.session import Session

PROGRAM = """    .text
    .globl main
main:
    leaq buf(%rip), %rdi
1:  movq %rax, (%rdi)
    addq $1, %rax
    pushq %rax
    popq %rcx
    jmp 1b
    .bss
buf: .zero 64
"""
STEPS = 400
WARMUP = 30


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# a benchmark's client sends commands back to back, faster than a tab's limit lets one
BENCH_SETTINGS = ("COMMANDS_PER_SECOND=1000000",)


def start_server(port: int, *settings: str) -> subprocess.Popen:
    settings = (*BENCH_SETTINGS, *settings)
    db = f"{tempfile.gettempdir()}/kmemvisor-bench-{port}.sqlite3"
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port),
                             "--database", db, *(a for s in settings for a in ("--set", s))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server did not start")


@contextlib.contextmanager
def serving(port: int, *settings: str) -> Iterator[subprocess.Popen]:
    """A server of its own for a benchmark, on `port`, ended when the block is."""
    proc = start_server(port, *settings)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


class Probe:
    """One Socket.IO client that counts the step events it receives."""

    def __init__(self, url: str) -> None:
        import socketio
        self.client = socketio.Client()
        self.events = 0
        self.arrived = threading.Condition()
        self.client.on("events", self._on_events)
        self.client.on("snapshot", lambda _s: None)
        self.client.connect(url, transports=["websocket"])
        assert self.client.call("hello", {})["ok"]

    def _on_events(self, events) -> None:
        with self.arrived:
            self.events += len(events)
            self.arrived.notify_all()

    def round_trip(self, command: str, payload: dict, events: int) -> float:
        with self.arrived:
            target = self.events + events
        t0 = time.perf_counter()
        ack = self.client.call(command, payload, timeout=10)
        with self.arrived:
            self.arrived.wait_for(lambda: self.events >= target, timeout=10)
        elapsed = time.perf_counter() - t0
        if not ack.get("ok"):
            raise RuntimeError(ack)
        return elapsed


def engine_steps(compare: bool) -> list[float]:
    s = Session(PROGRAM, "on", compare=compare)
    out = []
    for i in range(WARMUP + STEPS):
        t0 = time.perf_counter()
        s.step()
        if i >= WARMUP:
            out.append(time.perf_counter() - t0)
    return out


def measure(port: int) -> dict:
    with serving(port):
        probe = Probe(f"http://127.0.0.1:{port}")
        rows = {}
        for compare in (False, True):
            ack = probe.client.call("load", {"source": PROGRAM, "mirror": "on",
                                             "compare": compare})
            assert ack["ok"], ack
            vms = 2 if compare else 1
            trips, floor = [], []
            for i in range(WARMUP + STEPS):
                # interleaved with a command that does nothing: same moment, same noise
                f = probe.round_trip("pause", {}, 0)
                t = probe.round_trip("step", {}, vms)
                if i >= WARMUP:
                    trips.append(t)
                    floor.append(f)
            engine = engine_steps(compare)
            rows["two VMs" if compare else "one VM"] = {
                "p50_ms": percentile(trips, 50) * 1e3, "p99_ms": percentile(trips, 99) * 1e3,
                "mean_ms": statistics.fmean(trips) * 1e3,
                "engine_p50_ms": percentile(engine, 50) * 1e3,
                "floor_p50_ms": percentile(floor, 50) * 1e3}
        probe.client.disconnect()
        return rows


def main(json_output: bool = False, port: int = 5173) -> int:
    rows = measure(port)
    if json_output:
        print(json.dumps(rows))
        return 0
    print(f"Step round trip over Socket.IO (WebSocket, loopback), {STEPS} steps each")
    print(f"{'set-up':10} {'p50 ms':>8} {'p99 ms':>8} {'engine p50':>11} {'no-op p50':>10}")
    for name, r in rows.items():
        print(f"{name:10} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} {r['engine_p50_ms']:11.2f} "
              f"{r['floor_p50_ms']:10.2f}")
    print("targets: p50 <= 3 ms, p99 <= 15 ms")
    return 0

"""A class at once: an instructor stepping and injecting while students follow, solo
workspaces stepping and running long programs, and one unrelated workspace (the
probe) stepping now and then. Reported: the probe's step round trip (command to
acknowledgement and step event) alone on the server and then under the load, in the
same run (their ratio is what the machine's noise leaves alone), the server's memory
along the way, and the step events any tab missed (sequence numbers). The server runs
in its own process."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from app.bench.crowd import Tab, percentile
from app.bench.http import open_classroom
from app.bench.roundtrip import free_port, start_server

LESSON = "01-why-mirror"
# a long store loop: a full-speed run of it keeps an engine thread busy for seconds
BUSY = """
main:
    movl $400000000, %ecx
1:  addq $1, total(%rip)
    movq %rcx, slot(%rip)
    decl %ecx
    jnz 1b
    xorl %eax, %eax
    ret
.data
total: .quad 0
slot: .quad 0
"""


@dataclass
class Load:
    students: int = 100
    solos: int = 20
    seconds: float = 20.0
    probe_every: float = 0.1


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


async def _hello(tab: Tab, payload: dict) -> None:
    await tab.open()
    ack = await tab.call("hello", payload)
    if not ack["ok"]:
        raise RuntimeError(f"hello refused: {ack['error']['message']}")


async def _instructor(tab: Tab, end: float) -> int:
    n = 0
    while time.monotonic() < end:
        ack = await tab.call("step")
        if not ack["ok"]:
            await tab.call("reset")
        n += 1
        if n % 25 == 0:
            await tab.call("inject", {"kind": "ce", "target": "random"})
        await asyncio.sleep(0.2)
    return n


async def _solo(tab: Tab, end: float) -> int:
    ack = await tab.call("load", {"source": BUSY, "mirror": "on", "compare": True})
    if not ack["ok"]:
        raise RuntimeError(ack["error"]["message"])
    turns = 0
    while time.monotonic() < end:
        for _ in range(5):
            await tab.call("step")
        stopped = tab.expect(lambda name, body: name == "snapshot" and "stopped" in body)
        await tab.call("run", {"speed": "max", "budget": 20_000_000})
        await asyncio.sleep(1.5)
        await tab.call("pause")
        await asyncio.wait_for(stopped, 60)
        await tab.call("reset")
        turns += 1
    return turns


async def _probe(tab: Tab, end: float, every: float) -> list[float]:
    trips = []
    while time.monotonic() < end:
        got = tab.expect(lambda name, body: name == "events")
        start = time.perf_counter()
        ack = await tab.call("step")
        if not ack["ok"]:
            got.cancel()
            await tab.call("reset")
            continue
        await asyncio.wait_for(got, 30)
        trips.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(every)
    return trips


async def run_load(base: str, pid: int | None, load: Load) -> dict:
    code, key = open_classroom(base, LESSON)
    rss = {"start": rss_mb(pid) if pid else None}
    teacher = Tab(base)
    await _hello(teacher, {"classroom": code, "key": key})
    students = [Tab(base) for _ in range(load.students)]
    for i, s in enumerate(students):
        await _hello(s, {"classroom": code, "name": f"student {i}"})
    solos = [Tab(base) for _ in range(load.solos)]
    for s in solos:
        await _hello(s, {})
    probe = Tab(base)
    await _hello(probe, {})
    alone = await _probe(probe, time.monotonic() + max(2.0, load.seconds / 4),
                         load.probe_every)
    end = time.monotonic() + load.seconds

    async def middle():
        await asyncio.sleep(load.seconds / 2)
        rss["middle"] = rss_mb(pid) if pid else None
    results = await asyncio.gather(_instructor(teacher, end),
                                   *(_solo(s, end) for s in solos),
                                   _probe(probe, end, load.probe_every), middle())
    await asyncio.sleep(1.0)  # the last pushes arrive
    rss["end"] = rss_mb(pid) if pid else None
    trips = results[1 + load.solos]
    everyone = [teacher, *students, *solos, probe]
    out = {"students": load.students, "solos": load.solos, "seconds": load.seconds,
           "alone_p50_ms": percentile(alone, 50), "alone_p99_ms": percentile(alone, 99),
           "probe_steps": len(trips), "probe_p50_ms": percentile(trips, 50),
           "probe_p99_ms": percentile(trips, 99), "probe_max_ms": max(trips or [0]),
           "instructor_steps": results[0], "solo_runs": sum(results[1:1 + load.solos]),
           "events_received": sum(t.events for t in everyone),
           "events_lost": sum(t.lost for t in everyone),
           "closed": sum(1 for t in everyone if t.closed), "rss_mb": rss}
    await asyncio.gather(*(t.close() for t in everyone))
    return out


def bench_load(students: int = 100, solos: int = 20, seconds: float = 20.0) -> dict:
    port = free_port()
    proc = start_server(port)
    try:
        return asyncio.run(run_load(f"http://127.0.0.1:{port}", proc.pid,
                                    Load(students, solos, seconds)))
    finally:
        proc.terminate()
        proc.wait(10)


def describe(r: dict) -> str:
    rss = r["rss_mb"]
    return "\n".join([
        f"load: {r['students']} students following, the instructor stepping and injecting "
        f"({r['instructor_steps']} steps), {r['solos']} solo workspaces stepping and running "
        f"({r['solo_runs']} runs), {r['seconds']:.0f} s",
        f"probe step round trip alone: p50 {r['alone_p50_ms']:.1f} ms, "
        f"p99 {r['alone_p99_ms']:.1f} ms",
        f"probe step round trip under the load: p50 {r['probe_p50_ms']:.1f} ms, "
        f"p99 {r['probe_p99_ms']:.1f} ms, max {r['probe_max_ms']:.1f} ms over "
        f"{r['probe_steps']} steps; p99 {r['probe_p99_ms'] / r['alone_p99_ms']:.1f} x alone",
        "target: p99 <= 50 ms under the load",
        f"step events: {r['events_received']} received, {r['events_lost']} lost; "
        f"{r['closed']} tabs closed by the server",
        f"server RSS: {rss['start']:.0f} MB at start, {rss['middle']:.0f} MB in the middle, "
        f"{rss['end']:.0f} MB at the end"])


def main(json_output: bool = False, students: int = 100, solos: int = 20,
         seconds: float = 20.0) -> int:
    result = bench_load(students, solos, seconds)
    print(json.dumps(result, indent=1) if json_output else describe(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

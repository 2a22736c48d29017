"""A class at once: an instructor stepping and injecting while students follow, solo
workspaces stepping and running long programs, and one unrelated workspace (the
probe) stepping now and then. Reported: the probe's step round trip (command to
acknowledgement and step event) alone on the server and then under the load, in the
same run (their ratio is what the machine's noise leaves alone), the server's memory
along the way, and the step events any tab missed (sequence numbers). The server runs
in its own process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import os
import time
from dataclasses import dataclass

from app.bench.crowd import Tab, percentile
from app.bench.http import open_classroom
from app.bench.roundtrip import free_port, serving

LESSON = "01-why-mirror"
CROWD_NICE = 10
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


def _tree(pid: int) -> list[int]:
    """`pid` and every process below it (the server's engine processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def rss_mb(pid: int) -> float:
    """The memory of the server and its engine processes: their proportional set
    sizes (a page shared by n processes counts 1/n in each), summed."""
    total = 0
    for p in _tree(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                total += next(int(line.split()[1]) for line in f if line.startswith("Pss:"))
        except (OSError, StopIteration):
            continue
    return total / 1024 if total else float("nan")


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


def _probe_process(base: str, load: Load, conn) -> None:
    """The probe: alone first (its trips sent back), then, told to go, under the load."""
    async def probe() -> None:
        loop = asyncio.get_running_loop()
        tab = Tab(base)
        await _hello(tab, {})
        await loop.run_in_executor(None, conn.recv)  # the crowd is in
        alone = await _probe(tab, time.monotonic() + max(2.0, load.seconds / 4),
                             load.probe_every)
        conn.send((alone, tab.lost, tab.events))
        await loop.run_in_executor(None, conn.recv)
        loaded = await _probe(tab, time.monotonic() + load.seconds, load.probe_every)
        conn.send((loaded, tab.lost, tab.events))
        await tab.close()
    asyncio.run(probe())


async def run_load(base: str, pid: int | None, load: Load) -> dict:
    # the probe is another user's browser: a process of its own, so that what it
    # measures is the server, not this process's loop busy with the crowd's messages
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    prober = ctx.Process(target=_probe_process, args=(base, load, there), daemon=True)
    prober.start()
    # the crowd stands for a hundred machines, not this one: it yields the processor
    # to the server and the probe (what is measured), so the measure is the server's
    with contextlib.suppress(OSError):
        os.nice(CROWD_NICE)
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
    loop = asyncio.get_running_loop()
    here.send("alone")
    alone, probe_lost, probe_events = await loop.run_in_executor(None, here.recv)
    end = time.monotonic() + load.seconds
    here.send("go")

    async def middle():
        await asyncio.sleep(load.seconds / 2)
        rss["middle"] = rss_mb(pid) if pid else None
    results = await asyncio.gather(_instructor(teacher, end),
                                   *(_solo(s, end) for s in solos), middle())
    trips, probe_lost, probe_events = await loop.run_in_executor(None, here.recv)
    prober.join(10)
    await asyncio.sleep(1.0)  # the last pushes arrive
    rss["end"] = rss_mb(pid) if pid else None
    everyone = [teacher, *students, *solos]
    out = {"students": load.students, "solos": load.solos, "seconds": load.seconds,
           "alone_p50_ms": percentile(alone, 50), "alone_p99_ms": percentile(alone, 99),
           "probe_steps": len(trips), "probe_p50_ms": percentile(trips, 50),
           "probe_p99_ms": percentile(trips, 99), "probe_max_ms": max(trips or [0]),
           "instructor_steps": results[0], "solo_runs": sum(results[1:1 + load.solos]),
           "events_received": sum(t.events for t in everyone) + probe_events,
           "events_lost": sum(t.lost for t in everyone) + probe_lost,
           "closed": sum(1 for t in everyone if t.closed), "rss_mb": rss}
    await asyncio.gather(*(t.close() for t in everyone))
    return out


def bench_load(students: int = 100, solos: int = 20, seconds: float = 20.0) -> dict:
    port = free_port()
    with serving(port) as proc:
        return asyncio.run(run_load(f"http://127.0.0.1:{port}", proc.pid,
                                    Load(students, solos, seconds)))


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
        f"server memory (PSS, its engine processes included): {rss['start']:.0f} MB at "
        f"start, {rss['middle']:.0f} MB in the middle, {rss['end']:.0f} MB at the end"])


def main(json_output: bool = False, students: int = 100, solos: int = 20,
         seconds: float = 20.0) -> int:
    result = bench_load(students, solos, seconds)
    print(json.dumps(result, indent=1) if json_output else describe(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

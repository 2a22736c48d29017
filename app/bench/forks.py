"""A wave of forks: a class's students all take a copy of the class's session at once
(the lesson says "now try it yourself") while the instructor goes on stepping. Reported:
the instructor's step round trip alone and during the wave, in the same run (their
ratio is what the machine's noise leaves alone), and how long the wave took. The
server runs in its own process, the students and the instructor in this one."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

from app.bench.crowd import Tab, percentile, timed
from app.bench.http import open_classroom
from app.bench.roundtrip import free_port, serving

LESSON = "01-why-mirror"
# the class's session has a history worth copying: a 5 M-instruction run of this loop
LOOP = """
main:
    movl ${n}, %ecx
1:  addq $1, total(%rip)
    decl %ecx
    jnz 1b
    xorl %eax, %eax
    ret
.data
total: .quad 0
"""
PACE = 0.05  # between two of the instructor's steps, as a hand on a key


async def _wave(base: str, students: int) -> dict:
    code, key = open_classroom(base, LESSON)
    teacher = Tab(base)
    await teacher.open()
    assert (await teacher.call("hello", {"classroom": code, "key": key}))["ok"]
    assert (await teacher.call("load", {"source": LOOP.format(n=3_000_000)}))["ok"]
    stopped = teacher.expect(lambda name, body: name == "snapshot" and "stopped" in body)
    assert (await teacher.call("run", {"speed": "max", "budget": 5_000_000}))["ok"]
    await asyncio.wait_for(stopped, 120)
    # each from an address of its own, as laptops are
    tabs = [Tab(base, f"127.0.1.{i % 250 + 1}") for i in range(students)]
    for i, t in enumerate(tabs):
        await t.open()
        assert (await t.call("hello", {"classroom": code, "name": f"s{i}"}))["ok"]

    async def step() -> float:
        took, ack = await timed(teacher.call("step"))
        if not ack["ok"]:
            raise RuntimeError(f"the instructor's step was refused: {ack['error']}")
        await asyncio.sleep(PACE)
        return took
    alone = [await step() for _ in range(40)]
    began = time.monotonic()
    forks = asyncio.ensure_future(asyncio.gather(*(t.call("fork") for t in tabs)))
    during = []
    while not forks.done():
        during.append(await step())
    wave = time.monotonic() - began
    refused = [a for a in forks.result() if not a["ok"]]
    for t in (teacher, *tabs):
        await t.close()
    return {"students": students, "alone": _summary(alone), "during": _summary(during),
            "wave_s": round(wave, 2), "refused": len(refused)}


def _summary(times: list[float]) -> dict:
    return {"n": len(times), "p50_ms": round(1000 * statistics.median(times), 1),
            "p99_ms": round(1000 * percentile(times, 99), 1),
            "max_ms": round(1000 * max(times), 1)}


def main(json_output: bool = False, students: int = 40) -> int:
    port = free_port()
    with serving(port, "MAX_TABS=2000"):
        row = asyncio.run(_wave(f"http://127.0.0.1:{port}", students))
    if json_output:
        print(json.dumps(row))
        return 0
    print(f"A wave of {students} forks at once, the instructor stepping every {PACE * 1000:.0f} "
          "ms (step round trip)")
    for what in ("alone", "during"):
        r = row[what]
        print(f"{what:>7}: p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  "
              f"max {r['max_ms']:6.1f} ms  ({r['n']} steps)")
    print(f"the wave took {row['wave_s']:.2f} s; forks refused: {row['refused']}")
    print(f"during / alone, p99: {row['during']['p99_ms'] / row['alone']['p99_ms']:.1f} x")
    return 0

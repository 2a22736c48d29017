"""The engine's slow paths, measured: single steps (speed and native memory), a run
with a watchpoint against the same run without, a run right after single steps against
one after none, a spinning `main: jmp main` and a long `rep stosb` across the patrol
scrub's due point.

Memory is the process's resident set (/proc/self/statm), not Python's heap: what the
emulator holds natively does not show in tracemalloc. Speeds are ratios of runs made
side by side in this process; the single steps each run took come from the vCPU's own
count.
"""

from __future__ import annotations

import json
import time

from app.hypervisor import core, runner
from app.session import Session

LOOP = """
    .text
    .globl main
main:
1:  addl $1, count(%rip)
    jmp 1b
    .bss
count: .zero 4
"""

# a loop storing next to the watched word (same page) and elsewhere, then the store
# the watchpoint waits for
WATCHED = """
    .text
    .globl main
main:
    movl ${n}, %ecx
1:  movq %rcx, {near}(%rip)
    addl $1, far(%rip)
    decl %ecx
    jnz 1b
    movl $5, x(%rip)
    movl x(%rip), %eax
    ret
    .data
far: .long 0
    .bss
buf: .zero 8
x: .zero 4
"""

SPIN = """
    .text
    .globl main
main:
    jmp main
"""

REP = """
    .text
    .globl main
main:
    leaq buf(%rip), %rdi
    movl ${n}, %ecx
    movb $7, %al
    rep stosb
    movzbl buf+{last}(%rip), %eax
    ret
    .bss
buf: .zero {n}
"""


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _steps_taken(s: Session) -> int | None:
    return getattr(s.vms[0].cpu, "steps", None)


def single_steps(count: int, warmup: int = 5_000) -> dict:
    s = Session(LOOP, "on")
    hv, vm = s.hv, s.vms[0]
    for _ in range(warmup):
        runner.step(hv, vm)
    before, began = rss(), time.perf_counter()
    for _ in range(count):
        runner.step(hv, vm)
    took = time.perf_counter() - began
    after = rss()
    return {"part": "single steps", "steps": count, "steps_per_s": count / took,
            "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20,
            "bytes_per_step": (after - before) / count}


def _timed_run(src: str, watch: list | None, max_native: int | None = None) -> tuple:
    s = Session(src, "on")
    s.run(max_native=20)  # the kernel has mapped the program
    before, began = rss(), time.perf_counter()
    steps0 = _steps_taken(s)
    events = s.run(max_native=max_native, watchpoints=watch or [])
    took = time.perf_counter() - began
    steps = _steps_taken(s)
    return (s, events[0]["stopped"], s.vms[0].counters.native_instructions, took,
            rss() - before, None if steps is None else steps - steps0)


def watched(n: int, near: str, repeats: int = 3) -> dict:
    """The same program run with and without a watchpoint, interleaved, best of
    `repeats` each (the machine is shared)."""
    src = WATCHED.format(n=n, near=near)
    spot = [(Session(src, "on").address_of("x"), 4)]
    plain, timed = [], []
    for _ in range(repeats):
        plain.append(_timed_run(src, None))
        timed.append(_timed_run(src, spot))
    plain_n, plain_t = plain[0][2], min(r[3] for r in plain)
    _s, reason, native, _t, grown, steps = timed[0]
    took = min(r[3] for r in timed)
    return {"part": f"watched run, stores to {'its page' if near == 'buf' else 'elsewhere'}",
            "stopped": reason, "native_instructions": native,
            "instr_per_s": native / took, "unwatched_instr_per_s": plain_n / plain_t,
            "watched_vs_unwatched": (native / took) / (plain_n / plain_t),
            "rss_growth_mb": grown / 2**20, "single_steps": steps}


def after_steps(budget: int, repeats: int = 3) -> dict:
    """A free run right after a few single steps against the same run after none,
    interleaved, best of `repeats` each: the steps' hooks must not slow the run."""
    def timed(steps: int) -> float:
        s = Session(LOOP, "on")
        s.run(max_native=10_000)
        for _ in range(steps):
            s.step()
        began = time.perf_counter()
        s.run(max_native=budget)
        return budget / (time.perf_counter() - began)
    plain, stepped = [], []
    for _ in range(repeats):
        plain.append(timed(0))
        stepped.append(timed(5))
    return {"part": "a run after single steps", "native_instructions": budget,
            "instr_per_s": max(stepped), "without_steps_instr_per_s": max(plain),
            "after_vs_without": max(stepped) / max(plain)}


def spin(budget: int) -> dict:
    s, reason, native, took, grown, steps = _timed_run(SPIN, None, budget)
    return {"part": "main: jmp main", "stopped": reason, "native_instructions": native,
            "instr_per_s": native / took, "rss_growth_mb": grown / 2**20,
            "single_steps": steps,
            "patrols_due": native // core.SCRUB_INTERVAL}


def rep(n: int) -> dict:
    s, reason, native, took, grown, steps = _timed_run(REP.format(n=n, last=n - 1), None)
    return {"part": f"rep stosb of {n:,} bytes", "stopped": reason,
            "exit_code": s.vms[0].exit_code, "native_instructions": native,
            "instr_per_s": native / took, "rss_growth_mb": grown / 2**20,
            "single_steps": steps}


def table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        items = ", ".join(f"{k} {_fmt(v)}" for k, v in r.items() if k != "part")
        out.append(f"{r['part']}: {items}")
    return "\n".join(out)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def main(json_output: bool = False, steps: int = 200_000, scale: int = 1) -> int:
    """`scale` multiplies the runs' sizes (1: a few seconds each on this machine)."""
    parts = [lambda: single_steps(steps),
             lambda: watched(500_000 * scale, "buf"), lambda: watched(500_000 * scale, "far"),
             lambda: after_steps(3_000_000 * scale),
             lambda: spin(3_000_000 * scale), lambda: rep(3_000_000 * scale)]
    rows = []
    for part in parts:
        rows.append(part())
        if not json_output:  # each part as it ends: the first may take minutes
            print(table(rows[-1:]), flush=True)
    if json_output:
        print(json.dumps(rows, indent=1))
    return 0

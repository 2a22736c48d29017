"""What an undoable step holds, measured: `kmemvisor bench memory`.

A two-VM session (mirrored and unmirrored side by side, as the page opens) steps a
loop that stores, pushes and pops, 10,000 native steps; the Python heap it keeps
(tracemalloc, after a collection) and the process's resident set are read before and
after, and divided by the steps. The history keeps every step (exact undo).
"""

from __future__ import annotations

import gc
import json
import resource
import tracemalloc

from app.session import Session

STEPS = 10_000
PROGRAM = """    .text
    .globl main
main:
    movl $1000000, %ecx
    leaq buf(%rip), %rdi
1:  movq %rcx, (%rdi)
    pushq %rcx
    popq %rax
    addq $8, %rdi
    andq $4095, %rdi
    leaq buf(%rip), %rsi
    addq %rsi, %rdi
    decl %ecx
    jnz 1b
    ret
    .bss
    .p2align 12
buf: .zero 8192
"""


def _rss_kb() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def _stepped(steps: int) -> Session:
    s = Session(PROGRAM, "on", compare=True)
    for _ in range(200):  # past the kernel's start and the first mappings
        s.step()
    gc.collect()
    return s


def bench_memory(steps: int = STEPS) -> dict:
    """The heap (tracemalloc) and, in a second session without tracing (which costs
    memory of its own), the resident set."""
    s = _stepped(steps)
    tracemalloc.start()
    heap0, _ = tracemalloc.get_traced_memory()
    for _ in range(steps):
        s.step()
    gc.collect()
    heap1, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    entries = s.history_view()["position"]
    del s
    s = _stepped(steps)
    rss0 = _rss_kb()
    for _ in range(steps):
        s.step()
    gc.collect()
    rss1 = _rss_kb()
    return {"steps": steps, "history_entries": entries,
            "heap_bytes_per_step": (heap1 - heap0) / steps,
            "rss_bytes_per_step": 1024 * (rss1 - rss0) / steps}


def describe(r: dict) -> str:
    return "\n".join([
        f"{r['steps']:,} native steps of a two-VM session (stores, pushes, pops), "
        f"{r['history_entries']:,} history entries kept for undo",
        f"Python heap held: {r['heap_bytes_per_step']:.0f} bytes a step",
        f"resident set grown: {r['rss_bytes_per_step']:.0f} bytes a step "
        "(the allocator's pages: coarse)",
        "target: <= 1 KB a step"])


def main(json_output: bool = False) -> int:
    r = bench_memory()
    print(json.dumps(r, indent=1) if json_output else describe(r))
    return 0

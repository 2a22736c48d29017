"""Runs take no slow path for long: single steps hold no native memory, a watched run
runs freely and stops where single steps would, a spinning `main` and a long rep
cross the patrol scrub's due point without single steps."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from app.abi import STACK_TOP
from app.bench.run_paths import REP, SPIN, WATCHED
from app.hypervisor import core, native_counter, watch
from app.session import Session, SessionError
from tests.conftest import C_DIR, compile_to_asm, needs_gcc

ROOT = Path(__file__).parent.parent


def test_single_steps_hold_no_native_memory():
    # in a process of its own: other tests' memory must not blur the slope
    script = textwrap.dedent("""
        from app.bench.run_paths import LOOP, rss
        from app.hypervisor import runner
        from app.session import Session
        s = Session(LOOP, "on")
        hv, vm = s.hv, s.vms[0]
        for _ in range(20_000):
            runner.step(hv, vm)
        marks = []
        for _ in range(5):
            for _ in range(50_000):
                runner.step(hv, vm)
            marks.append(rss())
        print(vm.cpu.steps, *marks)
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=True).stdout.split()
    steps, marks = int(out[0]), [int(x) for x in out[1:]]
    assert steps > 269_000  # each one a step of the vCPU (hypercalls are served aside)
    grown = marks[-1] - marks[0]  # over 200,000 steps (it was 1.2 KB a step)
    assert grown < 2 << 20, f"{grown / 200_000:.0f} bytes a step"
    assert marks[-1] <= 1.1 * marks[0]


def _timed(src: str, spots: list) -> tuple[float, Session]:
    s = Session(src, "on")
    s.run(max_native=20)
    began = time.perf_counter()
    events = s.run(watchpoints=spots)
    took = time.perf_counter() - began
    assert events[0]["stopped"] == ("watch" if spots else "exited")
    return took, s


def test_a_watched_run_is_not_single_stepped():
    # the worst case: the loop stores to the watched page at every other instruction
    src = WATCHED.format(n=200_000, near="buf")
    x = Session(src, "on").address_of("x")
    plain, _ = _timed(src, [])
    took, s = _timed(src, [(x, 4)])
    plain = min(plain, _timed(src, [])[0])
    vm = s.vms[0]
    assert vm.counters.native_instructions > 800_000
    assert vm.cpu.steps <= 10  # the rest of the watched store's group
    # single-stepped it ran at 1/500 of the unwatched speed
    assert took < 20 * plain, (took, plain)


def test_a_spinning_main_crosses_patrols_without_single_steps():
    # `main` is a function entry: the return address is in flight there, always
    s = Session(SPIN, "on")
    events = s.run(max_native=3 * core.SCRUB_INTERVAL)
    vm = s.vms[0]
    assert events[0]["stopped"] == "limit"
    assert vm.counters.native_instructions == 3 * core.SCRUB_INTERVAL
    assert vm.patrol.next == 4 * core.SCRUB_INTERVAL   # three patrols
    assert vm.cpu.steps <= 10
    assert not [n for n in s.hv.log if n["kind"] == "scrub"]


def test_a_long_rep_crosses_the_patrol_without_single_steps():
    n = 3 * core.SCRUB_INTERVAL // 2
    s = Session(REP.format(n=n, last=n - 1), "nmr3")
    events = s.run()
    vm = s.vms[0]
    assert events[0]["stopped"] == "exited" and vm.exit_code == 7
    assert vm.patrol.next > core.SCRUB_INTERVAL
    assert vm.cpu.steps <= 20
    assert s.result()["mirror_consistent"] is True


# -- a watched run stops where single steps through whole groups stop

WATCH_CASES = {
    "plain store": ("""
    main:
        movl $50, %ecx
    1:  addl %ecx, other(%rip)
        decl %ecx
        jnz 1b
        movl $5, x(%rip)
        addl $1, other(%rip)
        movw $6, x+2(%rip)
        ret
        .data
    other: .long 0
    x: .long 0
    """, "x", 4),
    "unaligned read-modify-write from below": ("""
    main:
        movl $30, %ecx
    1:  addl $0x01010101, x-2(%rip)
        decl %ecx
        jnz 1b
        movl x(%rip), %eax
        ret
        .data
    pad: .long 0
    x: .long 0x10203040
    """, "x", 2),
    "across a page edge": ("""
    main:
        addl $0x01010101, x-2(%rip)
        addl $0x01010101, x-2(%rip)
        movzbl x(%rip), %eax
        ret
        .data
    pad: .zero 4096
    x: .long 0x10203040
    """, "x", 1),
    "rep stos over it": ("""
    main:
        leaq buf(%rip), %rdi
        movl $3000, %ecx
        movb $9, %al
        rep stosb
        movzbl buf+2999(%rip), %eax
        ret
        .bss
    buf: .zero 3000
    """, "buf+1500", 4),
    "locked and exchanged": ("""
    main:
        movl $7, %eax
        lock addl %eax, other(%rip)
        xchgl %eax, other(%rip)
        lock incl x(%rip)
        xchgl %eax, x(%rip)
        ret
        .data
    other: .long 1
    x: .long 2
    """, "x", 4),
    "unaligned stores beside it": ("""
    main:
        movl $30, %ecx
    1:  movl %ecx, other+1(%rip)
        movq %rcx, other+7(%rip)
        decl %ecx
        jnz 1b
        movl %ecx, x(%rip)
        movl other+1(%rip), %eax
        ret
        .data
    other: .zero 16
    x: .long 0
    """, "x", 4),
    "cmpxchg16b storing its halves": ("""
    main:
        movl $1, %eax
        movl $2, %edx
        movl $3, %ebx
        movl $4, %ecx
        lock cmpxchg16b y(%rip)
        movl y+8(%rip), %eax
        ret
        .data
        .p2align 4
    y: .quad 1, 2
    """, "y+8", 4),
    "fxsave and fstpt over it": ("""
    main:
        movl $3, %ecx
    1:  fxsave area(%rip)
        fldpi
        fstpt ten(%rip)
        decl %ecx
        jnz 1b
        movl area+160(%rip), %eax
        ret
        .data
        .p2align 4
    area: .zero 512
    ten: .zero 16
    """, "ten+8", 2),
    "a return address on the stack": ("""
    main:
        movl $20, %ecx
    1:  call f
        decl %ecx
        jnz 1b
        ret
    f:  pushq %rbx
        popq %rbx
        ret
    """, f"{STACK_TOP - 24:#x}", 8),
}


def _state(s: Session) -> tuple:
    vm = s.vms[0]
    return (vm.status, vm.cpu.state(), vm.counters.to_json(), bytes(vm.mem.view),
            [n for n in s.hv.log if n["kind"] not in ("console", "watch")])


def _touches(events: list[dict], va: int, size: int) -> bool:
    return any(w["copy"] == 0 and w["va"] is not None and
               w["va"] < va + size and va < w["va"] + w["size"]
               for e in events for w in e["writes"])


def _by_steps(src: str, mode: str, target: str, size: int, rounds: int) -> tuple:
    """Single steps until the end of the group of a step that stored into the spot
    (a rep instruction's group ends with its last element, as a native step's),
    `rounds` times: what a watched run must leave."""
    s = Session(src, mode)
    va = s.address_of(target)
    hits = sum(_by_steps_on(s, va, size) for _ in range(rounds))
    return _state(s), hits


def _by_steps_on(s: Session, va: int, size: int) -> bool:
    """One round: whether it met a store into [va, va + size)."""
    vm, hit = s.vms[0], False
    while vm.status == "running":
        was = vm.cpu.reg("rip")
        events = s.step("rewritten")
        hit = hit or _touches(events, va, size)
        now = vm.cpu.reg("rip")
        if hit and now in vm.group_at and (now != was or now not in vm.rep_at):
            return True
    return False


def _by_run(src: str, mode: str, target: str, size: int, rounds: int) -> tuple:
    s = Session(src, mode)
    va = s.address_of(target)
    for _ in range(rounds):
        before = len(s.hv.log)
        events = s.run(watchpoints=[(va, size)])
        assert events[0]["stopped"] in ("watch", "exited")
        said = [n for n in s.hv.log[before:] if n["kind"] == "watch"]
        if events[0]["stopped"] == "watch":  # the log names the store that hit it
            assert len(said) == 1 and said[0]["va"] < va + size and \
                va < said[0]["va"] + said[0]["size"], said
        else:
            assert said == []
    return _state(s)


@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
@pytest.mark.parametrize("case", list(WATCH_CASES))
def test_a_watched_run_stops_where_single_steps_stop(case, mode):
    body, target, size = WATCH_CASES[case]
    src = "    .text\n    .globl main\n" + textwrap.dedent(body)
    stepped, hits = _by_steps(src, mode, target, size, rounds=2)
    assert hits >= 1
    assert _by_run(src, mode, target, size, rounds=2) == stepped


def test_the_python_store_watch_stops_where_the_c_one_does(monkeypatch):
    built = native_counter.library

    def no_storewatch(name: str = "blockcount"):
        return None if name == "storewatch" else built(name)

    cases = [WATCH_CASES[c] for c in ("unaligned read-modify-write from below",
                                     "across a page edge", "rep stos over it")]
    srcs = ["    .text\n    .globl main\n" + textwrap.dedent(b) for b, _t, _n in cases]
    fast = [_by_run(src, "on", t, n, 2) for src, (_b, t, n) in zip(srcs, cases, strict=True)]
    monkeypatch.setattr(watch.nc, "library", no_storewatch)
    slow = [_by_run(src, "on", t, n, 2) for src, (_b, t, n) in zip(srcs, cases, strict=True)]
    assert slow == fast


def test_a_watched_run_in_turns_stops_where_one_run_does():
    src = WATCHED.format(n=3000, near="buf")
    whole = Session(src, "nmr3")
    x = whole.address_of("x")
    whole.run(watchpoints=[(x, 4)])
    turns = Session(src, "nmr3")
    events = turns.run(watchpoints=[(x, 4)], chunk=777, progress=lambda evs: True)
    assert [e["stopped"] for e in events][-1] == "watch" and len(events) > 5
    assert _state(turns) == _state(whole)


def test_map_changes_leave_no_phantom_fault():
    # taking a frame out of the engine's map and back, or protecting it, once left a
    # page fault raised inside Unicorn and never delivered: the guest's next real
    # fault became a double fault
    src = """
    .text
    .globl main
main:
    movl $100, %ecx
1:  decl %ecx
    jnz 1b
    movq $1, 0x12345000
    ret
"""
    s = Session(src, "on")
    s.run(max_native=50)
    cpu = s.vms[0].cpu
    frame = next(f for f in range(0x100, 0x400) if f * 0x1000 not in s.vms[0].pages)
    cpu.unmap_frame(frame)
    cpu.remap_frame(frame)
    cpu.watch_frames({frame})
    cpu.watch_frames(set())
    s.run()
    assert s.vms[0].report.startswith("page fault at address 0x12345000")


@needs_gcc
@pytest.mark.parametrize("program,target,size", [("rmw_globals", "gd+4", 4),
                                                 ("rmw_globals", "vq", 8),
                                                 ("atomics", "counter", 4)])
def test_a_watched_gcc_program_stops_where_single_steps_stop(program, target, size,
                                                              tmp_path: Path):
    src = compile_to_asm(C_DIR / f"{program}.c", "-O2", tmp_path)
    stepped, hits = _by_steps(src, "nmr3", target, size, rounds=3)
    assert hits == 3
    assert _by_run(src, "nmr3", target, size, rounds=3) == stepped


def test_watchpoints_over_too_many_pages_are_refused():
    src = REP.format(n=300_000, last=0)
    s = Session(src, "on")
    with pytest.raises(SessionError, match="more than 64 pages"):
        s.run(watchpoints=[(s.address_of("buf"), 300_000)])


@pytest.mark.parametrize("kind,where", [("ce", "other"), ("ue", "other"), ("ue", "x")])
def test_a_watched_run_meets_memory_errors_on_the_watched_page_as_steps_do(kind, where):
    # the frame taken out of the map is mapped back write-protected; a ue rebuilds the
    # watched page on a new frame, which the watch follows
    body, target, size = WATCH_CASES["plain store"]
    src = "    .text\n    .globl main\n" + textwrap.dedent(body)

    def injected(how) -> tuple:
        s = Session(src, "nmr3")
        s.run(max_native=20)
        s.inject(kind, where)
        va = s.address_of(target)
        for _ in range(2):
            if how == "run":
                assert s.run(watchpoints=[(va, size)])[0]["stopped"] == "watch"
            else:
                _by_steps_on(s, va, size)
        return _state(s)

    stepped = injected("steps")
    assert {"ce": "ce", "ue": "recovered"}[kind] in [n["kind"] for n in stepped[4]]
    assert injected("run") == stepped

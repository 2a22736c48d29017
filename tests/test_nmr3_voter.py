"""NMR-3's voter in C (voteread.c) gives exactly what the Python voter gives: the same
votes, repairs, notes, counters and memory, on every bench workload and on the
injection stories, stepping and running. The C voter's read hook is installed only for
runs that start with copies that differ or an error pending; the Python voter (the
fallback without a compiler) hooks every read of every run, as both did before."""

from __future__ import annotations

import pytest

from app.bench.overhead import ORDER, compile_workload
from app.hypervisor import Hypervisor, native_counter, runner, voting
from app.machine.hooks import Hook
from app.rewriter.build import build
from app.session import Session
from tests.conftest import AFTER_FILL, SUM_ARRAY, needs_gcc, notes_of


@pytest.fixture
def python_voter(monkeypatch):
    """Switch the C voter off (as on a machine without a compiler)."""
    built = native_counter.library

    def without(name: str = "blockcount"):
        return None if name == "voteread" else built(name)
    return lambda: monkeypatch.setattr(voting.nc, "library", without)


def _end(hv, vm) -> tuple:
    return (vm.status, vm.exit_code, vm.counters.to_json(), list(hv.log), bytes(vm.mem.view))


def test_the_c_voter_is_in_use_where_it_can_be_built():
    s = Session(SUM_ARRAY, "nmr3")
    assert native_counter.library("voteread") is None or s.vms[0].voter is not None


@needs_gcc
@pytest.mark.parametrize("name", ORDER)
def test_a_workload_runs_alike_with_either_voter(name, tmp_path, python_voter):
    b = build(compile_workload(name, tmp_path), "nmr3")
    hv = Hypervisor(16 << 20)
    vm = hv.create_vm(b, "nmr3")
    runner.run(hv, vm)
    fast = _end(hv, vm)
    # no error: nothing to vote, and no run needed the read hook
    assert not [n for n in hv.log if n["kind"] == "vote"]
    assert vm.voter is None or (vm.voter.installs, vm.voter.hook) == (0, None)
    python_voter()
    hv = Hypervisor(16 << 20)
    vm = hv.create_vm(b, "nmr3")
    assert vm.voter is None
    runner.run(hv, vm)
    assert fast[0] == "exited" and _end(hv, vm) == fast


STORIES = [("silent", "table+8", 1), ("silent", "table+8", 2), ("silent", "table", 0),
           ("ue", "table+8", 0), ("ue", "table+8", 1), ("ce", "table+4", 2),
           ("ue", "total", 0), ("dimm", "table", 0)]


def _story(kind: str, target: str, copy: int, steps: int) -> tuple:
    s = Session(SUM_ARRAY, "nmr3")
    s.run(max_native=AFTER_FILL)
    s.inject(kind, target, copy=copy)
    for _ in range(steps):
        s.step()
    s.run()
    vm = s.vms[0]
    if vm.voter is not None:  # the error made a run (or a step) need the hook
        assert vm.voter.installs >= 1
    return _end(s.hv, vm) + (s.history_view()["position"],)


@pytest.mark.parametrize("steps", [25, 0])
@pytest.mark.parametrize("kind, target, copy", STORIES)
def test_an_injection_story_goes_alike_with_either_voter(kind, target, copy, steps,
                                                         python_voter):
    """Steps after the injection, then a run; or straight into a free run."""
    fast = _story(kind, target, copy, steps)
    python_voter()
    assert _story(kind, target, copy, steps) == fast


def test_a_run_with_no_error_has_no_read_hook():
    s = Session(SUM_ARRAY, "nmr3")
    vm = s.vms[0]
    if vm.voter is None:
        pytest.skip("no C compiler: the Python voter hooks every read")
    s.run()
    assert vm.status == "exited" and vm.exit_code == 1240
    assert vm.voter.installs == 0 and vm.voter.hook is None
    assert not notes_of(s, "vote")


def test_a_silent_error_is_voted_by_the_next_run_and_the_hook_goes(python_voter):
    """Run, inject, run: the run after the injection votes and repairs the odd copy; a
    run after the repair starts with equal copies and goes without the hook."""
    def story() -> tuple:
        s = Session(SUM_ARRAY, "nmr3")
        s.run(max_native=AFTER_FILL)
        s.inject("silent", "table+8", copy=1)
        s.run(max_native=10)  # table+8 is read (and voted) in these
        s.run()
        return s, _end(s.hv, s.vms[0])
    s, fast = story()
    vm = s.vms[0]
    assert [n["outcome"] for n in notes_of(s, "vote")] == ["repaired"]
    assert vm.exit_code == 1240
    if vm.voter is not None:
        assert vm.voter.installs == 1 and vm.voter.hook is None
    python_voter()
    assert story()[1] == fast


def _first_entry(b) -> int:
    """Native instructions from the start to the first function entry (main's)."""
    hv = Hypervisor(16 << 20)
    vm = hv.create_vm(b, "nmr3")
    while vm.cpu.reg("rip") not in vm.entry_at:
        assert runner.step(hv, vm) == "ok"
    return vm.counters.native_instructions


def test_a_run_from_a_function_entry_needs_no_read_hook(python_voter):
    """At an entry the return address the call pushed is on the native stack only (the
    entry's own instructions copy it, unvoted): the one difference a run may start
    with and still go without the hook."""
    b = build(SUM_ARRAY, "nmr3")
    n = _first_entry(b)

    def story() -> tuple:
        hv = Hypervisor(16 << 20)
        vm = hv.create_vm(b, "nmr3")
        runner.run(hv, vm, max_native=n)
        rsp = vm.cpu.reg("rsp")
        assert vm.cpu.reg("rip") in vm.entry_at
        assert [d["va"] for d in vm.mirror_mismatches()] == [rsp, rsp]
        runner.run(hv, vm)
        return vm, _end(hv, vm)
    vm, fast = story()
    assert fast[:2] == ("exited", 1240)
    if vm.voter is not None:
        assert vm.voter.installs == 0
    python_voter()
    assert story()[1] == fast


@needs_gcc
def test_an_error_injected_between_two_turns_of_a_long_run(tmp_path, python_voter):
    """A run in two turns (as the page runs it), a silent error in the native copy of
    the buffer the program sums between them: voted and repaired alike."""
    b = build(compile_workload("seq_read", tmp_path), "nmr3")

    def story() -> tuple:
        hv = Hypervisor(16 << 20)
        vm = hv.create_vm(b, "nmr3")
        assert runner.run(hv, vm, max_native=1_500_000, exact=False) == "limit"
        hv.inject("silent", vm=vm, va=vm.image.symbols["buf"] + 800, bit=5)
        runner.run(hv, vm)
        return vm, _end(hv, vm)
    vm, fast = story()
    assert [n["outcome"] for n in fast[3] if n["kind"] == "vote"] == ["repaired"]
    if vm.voter is not None:
        assert vm.voter.installs == 1 and vm.voter.hook is None
    python_voter()
    hv = Hypervisor(16 << 20)
    clean = hv.create_vm(b, "nmr3")
    runner.run(hv, clean)
    assert story()[1] == fast and fast[:2] == ("exited", clean.exit_code)


def test_turns_that_end_inside_groups_go_alike(python_voter):
    """Budgets of a few instructions stop runs between a native store and its mirror
    stores: the next run starts with copies that differ and has the hook, as before."""
    def story() -> tuple:
        hv = Hypervisor(16 << 20)
        vm = hv.create_vm(build(SUM_ARRAY, "nmr3"), "nmr3")
        n = 0
        while vm.status == "running":
            n += 7
            runner.run(hv, vm, max_native=n)
        return vm, _end(hv, vm)
    vm, fast = story()
    assert fast[:2] == ("exited", 1240)
    if vm.voter is not None:
        assert vm.voter.installs >= 1
    python_voter()
    assert story()[1] == fast


def _to_the_end(kind: str, target: str, copy: int, mode: str, stepped: bool) -> tuple:
    s = Session(SUM_ARRAY, mode)
    s.run(max_native=AFTER_FILL)
    s.inject(kind, target, copy=copy if mode == "nmr3" else min(copy, 1))
    if stepped:
        while s.running():
            s.step()
    else:
        s.run()
    return _end(s.hv, s.vms[0])


@pytest.mark.parametrize("mode", ["nmr3", "on"])
@pytest.mark.parametrize("kind, target, copy", STORIES)
def test_an_injection_story_ends_alike_stepped_and_run(kind, target, copy, mode):
    """Every native instruction single-stepped, or one free run: the same votes,
    repairs, notes, counters and memory. (A DIMM's lost code page, met when a `ret`
    fetched the next instruction, once cost the step count its `ret`.)"""
    run = _to_the_end(kind, target, copy, mode, False)
    # one mirror cannot outvote a silent flip of the native copy: a wrong sum, alike
    assert run[0] == "exited" and (run[1] == 1240) != (mode == "on" and kind == "silent"
                                                       and copy == 0)
    assert _to_the_end(kind, target, copy, mode, True) == run


def _next_reads(src: str, warm: int, count: int = 4) -> list[int]:
    """The first words (guest addresses) the workload reads from `warm` native
    instructions on, seen by Unicorn's own read hook in a session of their own."""
    s = Session(src, "nmr3")
    s.run(max_native=warm)
    _at_a_group_start(s)
    vm, seen = s.vms[0], []

    def on_read(_access: int, pa: int, _size: int, _value: int) -> None:
        where = vm.va_of(pa)
        if where is not None and where[0] & ~7 not in seen:
            seen.append(where[0] & ~7)
    h = vm.cpu.add_hook(Hook.READ, on_read)
    vm.cpu.uc.ctl_flush_tb()  # code translated before the hook would not call it
    for _ in range(3_000):
        if len(seen) >= count or vm.status != "running":
            break
        s.step()
    vm.cpu.remove_hook(h)
    return seen[:count]


def _at_a_group_start(s: Session) -> None:
    vm = s.vms[0]
    while vm.status == "running" and vm.cpu.reg("rip") not in vm.group_at:
        s.step("rewritten")


def _prefix(src: str, stepped: bool, reads: list[int], warm: int = 200_000,
            budget: int = 6_000) -> tuple:
    s = Session(src, "nmr3")
    s.run(max_native=warm)
    _at_a_group_start(s)
    vm = s.vms[0]
    for k, va in enumerate(reads):  # flips in a mirror copy of words it reads next
        s.inject("silent", f"{va:#x}", copy=1 + k % 2)
    if stepped:
        for _ in range(budget):
            s.step()
    else:
        s.run(max_native=budget)  # (counted from here)
        # a budget stops a run after its native instruction; its group's mirror part
        # is what a native step makes too
        _at_a_group_start(s)
    return _end(s.hv, vm)


@needs_gcc
@pytest.mark.parametrize("name", ORDER)
def test_a_workload_runs_alike_stepped_and_free_in_nmr3(name, tmp_path):
    """A run to a budget and the same native instructions single-stepped, from flips in
    the mirror copies of the words the workload reads next (200,000 instructions in):
    the same votes, repairs, notes, counters and memory."""
    src = compile_workload(name, tmp_path)
    reads = _next_reads(src, 200_000)
    run = _prefix(src, False, reads)
    assert run[0] == "running" and run[2]["native_instructions"] >= 206_000
    # (a workload that reads nothing there, in its arithmetic or a fill, has no vote)
    assert not reads or "repaired" in [n["outcome"] for n in run[3] if n["kind"] == "vote"]
    same = _prefix(src, True, reads) == run
    assert same  # (compared whole, not shown whole: the machine is megabytes)

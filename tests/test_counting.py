"""Run mode counts by basic blocks; it must leave exactly the counters that stepping
one instruction at a time leaves, with or without the C counter."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from app.examples import source
from app.hypervisor import counting, native_counter
from app.session import Session
from tests.conftest import C_DIR, compile_to_asm, needs_gcc

PROGRAM = source("sum_array")


def _stepped(src: str, mode: str) -> dict:
    s = Session(src, mode)
    vm = s.vms[0]
    while vm.status == "running":
        s.step("rewritten")
    return vm.counters.to_json()


def _ran(src: str, mode: str, budget: int | None = None) -> dict:
    s = Session(src, mode)
    s.run(max_native=budget)
    return s.vms[0].counters.to_json()


@needs_gcc
@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
def test_run_mode_counts_what_stepping_counts(mode, tmp_path: Path):
    # gcc -O2 aligns loops with .p2align: the padding NOPs run and count as executed
    src = compile_to_asm(C_DIR / "arrays_ptr.c", "-O2", tmp_path)
    stepped = _stepped(src, mode)
    assert stepped["executed_instructions"] > stepped["native_instructions"]
    assert _ran(src, mode) == stepped


def test_native_and_python_block_counters_agree(monkeypatch):
    def counts(budget):
        s = Session(PROGRAM, "nmr3")
        s.run(max_native=budget)
        return s.vms[0].counters.to_json(), s.vms[0].cpu.state()

    fast = [counts(b) for b in (None, 700, 1000)]
    assert Session(PROGRAM).vms[0].counting.native is not None
    monkeypatch.setattr(counting.nc, "library", lambda name="blockcount": None)
    assert Session(PROGRAM).vms[0].counting.native is None
    assert [counts(b) for b in (None, 700, 1000)] == fast


def test_a_block_cut_two_ways_at_one_address_counts_each_cut():
    # the CPU may translate the code at one address into blocks of different lengths;
    # each run must count its own span (a block entered mid-instruction never runs:
    # test_hidden_code)
    s = Session(PROGRAM, "on")
    vm = s.vms[0]
    cnt = vm.counting
    lib = native_counter.library()
    on_block = lib.on_block
    on_block.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32,
                         ctypes.POINTER(native_counter.Counter)]
    program = [a for a in cnt.addrs if a >= 0x400000]
    a = program[2]
    runs = [(a, program[6] - a), (a, program[4] - a), (a, program[6] - a),
            (program[3], program[6] - program[3]),
            (program[4], program[6] - program[4])]
    before = vm.counters.to_json()
    expected = dict(before)
    for addr, size in runs:
        i0, i1 = cnt.span(addr, addr + size)
        for f, name in enumerate(counting._FIELDS):
            expected[name] += cnt.cum[f][i1] - cnt.cum[f][i0]
    cnt.begin_run(None)
    for addr, size in runs:
        on_block(None, addr, size, ctypes.byref(cnt.native))
    cnt.end_run()
    assert vm.counters.to_json() == expected != before
    last = runs[-1]
    assert cnt.last == cnt.span(last[0], last[0] + last[1])


LOOP = """
    .text
    .globl main
main:
1:  movq %rax, buf(%rip)
    incq %rax
    cmpq $1000, %rax
    jne 1b
    ret
    .bss
buf: .zero 8
"""


@pytest.mark.parametrize("budget", [8, 9, 10, 11, 3000, 3001, 3002, 3003])
def test_a_budget_stops_run_mode_where_stepping_stops(budget):
    # the whole machine state, not only the counters: in a 4-instruction loop, counters
    # alone would not see a turn of the loop counted and not run
    def state(how):
        s = Session(LOOP, "on")
        vm = s.vms[0]
        if how == "run":
            s.run(max_native=budget)
        while vm.counters.native_instructions < budget:
            s.step("rewritten")
        return vm.counters.to_json(), vm.cpu.state()

    assert state("run") == state("step")


REP = """
main:
    leaq src(%rip), %rsi
    leaq dst(%rip), %rdi
    movl $4, %ecx
    rep movsb
    movl dst(%rip), %eax
    ret
    .data
src: .ascii "abcd"
dst: .long 0
"""


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_a_budget_reached_by_a_rep_element_stops_there(mode):
    # the blocks after the last element hold mirror instructions only (no native
    # ones): the free run must not slip through them past the budget
    def state(budget: int, how: str):
        s = Session(REP, mode)
        vm = s.vms[0]
        if how == "run":
            s.run(max_native=budget)
        while vm.status == "running" and vm.counters.native_instructions < budget:
            s.step("rewritten")
        return vm.counters.to_json(), vm.cpu.state()

    for budget in range(1, 30):
        assert state(budget, "run") == state(budget, "step"), budget


@pytest.mark.parametrize("mode", ["on", "nmr3"])
@pytest.mark.parametrize("name", ["sum_array", "calls_and_stack", "gcc_linked_list"])
def test_free_runs_after_single_steps_count_as_one_run(name, mode):
    """A free run after single steps first ends the deleted step hooks' listing with an
    empty emulation (VCpu.run): it must run and count nothing."""
    whole = Session(source(name), mode)
    whole.run()
    mixed = Session(source(name), mode)
    for k in (1, 3, 7):
        for _ in range(k):
            mixed.step()
        mixed.run(max_native=50)
    mixed.run()
    assert mixed.vms[0].counters.to_json() == whole.vms[0].counters.to_json()
    assert mixed.result() == whole.result()

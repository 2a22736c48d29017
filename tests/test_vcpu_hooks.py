"""The vCPU's hooks, in its own terms: a Python hook is called without the engine,
can stop the CPU, and an exception in one ends the run with that exception."""

from __future__ import annotations

import itertools

import pytest

from app.examples import source
from app.hypervisor import runner
from app.machine.cpu import Hook
from app.session import Session


def _vm():
    s = Session(source("sum_array"), "on")
    return s, s.vms[0]


def test_a_code_hook_sees_every_instruction_and_a_block_hook_every_block():
    s, vm = _vm()
    seen, blocks = [], []
    cpu = vm.cpu
    hooks = [cpu.add_hook(Hook.CODE, lambda a, n: seen.append((a, n))),
             cpu.add_hook(Hook.BLOCK, lambda a, n: blocks.append(a))]
    cpu.rewind(cpu.state())  # code translated before the hooks would not call them
    start = cpu.reg("rip")
    stop = cpu.run(count=50)  # the boot, straight to its page-table hypercall
    for h in hooks:
        cpu.remove_hook(h)
    assert stop.kind == "hypercall" and seen[0][0] == start and blocks == [start]
    assert all(a + n == b for (a, n), (b, _) in itertools.pairwise(seen))
    assert seen[-1][0] + seen[-1][1] == stop.rip


def test_a_hook_can_stop_the_cpu_and_stop_at_stops_in_front_of_its_address():
    s, vm = _vm()
    cpu = vm.cpu
    main = vm.image.symbols["main"]
    h = cpu.stop_at(main)
    cpu.rewind(cpu.state())
    while cpu.run(count=0).kind == "hypercall":
        s.hv.hypercall(vm)
        if cpu.reg("rip") == main:
            break
    cpu.remove_hook(h)
    assert cpu.reg("rip") == main


def test_stores_reach_a_write_hook_before_they_are_made():
    s, vm = _vm()
    stores, checked = [], 0

    class Listener:
        def stored(self, pa: int, size: int, value: int) -> None:
            stores.append((pa, size, value % (1 << 8 * size)))

        def refused(self, count: int) -> None:
            del stores[-count:]
    vm.cpu.store_listener = Listener()
    while vm.status == "running":
        stores.clear()
        runner.step(s.hv, vm)
        if len(stores) == 1:  # one store: the memory holds its value now
            pa, size, value = stores[0]
            assert int.from_bytes(vm.mem.view[pa:pa + size], "little") == value
            checked += 1
    vm.cpu.store_listener = None
    assert checked > 10


def test_an_exception_in_a_hook_ends_the_run_with_it():
    s, vm = _vm()

    def broken(address: int, size: int) -> None:
        raise RuntimeError(f"hook at {address:#x}")
    h = vm.cpu.add_code_hook(broken, vm.image.symbols["main"])
    with pytest.raises(RuntimeError, match="hook at"):
        runner.run(s.hv, vm)
    vm.cpu.remove_hook(h)


def test_the_hook_kinds_are_named_in_the_machines_terms():
    assert {k.name for k in Hook} == {"CODE", "BLOCK", "READ", "WRITE", "WATCHED_WRITE"}

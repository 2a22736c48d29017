"""Every stateful component saves and restores its own state, and says of every
attribute it holds whether its save covers it (STATE) or why not (DERIVED). A field
added without a word fails here; one declared saved but not restored, or not undone,
fails the round trips, which compare every saved attribute, whole, with what it was."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from app.hypervisor.console import Console
from app.hypervisor.core import Hypervisor
from app.hypervisor.faults import Faults
from app.hypervisor.vm import VM, VmState
from app.machine.cpu import VCpu
from app.machine.memory import MachineMemory
from app.session import Session
from app.session.saved import from_bytes, to_bytes
from tests.conftest import AFTER_FILL, SUM_ARRAY

COMPONENTS = (Hypervisor, MachineMemory, Faults, VM, VCpu, Console)


def parts(hv: Hypervisor) -> list[tuple[str, object]]:
    out = [("hypervisor", hv), ("memory", hv.mem), ("faults", hv.faults)]
    for vm in hv.vms:
        out += [(f"vm {vm.id}", vm), (f"vm {vm.id} cpu", vm.cpu),
                (f"vm {vm.id} console", vm.console)]
    return out


def state_of(x):
    """Everything `x` holds as state, as plain values: a component's STATE attributes
    (a vCPU's registers too, which live in the engine), containers walked, values
    copied."""
    if isinstance(x, COMPONENTS):
        out = {name: state_of(getattr(x, name)) for name in type(x).STATE}
        if isinstance(x, VCpu):
            out["registers"] = x.state()
        return out
    if isinstance(x, memoryview):
        return bytes(x)
    if isinstance(x, dict):
        return {k: state_of(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [state_of(v) for v in x]
    return copy.deepcopy(x)  # pages, counters, buffers change in place


def perturb(obj, name: str) -> None:
    """Change one saved attribute in place, whatever its type (a part it holds is
    perturbed on its own)."""
    v = getattr(obj, name)
    if isinstance(obj, VCpu) and name == "holes":
        obj.unmap_frame(max(v, default=100) + 1)
    elif isinstance(v, memoryview):
        v[0] ^= 0xFF
    elif isinstance(v, bytearray):
        v += b"!"
    elif isinstance(v, set):
        v.add(-1)
    elif isinstance(v, dict):
        v[-1] = next(iter(v.values()), 0)
    elif isinstance(v, list):
        v.append(v[-1] if v else {})
    elif dataclasses.is_dataclass(v):
        first = dataclasses.fields(v)[0].name
        setattr(obj, name, dataclasses.replace(v, **{first: getattr(v, first) + 1}))
    elif isinstance(v, int):
        setattr(obj, name, v + 1)
    else:
        setattr(obj, name, f"{v}!")


def saved_attributes(hv: Hypervisor) -> list[tuple[str, object, str]]:
    """(part, object, attribute) of every saved attribute that is not a part itself."""
    return [(label, obj, name) for label, obj in parts(hv) for name in type(obj).STATE
            if not isinstance(getattr(obj, name), COMPONENTS)
            and not (isinstance(getattr(obj, name), list) and
                     any(isinstance(x, COMPONENTS) for x in getattr(obj, name)))]


def busy(mode: str = "on", compare: bool = True) -> Session:
    """A session that has mapped pages, recovered from errors, printed, counted."""
    s = Session(SUM_ARRAY, mode, compare=compare)
    s.run(max_native=AFTER_FILL)
    for _ in range(3):
        s.step()
    s.inject("ce", "table")
    s.inject("ue", "table+8")
    s.run(max_native=40, watchpoints=[(s.address_of("table"), 8)])
    for _ in range(5):
        s.step()
    return s


@pytest.mark.parametrize("kind", COMPONENTS, ids=lambda k: k.__name__)
def test_each_component_declares_what_it_saves(kind):
    assert set(kind.STATE).isdisjoint(kind.DERIVED)
    assert len(set(kind.STATE)) == len(kind.STATE)


@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
def test_every_attribute_is_saved_or_declared_derived(mode):
    s = busy(mode, compare=mode != "off")
    s.run()  # to the exit: a run's attributes too
    for name, obj in parts(s.hv):
        kind = type(obj)
        held = set(vars(obj))
        assert held - set(kind.STATE) - set(kind.DERIVED) == set(), name
        assert set(kind.STATE) <= held, name


# what a VM may hold as None from its creation on: nothing left for others to fill in
MAY_BE_NONE = {"exit_code", "report", "fault_line", "watch", "voter", "_saved_mappings"}


def test_a_vm_is_complete_when_constructed():
    s = Session(SUM_ARRAY, "nmr3", compare=True)
    for vm in s.vms:
        assert [n for n, v in vars(vm).items() if v is None and n not in MAY_BE_NONE] == []
    made = {vm.id: set(vars(vm)) for vm in s.vms}
    made_hv = set(vars(s.hv))
    s.run(max_native=AFTER_FILL)
    s.inject("ue", "table")
    s.run()
    assert {vm.id: set(vars(vm)) for vm in s.vms} == made
    assert set(vars(s.hv)) == made_hv
    # what a VM saves is VmState, field by field
    assert tuple(f.name for f in dataclasses.fields(VmState)) == VM.STATE


def test_the_hypervisors_services_hold_nothing_of_their_own():
    """Recovery and injection hold only what the hypervisor handed them (so its save
    covers them): its parts, or another service's methods."""
    hv = busy().hv
    mine = (hv.mem, hv.faults, hv.vms)
    for service in (hv.recovery, hv.injection):
        for name, value in vars(service).items():
            owner = getattr(value, "__self__", None)
            assert any(value is p for p in mine) or owner in (hv, hv.recovery), name


def test_the_hypervisor_saves_and_loads_every_part_whole():
    s = busy()
    saved, before = s.hv.save(), state_of(s.hv)
    s.inject("silent", "table+16")
    s.inject("dimm", "dimm:2")
    s.run()
    assert state_of(s.hv) != before
    s.hv.load(saved)
    assert state_of(s.hv) == before


def test_a_load_puts_back_every_saved_attribute_changed_alone():
    s = busy("nmr3")
    hv = s.hv
    for label, obj, name in saved_attributes(hv):
        saved, before = hv.save(), state_of(hv)
        perturb(obj, name)
        assert state_of(hv) != before, (label, name)
        hv.load(saved)
        assert state_of(hv) == before, (label, name)
    # a VM's register set too (it lives in the engine)
    cpu = hv.vms[0].cpu
    saved, before = hv.save(), state_of(hv)
    cpu.set_reg("rax", cpu.reg("rax") + 1)
    hv.load(saved)
    assert state_of(hv) == before


def test_a_step_undo_keeps_the_whole_vm_when_anything_else_changed():
    """The cheap undo puts back registers, counters and console only: a change of any
    other field of the VM must make the record keep the whole state."""
    s = busy()
    vm = s.vms[0]
    for name in VM.STATE:
        if name in ("cpu", "counters", "console"):
            continue
        state = vm.save()
        assert vm.unchanged_since(state)
        perturb(vm, name)
        assert not vm.unchanged_since(state), name
        vm.load(state)
    state = vm.save()
    vm.cpu.unmap_frame(max(vm.cpu.holes, default=100) + 1)
    assert not vm.unchanged_since(state)
    vm.load(state)


def test_a_checkpoint_restores_every_part_whole():
    s = busy("nmr3")
    blob = to_bytes(s.save())
    head, machine = from_bytes(blob)
    fresh = Session(SUM_ARRAY, "nmr3", compare=True)
    fresh.hv.load(machine)
    assert state_of(fresh.hv) == state_of(s.hv)
    # and written again, every part writes itself as it was read
    assert fresh.hv.save().to_json() == {k: head[k] for k in ("owners", "faults", "log", "vms")}


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_undo_restores_every_saved_attribute(mode):
    s = Session(SUM_ARRAY, mode, compare=True)
    commands = ([lambda: s.run(max_native=AFTER_FILL)] + [s.step] * 3
                + [lambda: s.step("rewritten"), lambda: s.inject("ce", "table"),
                   lambda: s.inject("ue", "table+8"), s.step, s.step,
                   lambda: s.inject("silent", "table+16"),
                   lambda: s.run(max_native=25), lambda: s.inject("dimm", "dimm:2"),
                   s.step, lambda: s.run(max_native=500)])
    states = []
    for command in commands:
        states.append(state_of(s.hv))
        command()
    # each command undone whole (a back from a run would go one instruction into it)
    for expected in reversed(states):
        s.undo_newest()
        assert state_of(s.hv) == expected

"""Bytes the CPU can be sent into that are not the program's instructions: the middle
of one (an immediate's bytes can encode any other instruction), the code's page past
its last instruction, and data. None of them runs, in any mode: each ends the VM in a
fault that says where, alike in a free run and in single steps, and the mirror stays
whole (the rewriter checked and mirrored the instructions, not the bytes inside them)."""

from __future__ import annotations

import pytest

from app.hypervisor import counting
from app.machine.paging import translate
from app.session import Session
from tests.test_state import state_of

HIDDEN = """\
    .text
    .globl main
main:
    leaq value(%rip), %rdi
    movq $99, %rax
    leaq hidden+2(%rip), %rbx
    call *%rbx
    movl $7, %eax
    ret
hidden:
    movabsq ${imm:#x}, %rcx
    ret
    .data
value: .quad 0
"""
HIDDEN_LINE = 11
# what the immediate's bytes are, run from its first byte (each ends in a ret)
PAYLOADS = {
    "a store with no mirror": b"\x48\x89\x07\xc3",   # movq %rax, (%rdi); ret
    "mov %rax, %cr3": b"\x0f\x22\xd8\xc3",
    "wrmsr": b"\x0f\x30\xc3",
    "hlt": b"\xf4\xc3",
}
PAST_THE_END = """\
    .text
    .globl main
main:
    leaq value(%rip), %rax
    leaq last(%rip), %rbx
    addq $0x800, %rbx
    jmp *%rbx
last:
    ret
    .data
value: .quad 0
"""
INTO_DATA = """\
    .text
    .globl main
main:
    leaq value(%rip), %rdi
    leaq code(%rip), %rbx
    call *%rbx
    ret
    .data
value: .quad 0
code: .byte 0x48, 0x89, 0x07, 0xc3
"""


def _hidden(payload: bytes) -> str:
    return HIDDEN.format(imm=int.from_bytes(payload.ljust(8, b"\x90"), "little"))


def _ended(src: str, mode: str, how: str) -> Session:
    s = Session(src, mode)
    if how == "run":
        s.run(max_native=10_000)
    else:
        for _ in range(200):
            if s.inspect().status != "running":
                break
            s.step("rewritten")
    return s


def _value(s: Session) -> int:
    vm = s.vms[0]
    return int.from_bytes(vm.mem.read(translate(vm.mem, vm.cr3, s.address_of("value")), 8),
                          "little")


@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
@pytest.mark.parametrize("name", PAYLOADS)
def test_a_jump_into_an_instruction_runs_none_of_its_bytes(mode, name):
    src = _hidden(PAYLOADS[name])
    ran = {how: _ended(src, mode, how) for how in ("run", "step")}
    for how, s in ran.items():
        error = s.result()["error"]
        assert s.inspect().status == "fault", (how, s.result())
        assert error["line"] == HIDDEN_LINE, how
        assert error["message"].startswith(
            "a jump into the middle of an instruction, 2 bytes into it"), how
        assert "movabsq" in error["message"], how
        assert _value(s) == 0 and s.inspect().mirror_consistent is not False, how
    same = state_of(ran["run"].hv) == state_of(ran["step"].hv)
    assert same  # (compared whole, not shown whole: the machine is megabytes)


@pytest.mark.parametrize("mode", ["off", "on"])
def test_the_code_page_past_the_last_instruction_does_not_run(mode):
    # zero bytes there decode as `add %al, (%rax)`: a store nothing mirrors
    for how in ("run", "step"):
        s = _ended(PAST_THE_END, mode, how)
        error = s.result()["error"]
        assert s.inspect().status == "fault" and error["line"] is None, how
        assert error["message"].startswith("execution past the end of the code"), how
        assert _value(s) == 0 and s.inspect().mirror_consistent is not False, how


def test_the_python_block_counter_stops_it_too(monkeypatch):
    monkeypatch.setattr(counting.nc, "library", lambda name="blockcount": None)
    s = _ended(_hidden(PAYLOADS["a store with no mirror"]), "on", "run")
    assert s.vms[0].counting.native is None
    assert s.inspect().status == "fault" and s.result()["error"]["line"] == HIDDEN_LINE
    assert _value(s) == 0 and s.inspect().mirror_consistent


def test_a_jump_into_data_faults_on_the_fetch_alike_stepped_and_run():
    # the call ran (its return address is pushed and counted); the fetch at its target
    # is what faults, in a run and in single steps
    ran = {how: _ended(INTO_DATA, "on", how) for how in ("run", "step")}
    for how, s in ran.items():
        error = s.result()["error"]
        assert error["line"] is None, how
        assert error["message"] == (
            f"page fault fetching an instruction at {s.address_of('code'):#x} (only the "
            "code's pages can be run: a jump, call or return to data or to nothing)"), how
    assert ran["run"].result()["counters"] == ran["step"].result()["counters"]


def test_every_instruction_start_is_allowed_and_only_those():
    s = Session(_hidden(PAYLOADS["wrmsr"]), "on")
    c = s.vms[0].counting
    for a in c.addrs:
        assert not c.enters_inside(a)
    starts = set(c.addrs)
    inside = [a + 1 for a in c.addrs if a + 1 not in starts]
    assert inside and all(c.enters_inside(a) for a in inside)  # the kernel's too
    assert any(a < 0x400000 for a in inside) and any(a >= 0x400000 for a in inside)

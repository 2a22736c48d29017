"""What a guest program may not do: escape the hypervisor (the program runs in ring 0),
depend on time or chance, call system calls that do not exist, or use an FPU save the
mirror cannot repeat. Each is refused before the run with its line."""

from __future__ import annotations

import pytest

from app.session import Session, SessionError


def _refusal(body: str, mode: str) -> SessionError:
    with pytest.raises(SessionError) as e:
        Session(f"main:\n    nop\n{body}\n    ret\n    .bss\nbuf: .zero 128\n", mode)
    return e.value


@pytest.mark.parametrize("mode", ["off", "on"])
@pytest.mark.parametrize("line, words", [
    ("movq %rax, %cr3", "control and debug registers"),
    ("movq %cr0, %rax", "control and debug registers"),
    ("lidt buf(%rip)", "mmu_update"),
    ("wrmsr", "privileged"),
    ("wbinvd", "privileged"),
    ("cli", "interrupts"),
    ("iretq", "privilege levels"),
    ("outb %al, $0x60", "no ports"),
    ("hlt", "returning from main"),
    ("rdtsc", "replay exactly"),
    ("rdtscp", "replay exactly"),
    ("rdrand %eax", "replay exactly"),
    ("int $0x80", "no system calls"),
    ("int3", "no system calls"),
    ("syscall", "no system calls"),
])
def test_instructions_a_guest_may_not_run(mode, line, words):
    e = _refusal(f"    {line}", mode)
    assert e.line == 3 and "is not allowed" in str(e) and words in str(e)


def test_the_hypercall_and_ordinary_system_instructions_are_allowed():
    s = Session("main:\n    cpuid\n    movl $2, %eax\n    leaq m(%rip), %rdi\n"
                "    movl $2, %esi\n    int $0x82\n    xorl %eax, %eax\n    ret\n"
                "    .section .rodata\nm: .ascii \"ok\"\n", "on")
    s.run()
    assert s.result()["console"] == "ok"


@pytest.mark.parametrize("line, words", [
    ("fnsave buf(%rip)", "re-initialises the FPU"),
    ("fnstenv buf(%rip)", "masks every FPU exception"),
])
def test_fpu_saves_that_change_the_fpu_cannot_be_mirrored(line, words):
    e = _refusal(f"    fldpi\n    {line}", "on")
    assert e.line == 4 and "cannot mirror" in str(e) and words in str(e)
    s = Session(f"main:\n    fldpi\n    {line}\n    xorl %eax, %eax\n    ret\n"
                "    .bss\nbuf: .zero 128\n", "off")   # unmirrored, it simply runs
    s.run()
    assert s.result()["status"] == "exited"
    assert all(len(g.members) == 1 for g in s.build.rewritten.groups)   # nothing added


@pytest.mark.parametrize("waiting, plain", [("fsave", "fnsave"), ("fstcw", "fnstcw"),
                                            ("fstenv", "fnstenv")])
def test_waiting_fpu_forms_are_two_instructions(waiting, plain):
    e = _refusal(f"    {waiting} buf(%rip)", "off")
    assert e.line == 3 and f"fwait and then {plain}" in str(e)

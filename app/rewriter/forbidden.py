"""Instructions a guest program may not contain, mirrored or not.

The program runs in the guest kernel's ring 0 (the machine has no user mode), so the
CPU itself would let it load CR3 or its own descriptor tables and walk around
`mmu_update`, the one door to its page tables. These are refused before the program
runs, as are instructions whose results differ from run to run (a session must replay
exactly) and traps to system calls that do not exist here.
"""

from __future__ import annotations

import re

from app.abi import HYPERCALL_VECTOR
from app.rewriter.classify import Decoded

_PAGE_TABLES = "a guest changes its page tables only through the mmu_update hypercall"
_PRIVILEGED = {
    **dict.fromkeys(("lgdt", "lidt", "lldt", "ltr", "lmsw", "clts", "invlpg", "invlpga",
                     "invpcid", "invd", "wbinvd", "wrmsr", "rdmsr", "swapgs", "xsetbv",
                     "wrfsbase", "wrgsbase", "rdpmc"),
                    f"privileged: only the hypervisor may do this ({_PAGE_TABLES})"),
    **dict.fromkeys(("cli", "sti", "iret", "iretd", "iretq", "sysret", "sysretq",
                     "sysexit", "sysexitq"),
                    "privileged: interrupts and privilege levels belong to the guest kernel"),
    **dict.fromkeys(("in", "out", "insb", "insw", "insd", "outsb", "outsw", "outsd"),
                    "port I/O: the machine has no ports (the console is a hypercall or "
                    "the UART page)"),
    "hlt": "hlt would stop the virtual CPU for good: end the program by returning "
           "from main",
}
_NONDETERMINISTIC = {
    name: f"{name} gives a different result on every run, and a session must replay "
          "exactly" for name in ("rdtsc", "rdtscp", "rdrand", "rdseed", "rdpid")
}
_NO_SYSCALLS = ("there are no system calls here: print with the console hypercall "
                f"(int ${HYPERCALL_VECTOR:#x}, rax=2) and end by returning from main")
_CONTROL_REG = re.compile(r"%(cr|dr|db)\d+")


def forbidden(d: Decoded) -> str | None:
    """Why a program may not run this instruction, or None."""
    name = d.name
    if name in _PRIVILEGED:
        return _PRIVILEGED[name]
    if name in _NONDETERMINISTIC:
        return _NONDETERMINISTIC[name]
    if name == "mov" and _CONTROL_REG.search(d.op_str):
        return f"privileged: control and debug registers belong to the hypervisor " \
               f"({_PAGE_TABLES})"
    if name in ("syscall", "sysenter", "int3", "int1", "into"):
        return _NO_SYSCALLS
    if name == "int" and d.imm_values != (HYPERCALL_VECTOR,):
        return _NO_SYSCALLS
    return None

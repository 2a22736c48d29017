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
from app.asm.errors import AsmError
from app.asm.expr import excerpt
from app.asm.parser import Align, Bytes, Data, Fill, Program
from app.rewriter.classify import Decoded, decode

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


_PREFIXES = {0xF0: "lock", 0xF2: "repne", 0xF3: "rep", 0x66: "data16", 0x67: "addr32"}
_NOP = 0x90


def data_in_code(program: Program) -> AsmError | None:
    """Bytes given as data in the program's code, or None. The CPU would run them as
    instructions that nothing has checked or mirrored (a `.byte` could hold `mov %rax,
    %cr3`, or a store with no mirror); and as data they cannot be rewritten, since the
    mirrored code around them moves. So code is only ever written as instructions."""
    for it in program.sections["text"]:
        raw = _raw_bytes(it)
        if raw == b"" or (isinstance(it, Align) and it.fill in (None, _NOP)):
            continue
        written = excerpt(program.lines.get(("program", it.line), ""))
        if isinstance(it, Align):
            return AsmError(f"'{written}' pads code with {it.fill:#04x}, which would run as "
                            "an instruction: leave the fill out (code is padded with NOPs)",
                            it.line)
        return AsmError(f"'{written}' puts data into code, where it would run as "
                        f"instructions that are never checked or mirrored{_hint(raw)}; put "
                        "data in .data or .rodata, and write instructions by name", it.line)
    return None


def _raw_bytes(it) -> bytes | None:
    """The item's bytes when they are known before layout; b"" when it has none."""
    if isinstance(it, Bytes):
        return it.data
    if isinstance(it, Fill):
        return bytes([it.value]) * min(it.size, 16)
    if isinstance(it, Data):
        if not it.exprs:
            return b""
        values = [e.constant for e in it.exprs]
        if any(v is None for v in values):
            return None
        mask = (1 << (8 * it.size)) - 1
        return b"".join((v & mask).to_bytes(it.size, "little") for v in values)
    return None if isinstance(it, Align) else b""


def _hint(raw: bytes | None) -> str:
    if not raw:
        return ""
    if len(raw) == 1 and raw[0] in _PREFIXES:
        return (f" ({raw[0]:#04x} is the prefix '{_PREFIXES[raw[0]]}': write it before the "
                f"instruction, as in '{_PREFIXES[raw[0]]} ret')")
    try:
        d = decode(raw, 0)
    except ValueError:
        return ""
    return f" (these bytes are '{f'{d.mnemonic} {d.op_str}'.strip()}')"

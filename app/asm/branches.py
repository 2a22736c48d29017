"""Direct branches, encoded by the assembler itself: short until a target is out of
reach (then long for good, so that the layout settles), with displacements it works
out from the layout rather than Keystone's."""

from __future__ import annotations

import struct

from app.asm.errors import AsmError
from app.asm.operand import Target
from app.asm.parser import Insn

_CC = {"o": 0, "no": 1, "b": 2, "c": 2, "nae": 2, "ae": 3, "nb": 3, "nc": 3, "e": 4, "z": 4,
       "ne": 5, "nz": 5, "be": 6, "na": 6, "a": 7, "nbe": 7, "s": 8, "ns": 9, "p": 10,
       "pe": 10, "np": 11, "po": 11, "l": 12, "nge": 12, "ge": 13, "nl": 13, "le": 14,
       "ng": 14, "g": 15, "nle": 15}
_SHORT_ONLY = {"loop": b"\xe2", "loope": b"\xe1", "loopz": b"\xe1", "loopne": b"\xe0",
               "loopnz": b"\xe0", "jrcxz": b"\xe3", "jecxz": b"\x67\xe3"}


def direct_branch(insn: Insn) -> tuple[str, str] | None:
    """('jmp'|'jcc'|'call'|'short', cc) for a branch to a bare target, else None."""
    if len(insn.operands) != 1 or not isinstance(insn.operands[0], Target):
        return None
    m = insn.mnemonic
    if m in ("jmp", "jmpq"):
        return ("jmp", "")
    if m in ("call", "callq"):
        return ("call", "")
    if m in _SHORT_ONLY:
        return ("short", m)
    if m.startswith("j") and m[1:] in _CC:
        return ("jcc", m[1:])
    raise AsmError(f"unknown branch '{m}'", insn.line, insn.origin)


def encode_branch(kind: str, cc: str, address: int, target: int, long: bool) -> bytes:
    if kind == "call":
        return b"\xe8" + struct.pack("<i", _rel(target - (address + 5)))
    if kind == "short":
        op = _SHORT_ONLY[cc]
        rel = target - (address + len(op) + 1)
        if not -128 <= rel < 128:
            raise AsmError(f"'{cc}' target out of short range")
        return op + struct.pack("<b", rel)
    short_op = b"\xeb" if kind == "jmp" else bytes([0x70 | _CC[cc]])
    rel8 = target - (address + 2)
    if not long and -128 <= rel8 < 128:
        return short_op + struct.pack("<b", rel8)
    if kind == "jmp":
        return b"\xe9" + struct.pack("<i", _rel(target - (address + 5)))
    return bytes([0x0F, 0x80 | _CC[cc]]) + struct.pack("<i", _rel(target - (address + 6)))


def _rel(v: int) -> int:
    if not -(1 << 31) <= v < 1 << 31:
        raise AsmError("branch target out of range")
    return v

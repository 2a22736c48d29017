"""Check every encoding against what was asked, by decoding it again with Capstone.

Keystone silently drops or changes operands in some forms (an index next to %rip,
a displacement read in the wrong base); a wrong encoding here would make the lesson
false, so any difference is an error naming the line.
"""

from __future__ import annotations

from capstone import CS_ARCH_X86, CS_MODE_64, Cs
from capstone import x86_const as C

from app.asm.errors import AsmError
from app.asm.operand import Imm, Indirect, Mem

_CS = Cs(CS_ARCH_X86, CS_MODE_64)
_CS.detail = True


def _mask(v: int) -> int:
    return v & 0xFFFF_FFFF_FFFF_FFFF


def check(placed, lookup) -> None:
    """placed: an app.asm.layout.Placed; lookup: symbol -> value."""
    insn = placed.insn
    decoded = next(_CS.disasm(placed.encoding, placed.address), None)
    if decoded is None or decoded.size != placed.size:
        raise AsmError(f"the assembler produced undecodable bytes for '{insn.text()}'",
                       insn.line, insn.origin)
    mems = [op.inner if isinstance(op, Indirect) else op for op in insn.operands]
    mems = [m for m in mems if isinstance(m, Mem)]
    got = [op for op in decoded.operands if op.type == C.X86_OP_MEM]
    end = placed.address + placed.size
    for want, have in zip(mems, got, strict=False):
        disp = want.disp.value(lookup) if want.disp is not None else 0
        base = decoded.reg_name(have.mem.base) if have.mem.base else None
        index = decoded.reg_name(have.mem.index) if have.mem.index else None
        if want.base == "rip" or (want.base is None and want.index is None):
            target = end + have.mem.disp if base == "rip" else have.mem.disp
            ok = _mask(target) == _mask(disp) and index is None
        else:
            ok = (base == want.base and index == want.index and _mask(have.mem.disp)
                  == _mask(disp) and (want.index is None or have.mem.scale == want.scale))
        if not ok:
            raise AsmError(f"'{insn.text()}' does not encode as written (the encoder "
                           f"produced '{decoded.mnemonic} {decoded.op_str}')",
                           insn.line, insn.origin)
    imms = [op.expr.value(lookup) for op in insn.operands if isinstance(op, Imm)]
    have_imms = [op.imm for op in decoded.operands if op.type == C.X86_OP_IMM]
    for want, have in zip(imms, have_imms, strict=False):
        width = 64 if decoded.mnemonic.startswith("movabs") else 32
        if want < -(1 << 63) or want >= 1 << 64:
            raise AsmError(f"immediate {want} is out of range", insn.line, insn.origin)
        if _mask(have) & ((1 << width) - 1) != _mask(want) & ((1 << width) - 1) and (
                _mask(have) & 0xFF) != (_mask(want) & 0xFF):
            raise AsmError(f"'{insn.text()}' does not encode as written (immediate "
                           f"{want:#x} became {have:#x})", insn.line, insn.origin)

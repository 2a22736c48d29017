"""Check every encoding against what was asked, by decoding it again with Capstone.

Keystone silently drops or changes operands in some forms (an index next to %rip,
a displacement read in the wrong base); a wrong encoding here would make the lesson
false, so any difference is an error naming the line.
"""

from __future__ import annotations

from app.asm.decoder import OP_IMM, OP_MEM, OP_REG, first
from app.asm.errors import AsmError
from app.asm.memo import Memo
from app.asm.operand import Imm, Indirect, Mem, Reg
from app.asm.registers import family


def _mask(v: int) -> int:
    return v & 0xFFFF_FFFF_FFFF_FFFF


# (text, encoding) pairs found right. The text is what the bytes were made from, every
# value in it resolved (a RIP-relative operand as its displacement), so the check's
# outcome depends on the pair alone: the same pair anywhere, in any load, checks alike
_RIGHT: Memo[bool] = Memo()


def check(placed, lookup, text: str | None = None) -> None:
    """placed: an app.asm.layout.Placed; lookup: symbol -> value; `text`: what its
    bytes were made from (the layout's `made_from`), to remember the check by; None
    checks without remembering."""
    key = None if text is None else (text, placed.encoding)
    if key is not None and _RIGHT.get(key):
        return
    _check(placed, lookup)
    if key is not None:
        _RIGHT.put(key, True)


def _check(placed, lookup) -> None:
    insn = placed.insn
    decoded = first(placed.encoding, placed.address)
    if decoded is not None and decoded.mnemonic == "wait" and decoded.size < placed.size:
        # fsave, fstenv, finit, fclex, fstcw, fstsw: a wait and then the fn... form
        m = insn.mnemonic
        raise AsmError(f"'{m}' is two instructions, fwait and then fn{m[1:]}: write "
                       "those two lines", insn.line, insn.origin)
    if decoded is None or decoded.size != placed.size:
        raise AsmError(f"the assembler produced undecodable bytes for '{insn.text()}'",
                       insn.line, insn.origin)
    mems = [op.inner if isinstance(op, Indirect) else op for op in insn.operands]
    mems = [m for m in mems if isinstance(m, Mem)]
    got = [op for op in decoded.operands if op.type == OP_MEM]
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
    have_imms = [op for op in decoded.operands if op.type == OP_IMM]
    for want, have in zip(imms, have_imms, strict=False):
        bits = 8 * (have.size or 8)
        fits = -(1 << (bits - 1)) <= want < (1 << bits)
        if not fits or _mask(have.imm) % (1 << bits) != want % (1 << bits):
            raise AsmError(f"immediate {want:#x} does not fit '{insn.mnemonic}' "
                           f"(it would encode as {have.imm:#x})", insn.line, insn.origin)
    want_regs = {op.name for op in insn.operands if isinstance(op, Reg)
                 and family(op.name)}
    have_regs = {decoded.reg_name(op.reg) for op in decoded.operands
                 if op.type == OP_REG}
    if not want_regs <= have_regs:
        raise AsmError(f"'{insn.text()}' does not encode as written (the encoder "
                       f"produced '{decoded.mnemonic} {decoded.op_str}')",
                       insn.line, insn.origin)

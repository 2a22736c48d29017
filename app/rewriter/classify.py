"""Which instructions write memory, and how each write must be mirrored.

Capstone's operand access flags are wrong for several writers (stos, movnti, fistp,
cmpxchg16b, SSE movq stores are reported as reads) and it does not list implicit
writers at all, so the class comes from the instruction's name, checked against
Unicorn's own write hook by the test suite.

Classes:
  none      no memory write
  repeat    do the same store again at the mirrored operand (plain stores, and
            read-modify-writes whose result depends only on the old memory value,
            so the repeat on an equal mirror sets the same flags)
  copy      copy the memory result to the mirror through a scratch register (the
            instruction also writes registers, reads the carry flag, or pops)
  push      push of a register or immediate: store the same value at offset(%rsp)
  stack     other pushes: copy the new top of stack
  call      the return address is mirrored at the callee's entry
  enter     copy the saved frame pointer at (%rbp)
  string    [rep] stos/movs: run again on the mirror with rdi/rsi moved by the offset
  refuse    cannot be mirrored correctly here; the rewriter stops with a message
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from app.asm.decoder import GROUP_BRANCH_RELATIVE, OP_IMM, OP_MEM, OP_REG, first
from app.asm.memo import Memo

_STORE = {
    "mov", "movabs", "movnti", "movbe", "movaps", "movups", "movapd", "movupd", "movdqa", "movdqu",
    "movntdq", "movntps", "movntpd", "movq", "movd", "movss", "movsd", "movhps", "movlps",
    "movhpd", "movlpd", "pextrb", "pextrw", "pextrd", "pextrq", "extractps", "stmxcsr",
    "fnstcw", "fnstsw", "fxsave", "fxsave64", "fst", "fist", "sgdt", "sidt", "sldt", "str",
    "smsw",
}
_RMW_REPEAT = {
    "add", "sub", "and", "or", "xor", "inc", "dec", "neg", "not", "shl", "sal", "shr", "sar",
    "rol", "ror", "shld", "shrd", "bts", "btr", "btc",
}
_RMW_COPY = {"adc", "sbb", "rcl", "rcr", "xchg", "xadd", "cmpxchg", "cmpxchg8b", "cmpxchg16b",
             "fstp", "fistp", "fisttp", "fbstp", "pop"}
_STRING = {"stosb", "stosw", "stosd", "stosq", "movsb", "movsw", "movsd", "movsq"}
_REFUSE = {
    "insb": "ins writes memory from a port: devices are not modelled",
    "insw": "ins writes memory from a port: devices are not modelled",
    "insd": "ins writes memory from a port: devices are not modelled",
    "xsave": "xsave writes a variable-size area", "xsaveopt": "xsave writes a variable-size area",
    "xsavec": "xsave writes a variable-size area", "xsaves": "xsave writes a variable-size area",
    "maskmovdqu": "maskmovdqu writes an implicit, masked destination",
    "maskmovq": "maskmovq writes an implicit, masked destination",
    # they change the FPU after saving it, so a second save on the mirror would differ
    "fnsave": "fnsave re-initialises the FPU after saving it (fxsave does not)",
    "fsave": "fsave re-initialises the FPU after saving it (fxsave does not)",
    "fnstenv": "fnstenv masks every FPU exception after saving (fnstcw/fxsave do not)",
    "fstenv": "fstenv masks every FPU exception after saving (fnstcw/fxsave do not)",
}
_NEVER_WRITE = {"push", "pop", "call", "lea", "nop", "prefetcht0", "prefetcht1", "prefetcht2",
                "prefetchnta", "clflush", "bt", "cmp", "test"}


class Decoded(NamedTuple):
    """A decoded instruction with what the rewriter needs from Capstone (a tuple: the
    same bytes decoded at another address is a cheap copy with one field changed)."""

    address: int
    size: int
    name: str          # Capstone's (Intel-style) instruction name, e.g. 'mov', 'stosq'
    mnemonic: str      # as printed in AT&T, prefixes included
    op_str: str
    mem_sizes: tuple[int, ...]
    mem_writes: tuple[int, ...]  # sizes of memory operands Capstone marks written
    regs_read: frozenset[str]
    regs_written: frozenset[str]
    rep: bool
    segment: str | None
    groups: frozenset[int]
    op_types: tuple[int, ...]
    imm_values: tuple[int, ...]


# decodings by their bytes when they mean the same at any address (no relative branch
# target in them), else by bytes and address: the same instruction recurs all over a
# program, its rewritten copy and its next load
_DECODED: Memo[Decoded] = Memo()


def _at(address: int, d: Decoded) -> Decoded:
    return tuple.__new__(Decoded, (address, *d[1:]))


def decode(code: bytes, address: int) -> Decoded:
    known = _DECODED.get(code)
    if known is not None:
        # the copy at another address made directly (_replace goes through a dict)
        return known if known.address == address else _at(address, known)
    known = _DECODED.get((code, address))  # a relative branch, where it was before
    if known is not None:
        return known
    d = _decode(code, address)
    return _DECODED.put(code if GROUP_BRANCH_RELATIVE not in d.groups else (code, address), d)


def _decode(code: bytes, address: int) -> Decoded:
    insn = first(code, address, att=True)
    if insn is None:
        raise ValueError(f"cannot decode bytes {code.hex()} at {address:#x}")
    read, written = insn.regs_access()
    mems = [op for op in insn.operands if op.type == OP_MEM]
    seg = None
    for op in mems:
        if op.mem.segment != 0:
            seg = insn.reg_name(op.mem.segment)
    return Decoded(
        address, insn.size, insn.insn_name(), insn.mnemonic, insn.op_str,
        tuple(op.size for op in mems),
        tuple(op.size for op in mems if op.access & 2),
        frozenset(insn.reg_name(r) for r in read), frozenset(insn.reg_name(r) for r in written),
        insn.prefix[0] in (0xF2, 0xF3), seg, frozenset(insn.groups),
        tuple(op.type for op in insn.operands),
        tuple(op.imm for op in insn.operands if op.type == OP_IMM),
    )


@dataclass(frozen=True, slots=True)
class WriteClass:
    kind: str
    size: int = 0          # bytes written per store (string: per element)
    reason: str = ""


def _has_mem(d: Decoded) -> bool:
    return OP_MEM in d.op_types


def _mem_is_last(d: Decoded) -> bool:
    return bool(d.op_types) and d.op_types[-1] == OP_MEM


def classify(d: Decoded) -> WriteClass:
    """How the instruction's memory write (if any) must be mirrored."""
    key = d[1:]  # everything but the address, which the class never depends on
    known = _CLASSES.get(key)
    return known if known is not None else _CLASSES.put(key, _classify(d))


_CLASSES: Memo[WriteClass] = Memo()  # the same instruction recurs all over a program


def _classify(d: Decoded) -> WriteClass:
    name = d.name
    if name.startswith("set") and _has_mem(d):
        return WriteClass("repeat", 1)
    if name.startswith("v") and _has_mem(d) and _mem_is_last(d):
        return WriteClass("refuse", reason="AVX stores are not supported by the emulated CPU")
    if name in _REFUSE:
        return WriteClass("refuse", reason=_REFUSE[name])
    string_movsd = name == "movsd" and d.op_types == (OP_MEM, OP_MEM)
    if name in ("stosb", "stosw", "stosd", "stosq", "movsb", "movsw", "movsq") or string_movsd:
        if d.segment not in (None, "es"):
            return WriteClass("refuse", reason="string store with a segment override")
        return WriteClass("string", {"b": 1, "w": 2, "d": 4, "q": 8}[name[-1]])
    if name in ("push", "pushq", "pushw"):
        if d.op_types and d.op_types[0] in (OP_REG, OP_IMM) and "rsp" not in (
                d.op_str.replace("%", "").split(",")):
            return WriteClass("push", 2 if name == "pushw" else 8)
        return WriteClass("stack", 2 if name == "pushw" else 8)
    if name in ("pushfq", "pushf", "pushfd"):
        return WriteClass("stack", 8)
    if name == "call":
        return WriteClass("call", 8)
    if name == "enter":
        if len(d.imm_values) > 1 and d.imm_values[1] & 0x1F:
            return WriteClass("refuse", reason="enter with a nesting level above 0")
        return WriteClass("enter", 8)
    if not _has_mem(d) or name in _NEVER_WRITE and name != "pop":
        return WriteClass("none")
    if d.segment in ("fs", "gs"):
        if not d.mem_writes and name in ("mov", "movabs") and not _mem_is_last(d):
            return WriteClass("none")
        return WriteClass("refuse", reason="stores through %fs/%gs (thread-local data) "
                                           "are not supported")
    size = d.mem_sizes[-1] if d.mem_sizes else 0
    if name == "pop":
        return WriteClass("copy", 8)
    if name in _RMW_COPY:
        if name in ("xchg", "xadd", "cmpxchg") or _mem_is_last(d):
            return WriteClass("copy", size)
        return WriteClass("none")
    if name in _RMW_REPEAT:
        return WriteClass("repeat", size) if _mem_is_last(d) else WriteClass("none")
    if name in _STORE:
        return WriteClass("repeat", size) if _mem_is_last(d) else WriteClass("none")
    if d.mem_writes:
        return WriteClass("refuse", reason=f"'{d.mnemonic}' writes memory in a way the "
                                           "rewriter does not know how to mirror")
    return WriteClass("none")

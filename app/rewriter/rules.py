"""Mirror sequences: for one native instruction, what runs before and after it.

Every sequence leaves flags alone (only mov, lea and movabs), and every scratch
register is either dead (liveness) or saved to the save area, which is never
mirrored: it is scratch state, like the registers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.abi import UART_VA, save_slot
from app.asm.expr import Expr, number
from app.asm.operand import Imm, Indirect, Mem, Reg
from app.asm.parser import Insn
from app.asm.registers import GPRS, family
from app.rewriter.classify import Decoded, WriteClass
from app.rewriter.liveness import BIT, mask

_SUB = {}
for _i, _r in enumerate(GPRS):
    if _i < 8:
        base = _r[1:]
        _SUB[(_r, 8)] = _r
        _SUB[(_r, 4)] = "e" + base
        _SUB[(_r, 2)] = base
        _SUB[(_r, 1)] = {"ax": "al", "bx": "bl", "cx": "cl", "dx": "dl", "si": "sil",
                         "di": "dil", "bp": "bpl", "sp": "spl"}[base]
    else:
        _SUB.update({(_r, 8): _r, (_r, 4): _r + "d", (_r, 2): _r + "w", (_r, 1): _r + "b"})
_SUFFIX = {1: "b", 2: "w", 4: "l", 8: "q"}
_PREFERENCE = ("r11", "r10", "r9", "r8", "rax", "rcx", "rdx", "rsi", "rdi",
               "rbx", "r12", "r13", "r14", "r15", "rbp")
# Registers taken without saving, when liveness says they are dead. Only those no
# instruction reads implicitly: Capstone omits some implicit reads (xlat's %rbx,
# enter's %rbp), so for the others "dead" is not trusted.
_DEAD_OK = ("r11", "r10", "r9", "r8")
_DISP_LIMIT = (1 << 31) - (1 << 28)  # headroom for RIP-relative distance


class RefuseError(Exception):
    pass


@dataclass
class Context:
    """What the rules need to know about one native instruction."""

    insn: Insn
    decoded: Decoded
    wclass: WriteClass
    dead_after: int               # mask of registers free after the instruction
    dead_before: int              # mask free before it
    offsets: list[int]            # k * offset for each mirror copy
    value_of: callable            # symbol -> value, for fit checks
    pre: list[Insn] = field(default_factory=list)
    post: list[Insn] = field(default_factory=list)
    slots_used: int = 0

    def emit(self, where: list[Insn], mnemonic: str, ops: tuple, role: str) -> None:
        where.append(Insn(mnemonic, ops, self.insn.line, self.insn.origin, (),
                          {"role": role}))


def _mem_of(insn: Insn) -> tuple[int, Mem] | None:
    for i, op in enumerate(insn.operands):
        if isinstance(op, Mem):
            return i, op
    return None


def _disp_value(mem: Mem, value_of) -> int:
    return mem.disp.value(value_of) if mem.disp is not None else 0


def _fits(mem: Mem, k: int, value_of) -> bool:
    return abs(_disp_value(mem, value_of) + k) < _DISP_LIMIT


def _mirrored(mem: Mem, k: int) -> Mem:
    return mem.with_disp((mem.disp or number(0)).plus(k))


def _regs_in(mem: Mem) -> int:
    return mask(r for r in (mem.base, mem.index) if r and r != "rip")


def _insn_regs(ctx: Context) -> int:
    m = mask(ctx.decoded.regs_read) | mask(ctx.decoded.regs_written) | BIT["rsp"]
    for op in ctx.insn.operands:
        inner = op.inner if isinstance(op, Indirect) else op
        if isinstance(inner, Reg) and family(inner.name):
            m |= BIT[family(inner.name)]
        if isinstance(inner, Mem):
            m |= _regs_in(inner)
    return m


class Scratch:
    """Hands out scratch registers: dead ones first, otherwise spilled to save slots."""

    def __init__(self, ctx: Context, avoid: int, dead: int, save_to: list[Insn],
                 restore_to: list[Insn]) -> None:
        self.ctx, self.avoid, self.dead = ctx, avoid, dead
        self.save_to, self.restore_to = save_to, restore_to
        self.spilled: list[tuple[str, int]] = []

    def take(self) -> str:
        for r in _DEAD_OK:
            if not self.avoid & BIT[r] and self.dead & BIT[r]:
                self.avoid |= BIT[r]
                return r
        for r in _PREFERENCE:
            if not self.avoid & BIT[r]:
                self.avoid |= BIT[r]
                slot = self.ctx.slots_used
                self.ctx.slots_used += 1
                self.ctx.emit(self.save_to, "movq", (Reg(r), Mem(number(save_slot(slot)))),
                              "save")
                self.spilled.append((r, slot))
                return r
        raise RefuseError("no register left for a mirror sequence")

    def release(self) -> None:
        for r, slot in reversed(self.spilled):
            self.ctx.emit(self.restore_to, "movq", (Mem(number(save_slot(slot))), Reg(r)),
                          "restore")
        self.spilled = []


def _add_const(ctx: Context, out: list[Insn], reg: str, k: int, scratch: Scratch,
               role: str) -> None:
    """reg += k without touching flags."""
    if abs(k) < _DISP_LIMIT:
        ctx.emit(out, "leaq", (Mem(number(k), reg), Reg(reg)), role)
    else:
        tmp = scratch.take()
        ctx.emit(out, "movabsq", (Imm(number(k)), Reg(tmp)), role)
        ctx.emit(out, "leaq", (Mem(None, reg, tmp, 1), Reg(reg)), role)


def _is_device(mem: Mem, value_of) -> bool:
    if mem.base or mem.index:
        return False
    try:
        return UART_VA <= _disp_value(mem, value_of) < UART_VA + 0x1000
    except Exception:
        return False


def rule_repeat(ctx: Context) -> None:
    found = _mem_of(ctx.insn)
    if found is None:
        raise RefuseError("no memory operand to mirror")
    idx, mem = found
    if _is_device(mem, ctx.value_of):  # the UART's registers: never mirrored
        return
    ops = list(ctx.insn.operands)
    scratch = None
    for k in ctx.offsets:
        if _fits(mem, k, ctx.value_of):
            ops[idx] = _mirrored(mem, k)
        else:
            if scratch is None:
                scratch = Scratch(ctx, _insn_regs(ctx), ctx.dead_after, ctx.post, ctx.post)
                base, kreg = scratch.take(), scratch.take()
                ctx.emit(ctx.post, "leaq", (mem, Reg(base)), "mirror")
            ctx.emit(ctx.post, "movabsq", (Imm(number(k)), Reg(kreg)), "mirror")
            ops[idx] = Mem(None, base, kreg, 1)
        ctx.emit(ctx.post, ctx.insn.mnemonic, tuple(ops), "mirror")
        ctx.post[-1].prefixes = tuple(p for p in ctx.insn.prefixes if p != "lock")
    if scratch:
        scratch.release()


def _copy(ctx: Context, mem: Mem, size: int, out: list[Insn], role: str, dead: int,
          avoid: int) -> None:
    """Copy `size` bytes at native `mem` to each mirror copy, through a scratch register."""
    scratch = Scratch(ctx, avoid | _regs_in(mem), dead, out, out)
    val = scratch.take()
    far = [k for k in ctx.offsets if not _fits(mem, k + 16, ctx.value_of)]
    base = kreg = None
    if far:
        base, kreg = scratch.take(), scratch.take()
        ctx.emit(out, "leaq", (mem, Reg(base)), role)
        mem = Mem(number(0), base)
    chunks, pos = [], 0
    for width in (8, 4, 2, 1):
        while size - pos >= width:
            chunks.append((pos, width))
            pos += width
    for pos, width in chunks:
        src = mem.with_disp((mem.disp or number(0)).plus(pos))
        ctx.emit(out, "mov" + _SUFFIX[width], (src, Reg(_SUB[(val, width)])), role)
        for k in ctx.offsets:
            if k in far:
                ctx.emit(out, "movabsq", (Imm(number(k)), Reg(kreg)), role)
                dst = Mem(number(pos), base, kreg, 1)
            else:
                dst = _mirrored(src, k)
            ctx.emit(out, "mov" + _SUFFIX[width], (Reg(_SUB[(val, width)]), dst), role)
    scratch.release()


def rule_copy(ctx: Context) -> None:
    found = _mem_of(ctx.insn)
    if found is None:
        raise RefuseError("no memory operand to mirror")
    _, mem = found
    written = mask(ctx.decoded.regs_written)
    if ctx.decoded.name == "pop":
        # pop computes its destination with the already-incremented %rsp, which is
        # what evaluating the operand after it gives
        written &= ~BIT["rsp"]
    if written & _regs_in(mem):
        # the instruction changes its own address registers: take the address first
        pre_scratch = Scratch(ctx, _insn_regs(ctx), ctx.dead_before & ctx.dead_after,
                              ctx.pre, ctx.post)
        addr = pre_scratch.take()
        ctx.emit(ctx.pre, "leaq", (mem, Reg(addr)), "mirror")
        _copy(ctx, Mem(number(0), addr), ctx.wclass.size, ctx.post, "mirror",
              ctx.dead_after, _insn_regs(ctx) | BIT[addr])
        pre_scratch.release()
    else:
        _copy(ctx, mem, ctx.wclass.size, ctx.post, "mirror", ctx.dead_after, _insn_regs(ctx))


def rule_push(ctx: Context) -> None:
    src = ctx.insn.operands[0]
    size = ctx.wclass.size
    top = Mem(number(0), "rsp")
    if all(_fits(top, k, ctx.value_of) for k in ctx.offsets):
        mnemonic = "mov" + _SUFFIX[size]
        for k in ctx.offsets:
            ctx.emit(ctx.post, mnemonic, (src, _mirrored(top, k)), "mirror")
    else:
        _copy(ctx, top, size, ctx.post, "mirror", ctx.dead_after, _insn_regs(ctx))


def rule_stack(ctx: Context, base: str = "rsp") -> None:
    _copy(ctx, Mem(number(0), base), ctx.wclass.size, ctx.post, "mirror", ctx.dead_after,
          _insn_regs(ctx))


def rule_entry(ctx: Context, style: str = "liveness") -> None:
    """The return address pushed by whoever called us: mirrored before our first
    instruction. 'liveness' copies it through a dead register when there is one (2
    instructions); 'paper' is the authors' 5-instruction sequence, kept for comparison."""
    if style == "paper":
        top = Mem(number(0), "rsp")
        ctx.emit(ctx.pre, "pushq", (Reg("rax"),), "entry-mirror")
        for k in ctx.offsets:
            ctx.emit(ctx.pre, "movq", (Reg("rax"), _mirrored(top, k)), "entry-mirror")
        ctx.emit(ctx.pre, "movq", (Mem(number(8), "rsp"), Reg("rax")), "entry-mirror")
        for k in ctx.offsets:
            ctx.emit(ctx.pre, "movq", (Reg("rax"), _mirrored(top, k + 8)), "entry-mirror")
        ctx.emit(ctx.pre, "popq", (Reg("rax"),), "entry-mirror")
        return
    _copy(ctx, Mem(number(0), "rsp"), 8, ctx.pre, "entry-mirror", ctx.dead_before,
          BIT["rsp"])


def rule_indirect_call(ctx: Context, return_label: str) -> None:
    """An indirect call may land on code the rewriter cannot see as a function entry, so
    the return address is also mirrored here, before the call writes it: it is a
    constant, the address of the label right after the call."""
    ret = Imm(Expr(("sym", return_label)))
    slot = Mem(number(-8), "rsp")
    scratch = None
    for k in ctx.offsets:
        if abs(k - 8) < _DISP_LIMIT:
            ctx.emit(ctx.pre, "movq", (ret, _mirrored(slot, k)), "mirror")
            continue
        if scratch is None:
            scratch = Scratch(ctx, _insn_regs(ctx), ctx.dead_before, ctx.pre, ctx.pre)
            kreg = scratch.take()
        ctx.emit(ctx.pre, "movabsq", (Imm(number(k - 8)), Reg(kreg)), "mirror")
        ctx.emit(ctx.pre, "movq", (ret, Mem(None, "rsp", kreg, 1)), "mirror")
    if scratch is not None:
        scratch.release()


def rule_string(ctx: Context) -> None:
    name = ctx.decoded.name
    regs = ["rdi"] + (["rsi"] if name.startswith("movs") else []) + (
        ["rcx"] if ctx.decoded.rep else [])
    avoid = _insn_regs(ctx) | BIT["rax"] | BIT["rcx"] | BIT["rsi"] | BIT["rdi"]
    scratch = Scratch(ctx, avoid, ctx.dead_after, ctx.pre, ctx.post)
    saved = {}
    for r in regs:
        s = scratch.take()
        saved[r] = s
        ctx.emit(ctx.pre, "movq", (Reg(r), Reg(s)), "save")
    native = ctx.insn.with_meta({"role": "mirror"})
    for n, k in enumerate(ctx.offsets):
        for r in regs:
            if r == "rcx":
                ctx.emit(ctx.post, "movq", (Reg(saved[r]), Reg("rcx")), "mirror")
            else:
                ctx.emit(ctx.post, "movq", (Reg(saved[r]), Reg(r)), "mirror")
                _add_const(ctx, ctx.post, r, k, scratch, "mirror")
        ctx.post.append(native.with_meta({"role": "mirror"}))
        if n == len(ctx.offsets) - 1:
            for r in regs:
                if r != "rcx":
                    _add_const(ctx, ctx.post, r, -k, scratch, "restore")
    scratch.release()


RULES = {"repeat": rule_repeat, "copy": rule_copy, "push": rule_push, "stack": rule_stack,
         "enter": lambda ctx: rule_stack(ctx, "rbp"), "string": rule_string}


def mirrors(wclass: WriteClass) -> bool:
    """Whether `mirror` has anything to do for an instruction of this class (refuse it,
    or add its mirror); without it, and when it is no entry or indirect call, an
    instruction is its own group."""
    return wclass.kind == "refuse" or wclass.kind in RULES


def mirror(ctx: Context) -> Context:
    kind = ctx.wclass.kind
    if kind == "refuse":
        raise RefuseError(ctx.wclass.reason)
    rule = RULES.get(kind)
    if rule is not None:
        rule(ctx)
    return ctx


__all__ = ["Context", "RefuseError", "mirror", "mirrors", "rule_entry", "rule_indirect_call"]

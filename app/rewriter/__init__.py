"""The mirroring rewriter: every memory write is followed by its mirror.

rewrite() takes the parsed program and its native image and returns the mirrored
program, its image and the line map (native instruction -> rewritten group).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from app.abi import MIRROR_COPIES, STACK_PAGES, STACK_TOP
from app.asm.budget import LoadBudget, within
from app.asm.errors import AsmError
from app.asm.layout import Image, assemble
from app.asm.operand import Imm, Mem, Target
from app.asm.parser import Data, Insn, Label, Program
from app.rewriter.classify import Decoded, WriteClass, classify, decode
from app.rewriter.forbidden import data_in_code, forbidden
from app.rewriter.liveness import ALL, live_in_of, live_out
from app.rewriter.rules import (
    Context,
    RefuseError,
    mirror,
    mirrors,
    rule_entry,
    rule_indirect_call,
)

TEXT = ("ktext", "text")
# the mirrored program's instructions, counted before it is assembled: a store can grow
# into a dozen (a string instruction, nmr3), and a load holds about 2 KB for each (with
# the native program: 32k indirect calls, 64k instructions, took 211 MB)
MAX_REWRITTEN = 49_152


@dataclass(slots=True)
class Member:
    address: int
    size: int
    text: str
    role: str


@dataclass(slots=True)
class Group:
    """One native instruction and what runs for it in the rewritten program."""

    index: int
    native_address: int
    native_text: str
    line: int
    origin: str
    wclass: WriteClass
    members: list[Member]

    @property
    def start(self) -> int:
        return self.members[0].address

    @property
    def end(self) -> int:
        last = self.members[-1]
        return last.address + last.size

    @property
    def program_line(self) -> int | None:
        """The program's line it comes from (None: the guest kernel's code)."""
        return self.line if self.origin == "program" else None

    def native_json(self) -> dict:
        """The native instruction as every contract writes it (events, listings)."""
        return {"address": self.native_address, "text": self.native_text,
                "line": self.program_line, "origin": self.origin, "class": self.wclass.kind}

    def members_json(self) -> list[dict]:
        """What runs for it, as every contract writes it."""
        return [{"address": m.address, "text": m.text, "role": m.role} for m in self.members]

    def to_json(self) -> dict:
        return {"native": self.native_json(), "rewritten": self.members_json()}


class MirrorRefused(AsmError):
    """A program that assembles and may run, but not mirrored."""


@dataclass
class Rewritten:
    mode: str
    offset: int
    program: Program
    image: Image
    groups: list[Group]


def _target_of(image: Image, index: dict[int, int], p) -> int | None:
    """The index of a direct branch's target; None for a target outside the program's
    code (its own fault). A target inside an instruction is refused: the bytes there
    would run as an instruction nothing has checked or mirrored."""
    op = p.insn.operands[0] if p.insn.operands else None
    if not isinstance(op, Target):
        return None
    value = op.expr.value(image.symbols)
    if value in index:
        return index[value]
    text = image.sections["text"]
    if p.insn.origin == "program" and text.base <= value < text.base + len(text.data):
        reached = _fall_through(image, index, value)  # across padding NOPs
        if reached == len(image.insns):
            raise AsmError(f"this branch goes to {value:#x}, inside an instruction or past "
                           "the end of the code: branch to a label", p.insn.line,
                           p.insn.origin)
        return reached
    return None


def _fall_through(image: Image, index: dict[int, int], end: int) -> int:
    """The instruction execution falls into at `end`: across alignment NOPs too (gcc's
    `.p2align` before loops), else none (len(insns): everything is live there)."""
    n = len(image.insns)
    for sec in image.sections.values():
        if sec.base <= end < sec.base + len(sec.data):
            a, stop = end, min(end + 64, sec.base + len(sec.data))
            while a < stop and a not in index:
                try:
                    d = decode(bytes(sec.data[a - sec.base:stop - sec.base]), a)
                except ValueError:
                    return n
                if d.name != "nop":
                    return n
                a += d.size
            return index.get(a, n)
    return index.get(end, n)


class Analysis(NamedTuple):
    """What the native image's code does, per instruction: its decoding, where control
    goes next, what kind of transfer it is and its direct target, its write class, why
    the program may not run it (None: it may), and its listing texts (as written, and as
    printed); and the program's data in code, if it has any (`data_in_code`). Made once
    a load and shared by every mode the program is rewritten for; making it gives the
    image's instructions their roles, groups and write classes (every mode's rewriting
    shares them: unmirrored, they are its image)."""

    decoded: list[Decoded]
    succ: list[list[int]]
    kind: list[str]
    target: list[int | None]
    wclass: list[WriteClass]
    why: list[str | None]
    written: list[str]
    printed: list[str]
    refused: AsmError | None


def analyse(image: Image, program: Program, budget: LoadBudget | None = None) -> Analysis:
    budget = within(budget)
    insns = image.insns
    index = {p.address: i for i, p in enumerate(insns)}
    decoded: list[Decoded] = []
    succ, kind, target, wclass, why = [], [], [], [], []
    for p in insns:
        budget.check(p.insn.line, p.insn.origin)
        d = decode(p.encoding, p.address)
        decoded.append(d)
        wclass.append(classify(d))
        why.append(forbidden(d) if p.insn.origin == "program" else None)
        end = p.address + len(p.encoding)
        fall = index.get(end)  # the next instruction, most often; else across padding
        if fall is None:
            fall = _fall_through(image, index, end)
        direct = _target_of(image, index, p)
        name = d.name
        if name == "call":
            kind.append("call" if direct is not None else "icall")
            succ.append([])
            target.append(direct)
            continue
        target.append(None)
        if name in ("ret", "retq"):
            kind.append("ret")
            succ.append([])
        elif name == "jmp":
            kind.append("plain" if direct is not None else "opaque")
            succ.append([direct] if direct is not None else [])
        elif name.startswith(("j", "loop")):
            kind.append("plain" if direct is not None else "opaque")
            succ.append([fall, direct] if direct is not None else [])
        elif name == "hlt":
            kind.append("plain")
            succ.append([])
        else:
            kind.append("plain")
            succ.append([fall])
    written = [source_text(program, p.insn) for p in insns]
    printed = [p.insn.text() for p in insns]
    for i, (p, c) in enumerate(zip(insns, wclass, strict=True)):
        p.insn.meta.update({"role": "native", "group": i, "class": c})
    return Analysis(decoded, succ, kind, target, wclass, why, written, printed,
                    data_in_code(program))


def _entries(image: Image, program: Program, target: list[int | None]) -> set[int]:
    """Instruction indices that are function entries: every call target, main, and code
    whose address the program takes (function pointers). A `.L` label named only in data
    is a jump-table case, not a function; one whose address code takes may be called."""
    index = {p.address: i for i, p in enumerate(image.insns)}
    entries = {t for t in target if t is not None}
    names = {"main"}
    for items in program.sections.values():
        for it in items:
            if isinstance(it, Data):
                for e in it.exprs:
                    names |= {s for s in e.symbols() if not s.startswith(".L")}
            elif isinstance(it, Insn):
                for op in it.operands:
                    if isinstance(op, Imm):
                        names |= op.expr.symbols()
                    elif isinstance(op, Mem) and op.disp is not None and it.mnemonic.startswith(
                            "lea"):
                        names |= op.disp.symbols()
    for name in names:
        addr = image.symbols.get(name)
        if addr is not None and addr in index:
            entries.add(index[addr])
    return entries


def rewrite(program: Program, image: Image, mode: str, offset: int,
            extra_symbols: dict[str, int] | None = None, entry: str = "liveness",
            budget: LoadBudget | None = None, analysis: Analysis | None = None) -> Rewritten:
    """The program rewritten for `mode`; `analysis` is `analyse(image, program)` when
    the caller rewrites the same image for several modes."""
    if mode not in MIRROR_COPIES:
        raise ValueError(f"unknown mirror mode {mode}")
    if offset <= 0 or offset % 0x1000:
        raise AsmError(f"mirror offset {offset:#x} must be a positive multiple of 4 KiB")
    budget = within(budget)
    analysis = analysis or analyse(image, program, budget)
    if analysis.refused:
        raise analysis.refused
    offsets = [k * offset for k in range(1, MIRROR_COPIES[mode] + 1)]
    if offsets:
        _check_conflict(image, offset)
    if any(analysis.why):  # the first instruction the program may not run
        p, why = next((p, why) for p, why in zip(image.insns, analysis.why, strict=True)
                      if why)
        raise AsmError(f"'{p.insn.text()}' is not allowed: {why}", p.insn.line,
                       p.insn.origin)
    if not offsets:  # nothing is added: the native program and image, each instruction
        # with its role and group (analyse)
        return Rewritten(mode, offset, program, image, _groups(image, image, analysis))
    decoded, succ, kind, target = analysis[:4]
    outs = live_out(decoded, succ, kind, target, _ticker(image, budget))
    entries = _entries(image, program, target)
    # the instructions a rule adds to: entries, indirect calls and what mirrors does
    # something for; every other one is its own group (most instructions)
    acting = sorted(entries.union(
        (i for i, k in enumerate(kind) if k == "icall"),
        (i for i, w in enumerate(analysis.wclass) if mirrors(w))))
    plan: dict[int, tuple[list[Insn], list[Insn]]] = {}  # what runs before and after
    value_of = image.symbols.__getitem__
    size = len(image.insns)
    for i in acting:
        p = image.insns[i]
        budget.check(p.insn.line, p.insn.origin)
        ctx = Context(p.insn, decoded[i], analysis.wclass[i], ~outs[i] & ALL,
                      ~live_in_of(outs, decoded, i) & ALL, offsets, value_of)
        _add_mirrors(ctx, i, entry if i in entries else None, kind[i] == "icall")
        plan[id(p.insn)] = (ctx.pre, ctx.post)
        size += len(ctx.pre) + len(ctx.post)
        if size > MAX_REWRITTEN:
            raise MirrorRefused(f"the mirrored program would have more than {MAX_REWRITTEN} "
                                "instructions", p.insn.line, p.insn.origin)
    out = _planned_program(program, plan, kind)
    mirrored = assemble(out, extra_symbols=extra_symbols, budget=budget)
    return Rewritten(mode, offset, out, mirrored, _groups(image, mirrored, analysis))


def _add_mirrors(ctx: Context, i: int, entry: str | None, icall: bool) -> None:
    """What runs before and after native instruction `i` (`entry`: the entry rule's
    style when it is a function's entry, else None), into ctx.pre and ctx.post."""
    try:
        if entry is not None:
            rule_entry(ctx, entry)
        if icall:
            rule_indirect_call(ctx, _return_label(i))
        mirror(ctx)
    except RefuseError as e:
        raise MirrorRefused(f"cannot mirror '{ctx.insn.text()}': {e}", ctx.insn.line,
                            ctx.insn.origin) from None
    for extra in (*ctx.pre, *ctx.post):
        extra.meta["group"] = i


def _planned_program(program: Program, plan: dict, kind: list[str]) -> Program:
    """The program with what `plan` adds around its instructions; each indirect call's
    return address gets a label."""
    out = Program(equates=program.equates, lines=program.lines)
    for sec, items in program.sections.items():
        new = out.sections[sec]
        for it in items:
            around = plan.get(id(it))  # None: an instruction alone, or not one
            if around is None:
                new.append(it)
                continue
            pre, post = around
            new += [*pre, it, *post]
            i = it.meta["group"]
            if kind[i] == "icall":
                new.append(Label(_return_label(i), it.line, it.origin))
    return out


def _ticker(image: Image, budget: LoadBudget):
    """A check for the liveness analysis, which knows instructions only by index."""
    insns = image.insns

    def tick(i: int) -> None:
        budget.check(insns[i].insn.line, insns[i].insn.origin)

    return tick


def _return_label(i: int) -> str:
    return f".Lkmv.ret{i}"


def _check_conflict(image: Image, offset: int) -> None:
    """The guest must lie wholly below the offset: its mirrors live at +k*offset, and a
    mirror landing on guest memory (or a guest address in the mirror range) would
    overwrite what it should protect."""
    used = [(name, sec.base, sec.base + max(len(sec.data), 1))
            for name, sec in image.sections.items() if sec.data]
    used.append(("stack", STACK_TOP - STACK_PAGES * 0x1000, STACK_TOP))
    for name, lo, hi in used:
        if hi > offset:
            raise AsmError(f"address conflict: the program's {name} [{lo:#x}, {hi:#x}) is "
                           f"not below the offset {offset:#x}, so mirrors (address + "
                           "offset) would land on guest memory; the whole guest must lie "
                           f"below the offset: use at least {STACK_TOP:#x}")


def _groups(native: Image, rewritten: Image, analysis: Analysis) -> list[Group]:
    groups = [Group(i, p.address, written, p.insn.line, p.insn.origin, _NO_WRITE, [])
              for i, (p, written) in enumerate(zip(native.insns, analysis.written,
                                                   strict=True))]
    printed = analysis.printed
    for p in rewritten.insns:
        meta = p.insn.meta
        g = groups[meta["group"]]
        role = meta["role"]
        if role == "native":  # the native instruction itself: its text is known
            g.wclass = meta["class"]
            text = printed[g.index]
        else:
            text = p.insn.text()
        g.members.append(Member(p.address, len(p.encoding), text, role))
    return groups


_NO_WRITE = WriteClass("none")


def source_text(program: Program, insn: Insn) -> str:
    """The instruction as the user wrote it (leading labels stripped)."""
    written = _as_written(program.lines.get((insn.origin, insn.line), ""), insn.mnemonic,
                          bool(insn.prefixes))
    return written if written is not None else insn.text()


@lru_cache(maxsize=1 << 14)  # a listing per mode of every load; lines recur
def _as_written(line: str, mnemonic: str, prefixed: bool) -> str | None:
    """The line without its labels if it holds the instruction, else None."""
    text = _LABELS.sub("", line, count=1)
    words = text.split()
    if words and (words[0].lower() == mnemonic or prefixed):
        return text.strip()
    return None


_LABELS = re.compile(r"^(\s*[A-Za-z_.$0-9][\w.$@]*\s*:(?!:))+")


__all__ = ["Analysis", "Group", "Label", "Member", "Rewritten", "analyse", "rewrite"]

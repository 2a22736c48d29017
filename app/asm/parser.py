"""GNU as source text -> Program: sections of labels, data and instructions.

Accepts what people write and what `gcc -S` emits for x86-64; directives that only
matter to a linker or debugger are ignored; directives that would change meaning
(macros, conditionals, includes) are refused with their line.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field, replace

from app.asm.budget import LoadBudget, within
from app.asm.errors import AsmError
from app.asm.expr import Expr, excerpt, parse_expr
from app.asm.lexer import statements, string_literals
from app.asm.memo import Memo, ShapeMemo
from app.asm.operand import Imm, Indirect, Operand, parse_operand, split_operands, symbols_of
from app.asm.sections import check_fits

SECTIONS = ("text", "rodata", "data", "bss", "ktext", "kdata")
PREFIXES = {"rep", "repe", "repz", "repne", "repnz", "lock", "notrack", "data16", "addr32"}
_IGNORED = {
    ".file", ".ident", ".type", ".size", ".globl", ".global", ".local", ".hidden", ".weak",
    ".protected", ".internal", ".loc", ".uleb128", ".sleb128", ".addrsig", ".addrsig_sym",
    ".intel_syntax_noprefix_never", ".code64", ".att_syntax", ".end",
}
MAX_NOPS = 4096  # bytes one `.nops` may ask for (a function's padding is tens)
_DATA_SIZES = {".byte": 1, ".value": 2, ".short": 2, ".hword": 2, ".word": 2, ".2byte": 2,
               ".long": 4, ".int": 4, ".4byte": 4, ".quad": 8, ".8byte": 8}
# a program's own instructions: 16 times the largest gcc output in the tests, and few
# enough that a load stays well inside its memory (about 2 KB an instruction, native and
# rewritten)
MAX_INSTRUCTIONS = 32_768
MAX_PREFIXES = 4
_LABEL = re.compile(r"\s*([A-Za-z_.$][\w.$@]*|\d+)\s*:(?!:)")
_MNEMONIC = re.compile(r"[a-z][a-z0-9]*")
# operand lists by their text (and whether a branch's): those that name no numeric label
# mean the same on every line, and are shared by every line that writes them
_OPERANDS: Memo[tuple[Operand, ...]] = Memo()
_CACHED_OPERANDS = 128  # characters: so at most a few MB, whatever the programs
_EQUATE = re.compile(r"\s*([A-Za-z_.$][\w.$@]*)\s*=\s*(.+)$")


# instructions as written, by what they are made of: every listing of every load prints
# each of its instructions, and the same instruction recurs all over a program
_TEXTS: ShapeMemo[str] = ShapeMemo()
_TEXTS_LONGEST = 256  # so at most 16 MB, whatever the programs


@dataclass(slots=True)  # one for every instruction of every image a load makes
class Insn:
    mnemonic: str
    operands: tuple[Operand, ...]
    line: int
    origin: str = "program"
    prefixes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def text(self, values=None) -> str:
        if values is None and (known := _TEXTS.get(self.prefixes, self.mnemonic,
                                                   self.operands)) is not None:
            return known
        ops = ", ".join(op.render(values) for op in self.operands)
        head = " ".join((*self.prefixes, self.mnemonic))
        text = f"{head} {ops}" if ops else head
        if values is None and len(text) <= _TEXTS_LONGEST:
            _TEXTS.put(self.prefixes, self.mnemonic, self.operands, text)
        return text

    def with_meta(self, meta: dict) -> Insn:
        """The same instruction with other metadata (the rewriter's roles and groups):
        made for every instruction of every load, so built directly."""
        return Insn(self.mnemonic, self.operands, self.line, self.origin, self.prefixes, meta)

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for op in self.operands:
            out |= symbols_of(op)
        return out


@dataclass(slots=True)
class Label:
    name: str
    line: int
    origin: str = "program"


@dataclass
class Data:
    size: int
    exprs: list[Expr]
    line: int


@dataclass
class Bytes:
    data: bytes
    line: int


@dataclass
class Fill:
    """`size` copies of one byte (.zero, .skip, .space, .comm): kept as a length, so that
    a size is checked against its section before any memory is taken for it."""

    size: int
    value: int
    line: int


@dataclass
class Equate:
    expr: Expr
    line: int


@dataclass
class Align:
    boundary: int
    line: int
    fill: int | None = None
    max_skip: int | None = None


Item = Insn | Label | Data | Bytes | Fill | Align


@dataclass
class Program:
    sections: dict[str, list[Item]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    equates: dict[str, Equate] = field(default_factory=dict)
    lines: dict[tuple[str, int], str] = field(default_factory=dict)

    def labels(self) -> dict[str, Label]:
        return {it.name: it for items in self.sections.values() for it in items
                if isinstance(it, Label)}

    def instructions(self) -> list[Insn]:
        return [it for items in self.sections.values() for it in items if isinstance(it, Insn)]


def is_branch(mnemonic: str) -> bool:
    m = mnemonic
    return (m.startswith("j") or m.startswith("call") or m.startswith("loop")
            or m in ("xbegin",))


def _section_for(name: str, flags: str | None, line: int, kernel: bool) -> str | None:
    n = name.strip().strip('"')
    if kernel and n in (".text", ".ktext"):
        return "ktext"
    if kernel and n in (".data", ".kdata", ".bss", ".rodata"):
        return "kdata"
    for prefix, sec in ((".text", "text"), (".rodata", "rodata"), (".data", "data"),
                        (".bss", "bss"), (".tbss", None), (".tdata", None)):
        if n == prefix or n.startswith(prefix + "."):
            if sec is None:
                raise AsmError(f"thread-local section {n} is not supported", line)
            return sec
    if n.startswith((".note", ".comment", ".debug", ".eh_frame", ".stab", ".gnu")):
        return None
    if flags is not None:
        f = flags.strip().strip('"')
        if "x" in f:
            return "text"
        if "w" in f:
            return "data"
        if "a" in f:
            return "rodata"
        return None
    raise AsmError(f"unknown section {n}", line)


class _Parser:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.kernel = origin == "kernel"
        self.section: str | None = "ktext" if self.kernel else "text"
        self.stack: list[str | None] = []
        self.previous: str | None = self.section
        self.numeric: dict[str, int] = {}
        self.pending_prefixes: list[str] = []
        self.comm: list[tuple[str, int, int, int]] = []
        self.instructions = 0

    # numeric local labels: "1:" defines, "1b"/"1f" refer back/forward
    def numeric_name(self, n: str, k: int) -> str:
        return f".L{self.origin}.num{n}.{k}"

    def resolve_numeric(self, expr: Expr, line: int) -> Expr:
        mapping = {}
        for s in expr.symbols():
            m = re.fullmatch(r"(\d+)([bf])", s)
            if m:
                n, d = m.groups()
                k = self.numeric.get(n, 0)
                if d == "b":
                    if k == 0:
                        raise AsmError(f"no earlier local label '{n}' for '{s}'", line)
                    mapping[s] = self.numeric_name(n, k)
                else:
                    mapping[s] = self.numeric_name(n, k + 1)
        return expr.rename(mapping) if mapping else expr

    def numbered(self, op: Operand, line: int) -> Operand:
        """`op` with its references to numeric labels (1b, 2f) made names; most
        operands have none and are returned as they are (shared)."""
        if isinstance(op, Indirect):
            inner = self.numbered(op.inner, line)
            return op if inner is op.inner else Indirect(inner)
        for attr in ("expr", "disp"):
            value = getattr(op, attr, None)
            if value is not None:
                resolved = self.resolve_numeric(value, line)
                if resolved is not value:
                    return replace(op, **{attr: resolved})
        return op

    def emit(self, prog: Program, item: Item, line: int) -> None:
        if self.section is None:
            return  # inside a section we discard (debug info, notes)
        if self.section == "bss" and not _zeros(item):
            raise AsmError("only zeros may be placed in .bss", line)
        if isinstance(item, Insn):
            self.instructions += 1
            if self.instructions > MAX_INSTRUCTIONS:
                raise AsmError(f"the program has more than {MAX_INSTRUCTIONS} instructions",
                               line)
        prog.sections[self.section].append(item)

    def statement(self, prog: Program, line: int, stmt: str) -> None:
        pos = 0  # past the labels: matched in place, a line can hold thousands
        while m := _LABEL.match(stmt, pos):
            name = m.group(1)
            if name.isdigit():
                k = self.numeric.get(name, 0) + 1
                self.numeric[name] = k
                name = self.numeric_name(name, k)
            self.emit(prog, Label(name, line, self.origin), line)
            pos = m.end()
        stmt = stmt[pos:].strip()
        if not stmt:
            return
        m = _EQUATE.match(stmt) if "=" in stmt else None  # most lines have none
        if m and not stmt.startswith("."):
            prog.equates[m.group(1)] = Equate(parse_expr(m.group(2)), line)
            return
        word, _, rest = stmt.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = f"{more} {rest}"
        word, rest = word.lower(), rest.strip()
        if word.startswith("."):
            self.directive(prog, line, word, rest)
        else:
            self.instruction(prog, line, word, rest)

    def directive(self, prog: Program, line: int, d: str, rest: str) -> None:
        args = split_operands(rest) if rest else []
        if d in _IGNORED or d.startswith(".cfi_"):
            return
        if d in (".text", ".data", ".bss"):
            self.previous, self.section = self.section, _section_for(d, None, line, self.kernel)
        elif d in (".section", ".pushsection"):
            if not args:
                raise AsmError(".section needs a name", line)
            if d == ".pushsection":
                self.stack.append(self.section)
            flags = args[1] if len(args) > 1 else None
            self.previous, self.section = self.section, _section_for(args[0], flags, line,
                                                                      self.kernel)
        elif d == ".popsection":
            if not self.stack:
                raise AsmError(".popsection without .pushsection", line)
            self.section = self.stack.pop()
        elif d == ".previous":
            self.section, self.previous = self.previous, self.section
        elif d in _DATA_SIZES:
            exprs = [self.resolve_numeric(parse_expr(a), line) for a in args]
            self.emit(prog, Data(_DATA_SIZES[d], exprs, line), line)
        elif d in (".ascii", ".string", ".asciz"):
            for s in string_literals(rest, line):
                self.emit(prog, Bytes(s + (b"\0" if d != ".ascii" else b""), line), line)
        elif d == ".nops":
            # that many bytes of no-operation, as one-byte `nop`s: instructions like any
            # other (GNU as would pick longer forms; what they do is the same)
            n = self.const(args[0], line) if args else None
            if n is None or not 0 <= n <= MAX_NOPS:
                raise AsmError(f".nops needs a size from 0 to {MAX_NOPS}", line)
            for _ in range(n):
                self.instruction(prog, line, "nop", "")
        elif d in (".zero", ".skip", ".space"):
            if not args:
                raise AsmError(f"{d} needs a size", line)
            n = self.const(args[0], line)
            fill = self.const(args[1], line) & 0xFF if len(args) > 1 else 0
            if self.section is not None:
                check_fits(self.section, n, f"'{d}'", line)
            self.emit(prog, Fill(n, fill, line), line)
        elif d in (".align", ".balign", ".p2align"):
            if not args or not args[0]:
                raise AsmError(f"{d} needs an alignment", line)
            n = self.const(args[0], line)
            boundary = 1 << n if d == ".p2align" else n
            if boundary <= 0 or boundary & (boundary - 1) or boundary > 4096:
                raise AsmError(f"bad alignment {n}", line)
            fill = self.const(args[1], line) & 0xFF if len(args) > 1 and args[1] else None
            mx = self.const(args[2], line) if len(args) > 2 and args[2] else None
            self.emit(prog, Align(boundary, line, fill, mx), line)
        elif d in (".comm", ".lcomm"):
            if len(args) < 2:
                raise AsmError(f"{d} needs a symbol and a size", line)
            size = self.const(args[1], line)
            check_fits("kdata" if self.kernel else "bss", size, f"'{d} {excerpt(args[0])}'",
                       line)
            align = self.const(args[2], line) if len(args) > 2 else min(
                16, 1 << max(0, (size - 1).bit_length()))
            self.comm.append((args[0], size, max(1, min(align, 4096)), line))
        elif d in (".set", ".equ", ".equiv"):
            if len(args) != 2:
                raise AsmError(f"{d} needs a symbol and a value", line)
            prog.equates[args[0]] = Equate(parse_expr(args[1]), line)
        else:
            raise AsmError(f"unsupported directive {d}", line)

    def const(self, text: str, line: int) -> int:
        v = parse_expr(text).constant
        if v is None:
            raise AsmError(f"expected a constant, got '{excerpt(text)}'", line)
        return v

    def instruction(self, prog: Program, line: int, word: str, rest: str) -> None:
        while word in PREFIXES:
            self.pending_prefixes.append(word)
            if len(self.pending_prefixes) > MAX_PREFIXES:
                raise AsmError(f"more than {MAX_PREFIXES} prefixes on one instruction", line)
            if not rest:
                return
            word, *more = rest.split(None, 1)  # gcc puts a tab before the operands
            word, rest = word.lower(), more[0].strip() if more else ""
        if not _MNEMONIC.fullmatch(word):
            raise AsmError(f"unknown mnemonic '{excerpt(word)}'", line)
        branch = is_branch(word)
        ops = _OPERANDS.get((rest, branch))
        if ops is None:
            ops = self.operands(rest, branch, line)
        prefixes, self.pending_prefixes = tuple(self.pending_prefixes), []
        if self.section not in ("text", "ktext"):
            raise AsmError(f"instruction '{word}' outside a code section", line)
        self.emit(prog, Insn(word, ops, line, self.origin, prefixes), line)

    def operands(self, rest: str, branch: bool, line: int) -> tuple[Operand, ...]:
        """The operands of `rest`, parsed, with their numeric labels (1b, 2f) named;
        remembered by their text when they have none (they then mean the same on every
        line: a line of a program is often another's)."""
        parsed, ops = [], []
        for text in split_operands(rest):
            op = parse_operand(text, branch)
            parsed.append(op)
            ops.append(self.numbered(op, line))
        if len(rest) <= _CACHED_OPERANDS and all(map(operator.is_, parsed, ops)):
            _OPERANDS.put((rest, branch), tuple(ops))
        return tuple(ops)


def _zeros(item: Item) -> bool:
    if isinstance(item, Fill):
        return item.value == 0 or item.size == 0
    if isinstance(item, Bytes):
        return not any(item.data)
    return isinstance(item, Label | Align)


def parse(text: str, origin: str = "program", into: Program | None = None,
          budget: LoadBudget | None = None) -> Program:
    """Parse assembly text; errors carry the line they come from."""
    prog = into or Program()
    p = _Parser(origin)
    budget = within(budget)
    for line, stmt in statements(text):
        budget.check(line, origin)
        prog.lines[(origin, line)] = stmt
        try:
            p.statement(prog, line, stmt)
        except AsmError as e:
            raise e.placed(e.line if e.line is not None else line, origin) from None
    for name, size, align, line in p.comm:
        items = prog.sections["kdata" if p.kernel else "bss"]
        items += [Align(align, line), Label(name, line, origin), Fill(size, 0, line)]
    if p.pending_prefixes:
        raise AsmError("prefix without an instruction at end of file", None, origin)
    return prog


__all__ = ["Align", "Bytes", "Data", "Equate", "Fill", "Imm", "Insn", "Item", "Label",
           "Program", "parse"]

"""GNU as source text -> Program: sections of labels, data and instructions.

Accepts what people write and what `gcc -S` emits for x86-64; directives that only
matter to a linker or debugger are ignored; directives that would change meaning
(macros, conditionals, includes) are refused with their line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from app.asm.errors import AsmError
from app.asm.expr import Expr, parse_expr
from app.asm.operand import Imm, Operand, parse_operand, split_operands, symbols_of

SECTIONS = ("text", "rodata", "data", "bss", "ktext", "kdata")
PREFIXES = {"rep", "repe", "repz", "repne", "repnz", "lock", "notrack", "data16", "addr32"}
_IGNORED = {
    ".file", ".ident", ".type", ".size", ".globl", ".global", ".local", ".hidden", ".weak",
    ".protected", ".internal", ".loc", ".uleb128", ".sleb128", ".addrsig", ".addrsig_sym",
    ".intel_syntax_noprefix_never", ".code64", ".att_syntax", ".end", ".nops",
}
_DATA_SIZES = {".byte": 1, ".value": 2, ".short": 2, ".hword": 2, ".word": 2, ".2byte": 2,
               ".long": 4, ".int": 4, ".4byte": 4, ".quad": 8, ".8byte": 8}
_LABEL = re.compile(r"\s*([A-Za-z_.$][\w.$@]*|\d+)\s*:(?!:)")
_EQUATE = re.compile(r"\s*([A-Za-z_.$][\w.$@]*)\s*=\s*(.+)$")


@dataclass
class Insn:
    mnemonic: str
    operands: tuple[Operand, ...]
    line: int
    origin: str = "program"
    prefixes: tuple[str, ...] = ()
    meta: dict = field(default_factory=dict)

    def text(self, values=None) -> str:
        ops = ", ".join(op.render(values) for op in self.operands)
        head = " ".join((*self.prefixes, self.mnemonic))
        return f"{head} {ops}" if ops else head

    def symbols(self) -> set[str]:
        out: set[str] = set()
        for op in self.operands:
            out |= symbols_of(op)
        return out


@dataclass
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
class Align:
    boundary: int
    line: int
    fill: int | None = None
    max_skip: int | None = None


Item = Insn | Label | Data | Bytes | Align


@dataclass
class Program:
    sections: dict[str, list[Item]] = field(default_factory=lambda: {s: [] for s in SECTIONS})
    equates: dict[str, Expr] = field(default_factory=dict)
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


def _statements(text: str):
    """Yield (line number, statement) with comments removed and ';' split."""
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        out, i, quote = [], 0, None
        while i < len(raw):
            ch = raw[i]
            if in_block:
                if raw.startswith("*/", i):
                    in_block, i = False, i + 2
                else:
                    i += 1
                continue
            if quote:
                out.append(ch)
                if ch == "\\" and i + 1 < len(raw):
                    out.append(raw[i + 1])
                    i += 1
                elif ch == quote:
                    quote = None
            elif ch == '"':
                quote = ch
                out.append(ch)
            elif ch == "'" and i + 1 < len(raw):
                # a character constant: 'c or 'c' or '\n'
                end = i + 3 if raw[i + 1] == "\\" else i + 2
                if end < len(raw) and raw[end] == "'":
                    end += 1
                out.append(raw[i:end])
                i = end
                continue
            elif ch == "#":
                break
            elif raw.startswith("/*", i):
                in_block, i = True, i + 2
                continue
            elif ch == ";":
                out.append("\n")
            else:
                out.append(ch)
            i += 1
        for stmt in "".join(out).split("\n"):
            if stmt.strip():
                yield number, stmt.strip()


def _string_literal(text: str, line: int) -> list[bytes]:
    """Parse one or more comma-separated "..." literals with C escapes."""
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        if text[i] in " ,\t":
            i += 1
            continue
        if text[i] != '"':
            raise AsmError(f"expected a string literal, got '{text[i:]}'", line)
        buf, i = bytearray(), i + 1
        while True:
            if i >= len(text):
                raise AsmError("unterminated string", line)
            ch = text[i]
            if ch == '"':
                i += 1
                break
            if ch == "\\":
                i += 1
                esc = text[i] if i < len(text) else ""
                simple = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7,
                          "\\": 92, '"': 34, "'": 39}
                if esc in simple:
                    buf.append(simple[esc])
                    i += 1
                elif esc in "01234567" and esc:
                    m = re.match(r"[0-7]{1,3}", text[i:])
                    buf.append(int(m.group(0), 8) & 0xFF)
                    i += len(m.group(0))
                elif esc in ("x", "X"):
                    m = re.match(r"[0-9a-fA-F]+", text[i + 1:])
                    if not m:
                        raise AsmError("bad \\x escape", line)
                    buf.append(int(m.group(0), 16) & 0xFF)
                    i += 1 + len(m.group(0))
                else:
                    raise AsmError(f"unknown escape '\\{esc}'", line)
                continue
            buf.extend(ch.encode("utf-8"))
            i += 1
        out.append(bytes(buf))
    return out


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
        self.fwd: list[tuple[Insn | Data, int]] = []

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

    def emit(self, prog: Program, item: Item, line: int) -> None:
        if self.section is None:
            return  # inside a section we discard (debug info, notes)
        if self.section == "bss" and isinstance(item, Insn | Data | Bytes) and not (
            isinstance(item, Bytes) and not any(item.data)
        ):
            raise AsmError("only zeros may be placed in .bss", line)
        prog.sections[self.section].append(item)

    def statement(self, prog: Program, line: int, stmt: str) -> None:
        while True:
            m = _LABEL.match(stmt)
            if not m:
                break
            name = m.group(1)
            if name.isdigit():
                k = self.numeric.get(name, 0) + 1
                self.numeric[name] = k
                name = self.numeric_name(name, k)
            self.emit(prog, Label(name, line, self.origin), line)
            stmt = stmt[m.end():].strip()
            if not stmt:
                return
        m = _EQUATE.match(stmt)
        if m and not stmt.startswith("."):
            prog.equates[m.group(1)] = parse_expr(m.group(2))
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
            for s in _string_literal(rest, line):
                self.emit(prog, Bytes(s + (b"\0" if d != ".ascii" else b""), line), line)
        elif d in (".zero", ".skip", ".space"):
            if not args:
                raise AsmError(f"{d} needs a size", line)
            n = self.const(args[0], line)
            fill = self.const(args[1], line) & 0xFF if len(args) > 1 else 0
            if n < 0 or n > 1 << 24:
                raise AsmError(f"{d} size {n} out of range", line)
            self.emit(prog, Bytes(bytes([fill]) * n, line), line)
        elif d in (".align", ".balign", ".p2align"):
            if not args or not args[0]:
                raise AsmError(f"{d} needs an alignment", line)
            n = self.const(args[0], line)
            boundary = 1 << n if d == ".p2align" else n
            if boundary <= 0 or boundary & (boundary - 1) or boundary > 4096:
                raise AsmError(f"bad alignment {n}", line)
            fill = self.const(args[1], line) if len(args) > 1 and args[1] else None
            mx = self.const(args[2], line) if len(args) > 2 and args[2] else None
            self.emit(prog, Align(boundary, line, fill, mx), line)
        elif d in (".comm", ".lcomm"):
            if len(args) < 2:
                raise AsmError(f"{d} needs a symbol and a size", line)
            align = self.const(args[2], line) if len(args) > 2 else min(
                16, 1 << max(0, (self.const(args[1], line) - 1).bit_length()))
            self.comm.append((args[0], self.const(args[1], line), max(1, align), line))
        elif d in (".set", ".equ", ".equiv"):
            if len(args) != 2:
                raise AsmError(f"{d} needs a symbol and a value", line)
            prog.equates[args[0]] = parse_expr(args[1])
        else:
            raise AsmError(f"unsupported directive {d}", line)

    def const(self, text: str, line: int) -> int:
        v = parse_expr(text).constant
        if v is None:
            raise AsmError(f"expected a constant, got '{text}'", line)
        return v

    def instruction(self, prog: Program, line: int, word: str, rest: str) -> None:
        if word in PREFIXES:
            if not rest:
                self.pending_prefixes.append(word)
                return
            self.pending_prefixes.append(word)
            word, *more = rest.split(None, 1)  # gcc puts a tab before the operands
            self.instruction(prog, line, word.lower(), more[0].strip() if more else "")
            return
        if not re.fullmatch(r"[a-z][a-z0-9]*", word):
            raise AsmError(f"unknown mnemonic '{word}'", line)
        branch = is_branch(word)
        ops = []
        for text in split_operands(rest):
            op = parse_operand(text, branch)
            for attr in ("expr", "disp"):
                val = getattr(op, attr, None)
                if val is not None:
                    op = type(op)(**{**op.__dict__, attr: self.resolve_numeric(val, line)})
            if hasattr(op, "inner") and getattr(op.inner, "disp", None) is not None:
                inner = op.inner
                op = type(op)(type(inner)(**{**inner.__dict__,
                                             "disp": self.resolve_numeric(inner.disp, line)}))
            ops.append(op)
        prefixes, self.pending_prefixes = tuple(self.pending_prefixes), []
        if self.section not in ("text", "ktext"):
            raise AsmError(f"instruction '{word}' outside a code section", line)
        self.emit(prog, Insn(word, tuple(ops), line, self.origin, prefixes), line)


def parse(text: str, origin: str = "program", into: Program | None = None) -> Program:
    """Parse assembly text; errors carry the line they come from."""
    prog = into or Program()
    p = _Parser(origin)
    for line, stmt in _statements(text):
        prog.lines[(origin, line)] = stmt
        try:
            p.statement(prog, line, stmt)
        except AsmError as e:
            raise AsmError(e.message, e.line if e.line is not None else line, origin) from None
    for name, size, align, line in p.comm:
        items = prog.sections["kdata" if p.kernel else "bss"]
        items += [Align(min(align, 4096), line), Label(name, line, origin),
                  Bytes(bytes(size), line)]
    if p.pending_prefixes:
        raise AsmError("prefix without an instruction at end of file", None, origin)
    return prog


__all__ = ["Align", "Bytes", "Data", "Imm", "Insn", "Item", "Label", "Program", "parse"]

"""AT&T operands: parse once, then print with every expression resolved to hex.

Printing resolved values in 0x form is what keeps decimal decimal: Keystone's AT&T
mode reads a bare `144` as 0x144.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cached_property, lru_cache

from app.asm.errors import AsmError
from app.asm.expr import Expr, number, parse_expr

_REG = re.compile(r"%(st\(\d\)|[a-z][a-z0-9]*)$")


class _Printed:
    """An operand that names no symbol prints the same in every layout pass of every
    load, and (parsed once per text) is shared by every line that writes it."""

    @cached_property
    def constant_text(self) -> str:
        """The operand with its values in hex; only for one that names no symbol."""
        return self.render({})

    @cached_property
    def symbol_names(self) -> frozenset[str]:
        """The symbols the operand names (asked for in every layout pass of every load:
        found once, the operand being frozen)."""
        return _symbols_of(self)


@dataclass(frozen=True)
class Reg(_Printed):
    name: str  # without '%', lower case

    def render(self, values: Mapping[str, int] | None = None) -> str:
        return f"%{self.name}"


@dataclass(frozen=True)
class Imm(_Printed):
    expr: Expr

    def render(self, values: Mapping[str, int] | None = None) -> str:
        if values is None:
            return f"${self.expr}"
        return f"${_hex(self.expr.value(values))}"


@dataclass(frozen=True)
class Mem(_Printed):
    disp: Expr | None
    base: str | None = None
    index: str | None = None
    scale: int = 1
    seg: str | None = None

    @property
    def rip_relative(self) -> bool:
        return self.base == "rip"

    def with_disp(self, disp: Expr) -> Mem:
        return replace(self, disp=disp)

    def render(self, values: Mapping[str, int] | None = None, disp_value: int | None = None) -> str:
        seg = f"%{self.seg}:" if self.seg else ""
        if disp_value is not None:
            disp = _hex(disp_value)
        elif self.disp is None or (self.disp.constant == 0 and (self.base or self.index)):
            disp = ""
        elif values is None:
            disp = str(self.disp)
        else:
            disp = _hex(self.disp.value(values))
        if self.base is None and self.index is None:
            return f"{seg}{disp or '0x0'}"
        inner = f"%{self.base}" if self.base else ""
        if self.index:
            inner += f",%{self.index},{self.scale}"
        return f"{seg}{disp}({inner})"


@dataclass(frozen=True)
class Target(_Printed):
    """A direct branch or call target: a bare expression."""

    expr: Expr

    def render(self, values: Mapping[str, int] | None = None) -> str:
        return str(self.expr) if values is None else _hex(self.expr.value(values))


@dataclass(frozen=True)
class Indirect(_Printed):
    """`*%reg` or `*mem` in a jump or call."""

    inner: Reg | Mem

    def render(self, values: Mapping[str, int] | None = None) -> str:
        return "*" + self.inner.render(values)


Operand = Reg | Imm | Mem | Target | Indirect


def _hex(v: int) -> str:
    return f"-0x{-v:x}" if v < 0 else f"0x{v:x}"


# texts up to this long are remembered, parsed (the cache holds at most
# 2 x 16,384 of them: a few MB, whatever the program)
_CACHED_TEXT = 128


def split_operands(text: str) -> tuple[str, ...]:
    """Split on commas that are outside parentheses and quotes."""
    return _split_cached(text) if len(text) <= _CACHED_TEXT else _split(text)


@lru_cache(maxsize=1 << 14)  # operand lists recur all over a program
def _split_cached(text: str) -> tuple[str, ...]:
    return _split(text)


def _split(text: str) -> tuple[str, ...]:
    parts, depth, cur, quote = [], 0, [], None
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    tail = "".join(cur).strip()
    if tail or parts:
        parts.append(tail)
    return tuple(parts)


_GPR64 = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
          *(f"r{n}" for n in range(8, 16))}
_KNOWN = (_GPR64
          | {"eax", "ebx", "ecx", "edx", "esi", "edi", "ebp", "esp", "ax", "bx", "cx", "dx",
             "si", "di", "bp", "sp", "al", "bl", "cl", "dl", "ah", "bh", "ch", "dh", "sil",
             "dil", "bpl", "spl", "rip", "cs", "ds", "es", "fs", "gs", "ss", "st"}
          | {f"r{n}{s}" for n in range(8, 16) for s in ("d", "w", "b")}
          | {f"{k}mm{n}" for k in ("x", "y") for n in range(16)}
          | {f"mm{n}" for n in range(8)} | {f"st({n})" for n in range(8)}
          | {f"cr{n}" for n in (0, 2, 3, 4, 8)} | {f"dr{n}" for n in range(8)})


def _reg(text: str) -> str:
    t = text.strip().lower()
    m = _REG.match(t)
    if not m or m.group(1) not in _KNOWN:
        raise AsmError(f"bad register '{text.strip()}'")
    return m.group(1)


def _address_reg(text: str, role: str) -> str:
    r = _reg(text)
    if r == "rip" and role == "base":
        return r
    if r not in _GPR64:
        raise AsmError(f"'%{r}' cannot be an address {role} here (use a 64-bit "
                       "general register)")
    if role == "index" and r == "rsp":
        raise AsmError("'%rsp' cannot be an index register")
    return r


def _mem(text: str) -> Mem:
    seg = None
    m = re.match(r"\s*%([cdefgs]s)\s*:(.*)$", text, re.I)
    if m:
        seg, text = m.group(1).lower(), m.group(2)
    text = text.strip()
    if text.endswith(")"):
        start = _regs_paren(text)
        if start is not None:
            disp_text = text[:start].strip()
            parts = [p.strip() for p in text[start + 1:-1].split(",")]
            if len(parts) > 3:
                raise AsmError(f"bad memory operand '{text}'")
            base = _address_reg(parts[0], "base") if parts[0] else None
            index = _address_reg(parts[1], "index") if len(parts) > 1 and parts[1] else None
            if base == "rip" and index:
                raise AsmError("RIP-relative addressing takes no index register")
            scale = 1
            if len(parts) == 3 and parts[2]:
                scale = parse_expr(parts[2]).constant or 0
                if scale not in (1, 2, 4, 8):
                    raise AsmError(f"bad scale in '{text}'")
            disp = parse_expr(disp_text) if disp_text else None
            return Mem(disp, base, index, scale, seg)
    return Mem(parse_expr(text), None, None, 1, seg)


def _regs_paren(text: str) -> int | None:
    """Index of the '(' that opens the (base,index,scale) part, if any."""
    depth = 0
    for i in range(len(text) - 1, -1, -1):
        if text[i] == ")":
            depth += 1
        elif text[i] == "(":
            depth -= 1
            if depth == 0:
                inner = text[i + 1:].lstrip()
                return i if inner.startswith(("%", ",")) or inner == ")" else None
    return None


def parse_operand(text: str, branch: bool = False) -> Operand:
    return (_parse_cached(text, branch) if len(text) <= _CACHED_TEXT
            else _parse_operand(text, branch))


@lru_cache(maxsize=1 << 14)  # operands recur all over a program (and its next load)
def _parse_cached(text: str, branch: bool) -> Operand:
    return _parse_operand(text, branch)


def _parse_operand(text: str, branch: bool) -> Operand:
    t = text.strip()
    if not t:
        raise AsmError("empty operand")
    if t.startswith("$"):
        return Imm(parse_expr(t[1:]))
    if t.startswith("*"):
        inner = t[1:].strip()
        return Indirect(Reg(_reg(inner)) if inner.startswith("%") and ":" not in inner
                        else _mem(inner))
    if t.startswith("%") and ":" not in t:
        reg = _reg(t)
        if reg in ("rip", "eip", "ip"):
            raise AsmError("%rip can only be a base address register")
        return Reg(reg)
    if branch and "(" not in t and ":" not in t:
        return Target(parse_expr(t))
    return _mem(t)


def symbols_of(op: Operand) -> frozenset[str]:
    return op.symbol_names


def _symbols_of(op: Operand) -> frozenset[str]:
    if isinstance(op, Imm | Target):
        return op.expr.symbols()
    if isinstance(op, Mem):
        return op.disp.symbols() if op.disp else frozenset()
    if isinstance(op, Indirect):
        return symbols_of(op.inner)
    return frozenset()


def zero_disp(mem: Mem) -> Mem:
    return replace(mem, disp=number(0))

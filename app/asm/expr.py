"""Assembler expressions: numbers, symbols, + - * / % << >> & | ^ ~ and parentheses.

GNU as number syntax: decimal, 0x hex, 0b binary, leading-zero octal, 'c' characters.
Decimal is always decimal here; the encoder re-emits every value in hex so that
Keystone's AT&T mode (which reads bare numbers as hex) cannot misread them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

from app.asm.errors import AsmError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|\d+)(?![\w.$])"
    r"|(?P<chr>'(?:\\.|[^\\'])'?)"
    r"|(?P<sym>[A-Za-z_.$][\w.$@]*|\d+[bf](?![\w.$]))"
    r"|(?P<op><<|>>|[-+*/%&|^~()]))"
)

# how big one expression may be: far beyond anything written by hand or by gcc, and small
# enough that walking a tree (evaluate, rename, print) never nears Python's recursion limit
MAX_TOKENS = 256
MAX_NESTING = 64

# values are kept to 128 bits: a short expression must not make a huge integer (one
# `1<<0x1000000` would hold the interpreter for seconds, every user of the server with it)
LIMIT = 1 << 128


def _bounded(v: int) -> int:
    if not -LIMIT < v < LIMIT:
        raise AsmError("expression value out of range (more than 128 bits)")
    return v


def _shift(a: int, b: int, left: bool) -> int:
    if not 0 <= b <= 127:
        raise AsmError(f"shift count {b} out of range (0 to 127)")
    return _bounded(a << b if left else a >> b)


_BINARY = {
    "|": (1, lambda a, b: a | b), "^": (2, lambda a, b: a ^ b), "&": (3, lambda a, b: a & b),
    "<<": (4, lambda a, b: _shift(a, b, True)), ">>": (4, lambda a, b: _shift(a, b, False)),
    "+": (5, lambda a, b: _bounded(a + b)), "-": (5, lambda a, b: _bounded(a - b)),
    "*": (6, lambda a, b: _bounded(a * b)), "/": (6, lambda a, b: _div(a, b)),
    "%": (6, lambda a, b: _mod(a, b)),
}


def _div(a: int, b: int) -> int:
    if b == 0:
        raise AsmError("division by zero in expression")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _mod(a: int, b: int) -> int:
    return a - b * _div(a, b)


@dataclass(frozen=True)
class Expr:
    """A parsed tree: ('num', v) | ('sym', name) | (op, left, right) | ('neg'|'not', e)."""

    tree: tuple

    def symbols(self) -> frozenset[str]:
        return self._symbols

    @cached_property
    def _symbols(self) -> frozenset[str]:
        # asked for in every layout pass of every load: walked once (the tree is frozen)
        out: set[str] = set()
        _walk(self.tree, out)
        return frozenset(out)

    def value(self, lookup: Callable[[str], int] | Mapping[str, int]) -> int:
        # a dict without the Mapping check (an ABC's: a call of Python's)
        get = lookup.__getitem__ if type(lookup) is dict or isinstance(lookup, Mapping) \
            else lookup
        return _evaluate(self.tree, get)

    def rename(self, mapping: Mapping[str, str]) -> Expr:
        return Expr(_renamed(self.tree, mapping))

    def plus(self, n: int) -> Expr:
        if n == 0:
            return self
        if self.tree[0] == "num":
            return Expr(("num", self.tree[1] + n))
        return Expr(("+", self.tree, ("num", n)))

    @property
    def constant(self) -> int | None:
        return self.tree[1] if self.tree[0] == "num" else None

    def __str__(self) -> str:
        return _printed(self.tree)


# the walks of a tree are functions of their own, not closures: a recursive closure is a
# reference cycle, garbage that waits for the cyclic collector (paused during a load,
# which evaluates thousands of expressions)
def _walk(t: tuple, out: set[str]) -> None:
    if t[0] == "sym":
        out.add(t[1])
    elif t[0] != "num":
        for sub in t[1:]:
            _walk(sub, out)


def _evaluate(t: tuple, get: Callable[[str], int]) -> int:
    kind = t[0]
    if kind == "num":
        return t[1]
    if kind == "sym":
        try:
            return get(t[1])
        except KeyError:
            raise AsmError(f"undefined symbol '{t[1]}'") from None
    if kind == "neg":
        return -_evaluate(t[1], get)
    if kind == "not":
        return ~_evaluate(t[1], get)
    return _BINARY[kind][1](_evaluate(t[1], get), _evaluate(t[2], get))


def _renamed(t: tuple, mapping: Mapping[str, str]) -> tuple:
    if t[0] == "sym":
        return ("sym", mapping.get(t[1], t[1]))
    if t[0] == "num":
        return t
    return (t[0], *(_renamed(s, mapping) for s in t[1:]))


def _printed(t: tuple) -> str:
    if t[0] == "num":
        v = t[1]
        return (f"-{-v:#x}" if v < 0 else f"{v:#x}") if abs(v) >= 0x1000 else str(v)
    if t[0] == "sym":
        return t[1]
    if t[0] == "neg":
        return f"-{_printed(t[1])}"
    if t[0] == "not":
        return f"~{_printed(t[1])}"
    right = _printed(t[2])
    if t[0] == "+" and right.startswith("-"):
        return f"{_printed(t[1])}{right}"
    if t[2][0] not in ("num", "sym", "neg"):
        right = f"({right})"
    return f"{_printed(t[1])}{t[0]}{right}"


def number(value: int) -> Expr:
    return Expr(("num", value))


def _char_value(tok: str) -> int:
    body = tok[1:-1] if tok.endswith("'") and len(tok) > 2 else tok[1:]
    if body.startswith("\\"):
        esc = {"n": 10, "t": 9, "r": 13, "0": 0, "\\": 92, "'": 39, '"': 34, "b": 8, "f": 12}
        if body[1:] in esc:
            return esc[body[1:]]
        raise AsmError(f"unknown character escape {tok}")
    return ord(body)


def excerpt(text: str, limit: int = 60) -> str:
    """Text to quote in a message: a whole line can be 200 KB."""
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def tokenize(text: str) -> list[tuple[str, str]]:
    pos, out = 0, []
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise AsmError(f"cannot read expression '{excerpt(text)}'")
        if len(out) == MAX_TOKENS:
            raise AsmError(f"expression '{excerpt(text)}' is too long (more than "
                           f"{MAX_TOKENS} numbers, symbols and operators)")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _int(tok: str) -> int:
    if len(tok) > 140:  # 128 bits in binary, with its prefix
        raise AsmError(f"number {tok[:20]}… ({len(tok)} digits) is too long: values have "
                       "at most 128 bits")
    if tok[:2] in ("0x", "0X"):
        return int(tok, 16)
    if tok[:2] in ("0b", "0B"):
        return int(tok[2:], 2)
    if len(tok) > 1 and tok[0] == "0":
        try:
            return int(tok, 8)
        except ValueError:
            raise AsmError(f"bad octal number {tok}") from None
    return int(tok)


def parse_expr(text: str) -> Expr:
    """Parse a whole string as one expression."""
    toks = tokenize(text)
    if not toks:
        raise AsmError("missing expression")
    p = _ExprParser(text, toks)
    tree = p.binary(0)
    if p.pos != len(toks):
        raise AsmError(f"unexpected '{toks[p.pos][1]}' in expression '{excerpt(text)}'")
    return Expr(tree)


class _ExprParser:
    """Precedence climbing over the tokens; `depth` counts open parentheses and signs."""

    def __init__(self, text: str, toks: list[tuple[str, str]]) -> None:
        self.text, self.toks = text, toks
        self.pos = self.depth = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.pos] if self.pos < len(self.toks) else None

    def unary(self) -> tuple:
        tok = self.peek()
        if tok is None:
            raise AsmError(f"incomplete expression '{excerpt(self.text)}'")
        self.pos += 1
        kind, val = tok
        if kind == "num":
            return ("num", _int(val))
        if kind == "chr":
            return ("num", _char_value(val))
        if kind == "sym":
            return ("sym", val)
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise AsmError(f"expression '{excerpt(self.text)}' is nested too deeply (more "
                           f"than {MAX_NESTING} levels of parentheses and signs)")
        try:
            return self.prefixed(val)
        finally:
            self.depth -= 1

    def prefixed(self, val: str) -> tuple:
        if val == "-":
            inner = self.unary()
            return ("num", -inner[1]) if inner[0] == "num" else ("neg", inner)
        if val == "+":
            return self.unary()
        if val == "~":
            return ("not", self.unary())
        if val == "(":
            inner = self.binary(0)
            if self.peek() != ("op", ")"):
                raise AsmError(f"missing ')' in '{excerpt(self.text)}'")
            self.pos += 1
            return inner
        raise AsmError(f"unexpected '{val}' in expression '{excerpt(self.text)}'")

    def binary(self, min_prec: int) -> tuple:
        left = self.unary()
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in _BINARY:
            prec = _BINARY[tok[1]][0]
            if prec < min_prec:
                break
            self.pos += 1
            right = self.binary(prec + 1)
            if left[0] == "num" and right[0] == "num":
                left = ("num", _BINARY[tok[1]][1](left[1], right[1]))
            else:
                left = (tok[1], left, right)
        return left

"""Source text -> statements, and string literals: the character-level part of parsing.

Both run in time linear in the text: a line can be 200 KB (one statement, or thousands
separated by ';'), so nothing here re-slices the rest of a line per character.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from app.asm.errors import AsmError
from app.asm.expr import excerpt

_OCTAL = re.compile(r"[0-7]{1,3}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_SIMPLE = {"n": 10, "t": 9, "r": 13, "b": 8, "f": 12, "v": 11, "a": 7, "\\": 92, '"': 34,
           "'": 39}


_SPECIAL = re.compile(r"[\"'#;]|/\*")  # what only the character walk below handles


def statements(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, statement) with comments removed and ';' split."""
    in_block = False
    for number, raw in enumerate(text.splitlines(), start=1):
        if not in_block and not _SPECIAL.search(raw):
            # most lines (gcc's included): no quote, comment or ';', so the line is the
            # statement, and the walk a character at a time is not needed
            if stmt := raw.strip():
                yield number, stmt
            continue
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


def string_literals(text: str, line: int) -> list[bytes]:
    """Parse one or more comma-separated "..." literals with C escapes."""
    out, i = [], 0
    text = text.strip()
    while i < len(text):
        if text[i] in " ,\t":
            i += 1
            continue
        if text[i] != '"':
            raise AsmError(f"expected a string literal, got '{excerpt(text[i:])}'", line)
        buf, i = bytearray(), i + 1
        while True:
            if i >= len(text):
                raise AsmError("unterminated string", line)
            ch = text[i]
            if ch == '"':
                i += 1
                break
            if ch == "\\":
                i = _escape(text, i + 1, buf, line)
                continue
            buf.extend(ch.encode("utf-8"))
            i += 1
        out.append(bytes(buf))
    return out


def _escape(text: str, i: int, buf: bytearray, line: int) -> int:
    """Append the escape that starts at text[i] (after its backslash); return its end."""
    esc = text[i] if i < len(text) else ""
    if esc in _SIMPLE:
        buf.append(_SIMPLE[esc])
        return i + 1
    if esc and esc in "01234567":
        m = _OCTAL.match(text, i)
        buf.append(int(m.group(0), 8) & 0xFF)
        return m.end()
    if esc in ("x", "X"):
        m = _HEX.match(text, i + 1)
        if not m:
            raise AsmError("bad \\x escape", line)
        # as GNU as: every hex digit is read, the byte is the low eight bits
        buf.append(int(m.group(0)[-2:], 16))
        return m.end()
    raise AsmError(f"unknown escape '\\{esc}'", line)

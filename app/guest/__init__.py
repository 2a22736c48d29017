"""The tiny guest kernel and its small library, shipped as assembly text."""

from __future__ import annotations

import re
from importlib import resources

_ENTRY = re.compile(r"^([A-Za-z_]\w*):", re.M)
_REF = re.compile(r"\b(?:call|jmp)\s+([A-Za-z_]\w*)")


def kernel_source() -> str:
    return resources.files(__package__).joinpath("kernel.s").read_text()


def library_functions() -> dict[str, str]:
    """libk.s split into functions, keyed by name; each begins at a `name:` line."""
    text = resources.files(__package__).joinpath("libk.s").read_text()
    parts = re.split(r"^(?=[A-Za-z_]\w*:)", text, flags=re.M)
    out = {}
    for part in parts:
        m = _ENTRY.match(part)
        if m:
            out[m.group(1)] = part
    return out


def library_for(needed: set[str], defined: set[str]) -> str:
    """The library functions a program calls but does not define, with what they call."""
    lib = library_functions()
    chosen: list[str] = []
    todo = sorted(n for n in needed if n in lib and n not in defined)
    while todo:
        name = todo.pop()
        if name in chosen:
            continue
        chosen.append(name)
        todo += [r for r in _REF.findall(lib[name]) if r in lib and r not in defined]
    return "\n".join(lib[n] for n in sorted(chosen))

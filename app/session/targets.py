"""Injection targets as people write them: `symbol`, `symbol+8`, `0x900010`,
`frame:0x2a1`, `dimm:2`, or `random` (a random written page, chosen deterministically)."""

from __future__ import annotations

import random as _random

from app.asm.errors import AsmError
from app.asm.expr import parse_expr


def resolve_target(session, vm, kind: str, target: str, copy: int = 0) -> dict:
    t = target.strip()
    if t.startswith("dimm:"):
        return {"dimm": _int(t[5:])}
    if t.startswith("frame:"):
        return {"frame": _int(t[6:])}
    if t == "random":
        pages = sorted(va for va, p in vm.pages.items() if p.kind == "ram" and _written(vm, p))
        if not pages:
            raise ValueError("no written page to pick from yet")
        rng = _random.Random(session.seq)
        va = rng.choice(pages) + rng.randrange(0, 0x1000, 8)
    elif kind == "dimm" and t.isdigit():
        return {"dimm": int(t)}
    else:
        try:
            va = parse_expr(t).value(session.build.image.symbols)
        except AsmError as e:
            raise ValueError(f"bad target '{target}': {e.message}") from None
    return {"vm": vm, "va": va + copy * vm.offset}


def _written(vm, page) -> bool:
    return page.flags & 2 != 0


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None

"""Injection targets as people write them: `symbol`, `symbol+8`, `0x900010`,
`frame:0x2a1`, `frame:0x2a1+0x10`, `dimm:2`, or `random` (a random written page, chosen
deterministically). An address names a byte; `:N` after it picks that byte's bit N
(0 to 7), as in `table+4:3`."""

from __future__ import annotations

import random as _random

from app.asm.errors import AsmError
from app.asm.expr import parse_expr


def resolve_target(session, vm, kind: str, target: str, copy: int = 0) -> dict:
    """The hypervisor's arguments for `target`; with `bit` if the target names one."""
    t, bit = _split_bit(target.strip())
    where = _resolve(session, vm, kind, t, copy)
    if bit is not None:
        if "dimm" in where:
            raise ValueError("a DIMM has no bit to pick: write dimm:N")
        where["bit"] = bit
    return where


def _split_bit(t: str) -> tuple[str, int | None]:
    head, colon, tail = t.rpartition(":")
    if not colon or head in ("frame", "dimm") or not tail.strip().isdigit():
        return t, None
    bit = int(tail)
    if bit > 7:
        raise ValueError(f"'{t}': bit {bit} is not a bit of a byte (0 to 7)")
    return head.strip(), bit


def _resolve(session, vm, kind: str, t: str, copy: int) -> dict:
    if t.startswith("dimm:"):
        return {"dimm": _int(t[5:])}
    if t.startswith("frame:"):
        frame, _plus, offset = t[6:].partition("+")
        at = _int(offset) if offset else 0
        if not 0 <= at < 0x1000:
            raise ValueError(f"'{t}': an offset in a frame is 0 to 0xfff")
        return {"frame": _int(frame), "va": at}
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
            raise ValueError(f"bad target '{t}': {e.message}") from None
    return {"vm": vm, "va": va + copy * vm.offset}


def _written(vm, page) -> bool:
    return page.flags & 2 != 0


def _int(text: str) -> int:
    try:
        return int(text, 0)
    except ValueError:
        raise ValueError(f"'{text}' is not a number") from None

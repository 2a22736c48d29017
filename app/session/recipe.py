"""A session as a recipe: its program and settings, and the commands in its history.

The engine is deterministic, so replaying the recipe rebuilds the session exactly: a
classroom survives a server restart this way (the recipe is kept in SQLite), and a
student's fork is the instructor's recipe replayed into a new session.
"""

from __future__ import annotations

from app.session.session import Entry, Session


def _args(args: dict) -> dict:
    a = dict(args)
    if "breakpoints" in a:
        a["breakpoints"] = sorted(a["breakpoints"])
        a["watchpoints"] = [list(w) for w in a["watchpoints"]]
    return a


def commands(s: Session) -> list[tuple[str, dict]]:
    """The commands that rebuild the session from its boot, oldest first. They change
    only at the end (a step appends, `back` removes the last) until a reset or a load."""
    return list(s.forgotten) + [(e.command, e.args) for e in s.history]


def encode(command: str, args: dict) -> list:
    return [command, _args(args)]


def recipe(s: Session, history: bool = True) -> dict:
    """The whole recipe; without `history` only its head (program, settings, undone)."""
    out = {"source": s.source, "mirror": s.mirror, "offset": s.offset,
           "compare": s.compare, "mirror_devices": s.mirror_devices,
           "undone": [encode(e.command, e.args) for e in s.undone]}
    if history:
        out["history"] = [encode(c, a) for c, a in commands(s)]
    return out


def from_recipe(r: dict) -> Session:
    s = Session(r["source"], r["mirror"], r["offset"], r["compare"],
                mirror_devices=r.get("mirror_devices", False))
    for command, args in r["history"]:
        s.replay(command, args)
    s.undone = [Entry(command, [], [], args) for command, args in r["undone"]]
    return s

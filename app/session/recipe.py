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


def recipe(s: Session) -> dict:
    return {"source": s.source, "mirror": s.mirror, "offset": s.offset,
            "compare": s.compare, "mirror_devices": s.mirror_devices,
            "history": [[c, _args(a)] for c, a in s.forgotten]
            + [[e.command, _args(e.args)] for e in s.history],
            "undone": [[e.command, _args(e.args)] for e in s.undone]}


def from_recipe(r: dict) -> Session:
    s = Session(r["source"], r["mirror"], r["offset"], r["compare"],
                mirror_devices=r.get("mirror_devices", False))
    for command, args in r["history"]:
        s.replay(command, args)
    s.undone = [Entry(command, [], [], args) for command, args in r["undone"]]
    return s

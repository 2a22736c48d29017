"""A session as a recipe: its program and settings, and the commands in its history.

The engine is deterministic, so replaying the recipe rebuilds the session exactly: a
classroom survives a server restart this way (the recipe is kept in SQLite), and a
student's fork is the instructor's recipe replayed into a new session.
"""

from __future__ import annotations

from app.session import saved
from app.session.history import Entry, History
from app.session.session import Session, build_program


def _args(args: dict) -> dict:
    a = dict(args)
    if "breakpoints" in a:
        a["breakpoints"] = sorted(a["breakpoints"])
        a["watchpoints"] = [list(w) for w in a["watchpoints"]]
    return a


def commands(s: Session) -> list[tuple[str, dict]]:
    """The commands that rebuild the session from its boot, oldest first. They change
    only at the end (a step appends, `back` removes the last) until a reset or a load."""
    return s.history.commands()


def encode(command: str, args: dict) -> list:
    return [command, _args(args)]


def recipe(s: Session, history: bool = True) -> dict:
    """The whole recipe; without `history` only its head (program, settings, undone)."""
    out = {"source": s.source, "mirror": s.mirror, "offset": s.offset,
           "compare": s.compare, "mirror_devices": s.mirror_devices,
           "undone": [encode(e.command, e.args) for e in s.history.undone]}
    if history:
        out["history"] = [encode(c, a) for c, a in commands(s)]
    return out


def from_recipe(r: dict, checkpoint: bytes | None = None, covered: int = 0) -> Session:
    """The session the recipe describes. With a checkpoint of its state after its
    first `covered` commands, only the commands after those are replayed (and only
    they can be stepped back over)."""
    if checkpoint is None:
        s = Session(r["source"], r["mirror"], r["offset"], r["compare"],
                    mirror_devices=r.get("mirror_devices", False))
    else:
        s = _from_checkpoint(r, checkpoint, covered)
    for command, args in r["history"][covered if checkpoint is not None else 0:]:
        s.replay(command, args)
    s.history.undone = [Entry(command, [], [], args) for command, args in r["undone"]]
    return s


def _from_checkpoint(r: dict, checkpoint: bytes, covered: int) -> Session:
    head, machine = saved.from_bytes(checkpoint)
    st = saved.Settings(**head["settings"])
    if (r["mirror"], r["offset"], r["compare"]) != (st.mirror, st.offset, st.compare) or \
            covered > len(r["history"]):
        raise saved.CheckpointError("the checkpoint is not of this recipe")
    history = History()
    history.forgotten = [tuple(c) for c in r["history"][:covered]]
    history.base = head["native"]
    program = build_program(r["source"], st.mirror, st.offset)
    return Session.restore(saved.SavedSession(program, st, machine, head["seq"], history))

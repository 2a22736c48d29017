"""A session as a recipe: its program and settings, and the commands in its history.

The engine is deterministic, so replaying the recipe rebuilds the session exactly: a
classroom survives a server restart this way (the recipe is kept in SQLite), and a
student's fork is the instructor's recipe replayed into a new session.
"""

from __future__ import annotations

import json

import jsonschema

from app.asm.budget import LoadBudget
from app.contracts import validate_recipe
from app.session import saved
from app.session.errors import SessionError
from app.session.history import History
from app.session.program import build_program
from app.session.session import Session

FORMAT = {"format": "kmemvisor-recipe", "version": 1}
TRACE_FORMAT = {"format": "kmemvisor-trace", "version": 1}
# a replayed single step costs about as much as this many instructions at full speed
STEP_COST = 2000


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


def from_recipe(r: dict, checkpoint: bytes | None = None, covered: int = 0,
                budget: LoadBudget | None = None) -> Session:
    """The session the recipe describes. With a checkpoint of its state after its
    first `covered` commands, only the commands after those are replayed (and only
    they can be stepped back over). `budget` bounds assembling its program.

    The recorded future is replayed too, then stepped back over, so that it keeps
    its instruction counts, its marks and exact undo, as it had when recorded."""
    if checkpoint is None:
        s = Session(r["source"], r["mirror"], r["offset"], r["compare"],
                    mirror_devices=r.get("mirror_devices", False), budget=budget)
    else:
        s = _from_checkpoint(r, checkpoint, covered)
    for command, args in r["history"][covered if checkpoint is not None else 0:]:
        s.replay(command, args)
    here = s.history.position
    for command, args in r["undone"][::-1]:
        s.replay(command, args)
    s.seek(here)
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
    history.before = {st[0]: tuple(st) for st in head.get("stores", ())}
    program = build_program(r["source"], st.mirror, st.offset, st.compare)
    return Session.restore(saved.SavedSession(program, st, machine, head["seq"], history))


# -- the session as a file (app/contracts/recipe.json): downloaded, uploaded, shared

def document(s: Session) -> dict:
    """The recipe as a file: program, settings, history and recorded future."""
    return {**FORMAT, **recipe(s)}


def _branch(r: dict) -> list:
    """The recipe's commands from the boot to the end of its recorded future."""
    return [*r["history"], *r["undone"][::-1]]


def check_replay(r: dict, max_native: int) -> None:
    """SessionError unless replaying the recipe costs at most `max_native` native
    instructions at full speed (its runs' lengths; a step counts as STEP_COST)."""
    cost = sum(args["max_native"] if command == "run" else STEP_COST
               for command, args in _branch(r))
    if cost > max_native:
        raise SessionError(f"this session is too long to replay: up to {cost:,} native "
                           f"instructions, and the server replays at most {max_native:,} "
                           "(reset and record a shorter one)")


def from_document(doc, max_native: int, budget: LoadBudget | None = None) -> Session:
    """The session an uploaded file describes, refused (SessionError, saying what and
    where) if the file is not a recipe or its replay would run more than `max_native`
    native instructions."""
    if not isinstance(doc, dict):
        raise SessionError("this is not a kMemvisor Lab recipe (a JSON object)")
    if doc.get("format") == TRACE_FORMAT["format"] and isinstance(doc.get("recipe"), dict):
        doc = doc["recipe"]  # a trace carries its recipe
    try:
        validate_recipe(doc)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "the file"
        raise SessionError(f"not a recipe this version reads: {where}: "
                           f"{e.message[:160]}") from None
    check_replay(doc, max_native)
    return from_recipe(doc, budget=budget)


def trace(s: Session, max_bytes: int, budget: LoadBudget | None = None) -> dict:
    """The session's trace as a file: its recipe, and each command of the history and
    the recorded future with the step events it gives, replayed from the boot in a
    session of its own (the session itself is not touched). SessionError if its
    events would take more than `max_bytes`."""
    doc = document(s)
    fresh = from_recipe({**doc, "history": [], "undone": []}, budget=budget)
    entries, size = [], 0
    commands_ = _branch(doc)
    for n, (command, args) in enumerate(commands_):
        events = fresh.replay(command, args)
        size += len(json.dumps(events))
        if size > max_bytes:
            raise SessionError(f"the trace is longer than {max_bytes >> 20} MiB (after "
                               f"{n} of {len(commands_)} commands): step back, or "
                               "download the recipe instead")
        entries.append({"command": command, "args": args, "events": events})
    return {**TRACE_FORMAT, "recipe": doc, "position": len(doc["history"]),
            "entries": entries}

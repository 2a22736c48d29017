"""The program of a session: assembled and rewritten for its mirror mode, with the
line of any error; small programs built once and shared between sessions."""

from __future__ import annotations

import threading
from collections import OrderedDict

from app.asm.budget import LoadBudget
from app.asm.errors import AsmError
from app.contracts import Mode
from app.rewriter import MirrorRefused
from app.rewriter.build import Build, build
from app.session.errors import SessionError

# builds of small programs kept for the next session of the same program and settings
CACHED_SOURCE, CACHED_BUILDS = 64 << 10, 32
_BUILT: OrderedDict[tuple, Build] = OrderedDict()
_BUILT_LOCK = threading.Lock()


def forget_builds() -> None:
    """Drop the shared builds (a measurement of whole loads wants none of them)."""
    with _BUILT_LOCK:
        _BUILT.clear()


def build_program(source: str, mirror: str, offset: int, compare: bool = False,
                  budget: LoadBudget | None = None) -> Build:
    """The program assembled and rewritten for `mirror` and, with `compare`, for the
    unmirrored twin too (SessionError with its line).
    `budget` bounds the time it may take and lets another thread cancel it (the
    default budget when None). Small programs are built once and shared: every new
    tab loads the default example, every student of a lesson its program."""
    if len(source) <= CACHED_SOURCE:
        key = (source, mirror, offset, compare)
        with _BUILT_LOCK:
            hit = _BUILT.get(key)
            if hit is not None:
                _BUILT.move_to_end(key)
                return hit
    runs = (mirror, Mode.OFF) if compare else (mirror,)
    built = _build(source, mirror, offset, runs, budget or LoadBudget())
    if len(source) <= CACHED_SOURCE:
        with _BUILT_LOCK:
            _BUILT[key] = built
            while len(_BUILT) > CACHED_BUILDS:
                _BUILT.popitem(last=False)
    return built


def _build(source: str, mirror: str, offset: int, runs: tuple[str, ...],
           budget: LoadBudget) -> Build:
    try:
        try:  # unmirrored too, the listing shows what mirroring would add
            return build(source, mirror if mirror != Mode.OFF else Mode.ON, offset, budget=budget,
                         also=runs)
        except MirrorRefused:
            if mirror != Mode.OFF:
                raise
            # it runs, just not mirrored
            return build(source, Mode.OFF, offset, budget=budget)
    except AsmError as e:
        raise SessionError(e.message, e.program_line) from None

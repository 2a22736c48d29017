"""How long a load may take, and how another thread stops it.

A load (parse, lay out, encode, rewrite, encode again) does work in proportion to its
text, and a short text can still ask for a lot of it. Every stage calls `check` as it
goes, naming the line it is at, so that a load stops with that line when its time is
up or when whoever asked for it is gone (a browser tab that closed):

    budget = LoadBudget(seconds=5)          # or LoadBudget(cancelled=lambda: gone)
    threading.Timer(1, budget.cancel).start()
    build(text, budget=budget)              # raises LoadStopped naming the line

`cancel` may be called from any thread; `cancelled`, when given, is polled at most
every POLL_S seconds, so it may be a little costly (a socket's state).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.asm.errors import AsmError

DEFAULT_LOAD_SECONDS = 10.0  # the largest gcc output in the tests loads in under 2 s
POLL_S = 0.02


class LoadStopped(AsmError):
    """A load stopped before its end: out of time, or cancelled. `line` is where."""

    def __init__(self, message: str, line: int | None = None, origin: str = "program",
                 cancelled: bool = False) -> None:
        super().__init__(message, line, origin)
        self.cancelled = cancelled


class LoadBudget:
    """A deadline (`seconds` from now; None: no deadline) and a cancellation flag."""

    def __init__(self, seconds: float | None = DEFAULT_LOAD_SECONDS,
                 cancelled: Callable[[], bool] | None = None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError("a load budget must be a positive number of seconds")
        self.seconds = seconds
        self._deadline = None if seconds is None else time.monotonic() + seconds
        self._flag = threading.Event()
        self._poll = cancelled
        self._polled_at = 0.0

    def cancel(self) -> None:
        """Stop the load at its next check (safe from any thread)."""
        self._flag.set()

    @property
    def is_cancelled(self) -> bool:
        if self._flag.is_set():
            return True
        if self._poll is not None:
            now = time.monotonic()
            if now - self._polled_at >= POLL_S:
                self._polled_at = now
                if self._poll():
                    self._flag.set()
        return self._flag.is_set()

    def remaining(self) -> float | None:
        """Seconds left (0 when out of time), None without a deadline."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def check(self, line: int | None = None, origin: str = "program") -> None:
        """Raise LoadStopped, naming `line`, if the load must stop now."""
        if self.is_cancelled:
            raise LoadStopped("the load was cancelled", line, origin, cancelled=True)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise LoadStopped(f"the program takes too long to assemble: a load may take "
                              f"{self.seconds:g} s, and this one was stopped here",
                              line, origin)


def within(budget: LoadBudget | None) -> LoadBudget:
    """The budget to check against: the caller's, or one without a deadline."""
    return LoadBudget(None) if budget is None else budget

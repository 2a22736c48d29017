"""How much time a load may take, and how another thread stops it.

A load (parse, lay out, encode, rewrite, encode again) does work in proportion to its
text, and a short text can still ask for a lot of it. Every stage calls `check` as it
goes, naming the line it is at, so that a load stops at that line when its time is up
or when whoever asked for it has gone (a browser tab that closed):

    budget = LoadBudget(seconds=5)             # or LoadBudget(cancelled=lambda: gone)
    threading.Timer(1, budget.cancel).start()  # from any thread
    build(text, budget=budget)                 # raises LoadStopped naming the line

`seconds` is processor time: the loading thread's own plus what the encoder's worker
process spent on this load's instructions. Counting work rather than the clock keeps a
busy server from refusing ordinary programs (twenty loads at once each take twenty
times as long by the clock, not in work), while a hostile text still stops after
`seconds` of work. `deadline`, when given, also bounds the time by the clock, from the
budget's creation. `cancelled`, when given, is polled at most every POLL_S seconds, so
it may be a little costly (a socket's state).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from app.asm.errors import AsmError

DEFAULT_LOAD_SECONDS = 10.0  # the largest gcc output in the tests takes under 2 s
POLL_S = 0.02
CHECK_EVERY = 16  # calls of check() between two readings of the clocks


class LoadStopped(AsmError):
    """A load stopped before its end: out of time, or cancelled. `line` is where."""

    def __init__(self, message: str, line: int | None = None, origin: str = "program",
                 cancelled: bool = False) -> None:
        super().__init__(message, line, origin)
        self.cancelled = cancelled

    def placed(self, line: int | None, origin: str = "program") -> AsmError:
        return self  # it names the line it stopped at, and must stay a LoadStopped


class LoadBudget:
    """Processor time for one load (`seconds`; None: unbounded), an optional clock
    deadline (`deadline` seconds from now), and a cancellation flag."""

    def __init__(self, seconds: float | None = DEFAULT_LOAD_SECONDS, *,
                 deadline: float | None = None,
                 cancelled: Callable[[], bool] | None = None) -> None:
        for value in (seconds, deadline):
            if value is not None and not value > 0:
                raise ValueError("a load budget must be a positive number of seconds")
        self.seconds, self.deadline = seconds, deadline
        self._ends = None if deadline is None else time.monotonic() + deadline
        # set by cancel() from any thread (one store: atomic), read at every check (an
        # attribute, where an Event's is_set() was a call)
        self._stop = False
        self._poll = cancelled
        self._polled_at = 0.0
        self._thread: int | None = None  # the loading thread, known at its first check
        self._cpu_at_start = 0.0
        self._charged = 0.0              # work done elsewhere for this load
        self._calls = 0

    def cancel(self) -> None:
        """Stop the load at its next check (safe from any thread)."""
        self._stop = True

    @property
    def is_cancelled(self) -> bool:
        if not self._stop and self._poll is not None:
            now = time.monotonic()
            if now - self._polled_at >= POLL_S:
                self._polled_at = now
                if self._poll():
                    self.cancel()
        return self._stop

    def charge(self, seconds: float) -> None:
        """Count work done for this load outside its thread (the encoder's)."""
        self._charged += max(0.0, seconds)

    def used(self) -> float:
        """Processor seconds this load has taken so far."""
        if self._thread is None:
            return self._charged
        return time.thread_time() - self._cpu_at_start + self._charged

    def check(self, line: int | None = None, origin: str = "program") -> None:
        """Raise LoadStopped, naming `line`, if the load must stop now. The clocks are
        read at every CHECK_EVERY-th call only (a call comes every few microseconds of
        work, and reading them cost more than the work between)."""
        if self._thread is None:
            self._thread, self._cpu_at_start = threading.get_ident(), time.thread_time()
        self._calls += 1
        if self._calls % CHECK_EVERY and not self._stop:
            return
        if self.is_cancelled:
            raise LoadStopped("the load was cancelled", line, origin, cancelled=True)
        if self.seconds is not None and self.used() >= self.seconds:
            raise LoadStopped(f"the program takes too long to assemble: a load may take "
                              f"{self.seconds:g} s of processor time, and this one was "
                              "stopped here", line, origin)
        if self._ends is not None and time.monotonic() >= self._ends:
            raise LoadStopped(f"the program takes too long to assemble: a load may take "
                              f"{self.deadline:g} s, and this one was stopped here",
                              line, origin)


def within(budget: LoadBudget | None) -> LoadBudget:
    """The budget to check against: the caller's, or one without limits."""
    return LoadBudget(None) if budget is None else budget

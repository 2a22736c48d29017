"""The engine's threads: every piece of work on a session runs here, never on the
connection threads, so that a room full of tabs shares a few threads fairly.

Work is queued per workspace (one session never runs two jobs at once, and its jobs
run in the order they came) and served by lane:

  INTERACTIVE  a step, back, injection, a snapshot for a tab: short, served first
  RUN          one turn of a run (a few milliseconds of emulation); a running
               workspace goes to the back of the line after each turn, so runs share
               the engine round-robin and never hold up a step for more than a turn
  HEAVY        loading a program, rebuilding or forking a session, a lesson's step:
               bounded but slower

Each lane has threads of its own, so that a step never waits behind a run's turn or a
load. A job calls into its session's engine process (app/engine) and waits there, so
these threads hold the interpreter only briefly; the processes' priorities say what
the processor does first.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import IntEnum


class Lane(IntEnum):
    INTERACTIVE = 0
    RUN = 1
    HEAVY = 2


class Overloaded(Exception):
    """Too much work is waiting already; the message says what to do."""


@dataclass
class _Job:
    fn: Callable[[], object]
    lane: Lane
    future: Future = field(default_factory=Future)
    queued: float = field(default_factory=time.monotonic)


def _percentiles(ordered: list[float]) -> dict:
    if not ordered:
        return {"p50": None, "p99": None}
    pick = lambda p: round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 2)  # noqa: E731
    return {"p50": pick(0.5), "p99": pick(0.99)}


class Scheduler:
    def __init__(self, threads: dict[Lane, int] | None = None,
                 max_waiting: int = 4096, waiter=None) -> None:
        """`threads` per lane, each serving its lane alone (a step never waits behind a
        run's turn or a load). `waiter(future, timeout)` waits for a job's answer (the
        connections' side must not block its thread: see bridge.Bridge.wait)."""
        threads = threads or {Lane.INTERACTIVE: 2, Lane.RUN: 2, Lane.HEAVY: 1}
        self.max_waiting = max_waiting
        self.wait = waiter or (lambda future, timeout=None: future.result(timeout))
        # one lock; a condition per lane and one for the timers, so that a job wakes
        # one thread of its lane, not every engine thread
        lock = threading.Lock()
        self._cv = threading.Condition(lock)  # the timers'
        self._lane_cv = {lane: threading.Condition(lock) for lane in Lane}
        self._queues: dict[Hashable, deque[_Job]] = {}
        self._busy: set[Hashable] = set()
        self._ready: dict[Lane, deque[Hashable]] = {lane: deque() for lane in Lane}
        self._queued: set[Hashable] = set()  # keys in some ready line
        self._waiting = 0
        self._timers: list[tuple[float, int, Hashable, Callable, Lane]] = []
        self._tick = itertools.count()
        self._closed = False
        # the last jobs' (waited, ran) seconds per lane: what /status reports
        self._timings: dict[Lane, deque] = {lane: deque(maxlen=2000) for lane in Lane}
        self._threads = [threading.Thread(target=self._serve, args=(lane,),
                                          daemon=True, name=f"{lane.name.lower()}-{i}")
                         for lane, n in threads.items() for i in range(n)]
        self._threads.append(threading.Thread(target=self._clock, daemon=True, name="timers"))
        for t in self._threads:
            t.start()

    # -- the face
    def submit(self, key: Hashable, fn: Callable[[], object],
               lane: Lane = Lane.INTERACTIVE, continuation: bool = False) -> Future:
        """Queue `fn` on `key`'s line; its Future holds the result or the exception.
        A continuation (the next turn of a run already going) is never refused: there
        is at most one per workspace."""
        job = _Job(fn, lane)
        with self._cv:
            if self._closed:
                raise Overloaded("the server is shutting down")
            if self._waiting >= self.max_waiting and not continuation:
                raise Overloaded(f"the server has {self._waiting} pieces of work waiting; "
                                 "try again in a moment")
            self._waiting += 1
            self._queues.setdefault(key, deque()).append(job)
            self._make_ready(key)
        return job.future

    def call(self, key: Hashable, fn: Callable[[], object],
             lane: Lane = Lane.INTERACTIVE, timeout: float | None = None):
        """Run `fn` on `key`'s line and wait for its answer (re-raising its error)."""
        return self.wait(self.submit(key, fn, lane), timeout)

    def later(self, delay: float, key: Hashable, fn: Callable[[], object],
              lane: Lane = Lane.RUN) -> None:
        """Queue `fn` after `delay` seconds (a paced run's next step)."""
        with self._cv:
            heapq.heappush(self._timers, (time.monotonic() + delay, next(self._tick), key,
                                          fn, lane))
            self._cv.notify_all()

    def waiting(self) -> int:
        return self._waiting

    def status(self) -> dict:
        """Per lane: jobs waiting now, and the waits and run times of the last jobs
        (milliseconds, 50th and 99th percentiles)."""
        with self._cv:
            waiting = {lane: sum(1 for q in self._queues.values() for j in q if j.lane == lane)
                       for lane in Lane}
            timings = {lane: list(t) for lane, t in self._timings.items()}
        out = {}
        for lane in Lane:
            waits = sorted(w for w, _ in timings[lane])
            runs = sorted(r for _, r in timings[lane])
            out[lane.name.lower()] = {
                "waiting": waiting[lane], "jobs": len(waits),
                "wait_ms": _percentiles(waits), "run_ms": _percentiles(runs)}
        return out

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify_all()
            for cv in self._lane_cv.values():
                cv.notify_all()

    # -- inside
    def _make_ready(self, key: Hashable) -> None:
        q = self._queues.get(key)
        if q and key not in self._busy and key not in self._queued:
            self._ready[q[0].lane].append(key)
            self._queued.add(key)
            self._lane_cv[q[0].lane].notify()

    def _take(self, lane: Lane) -> tuple[Hashable, _Job] | None:
        if not self._ready[lane]:
            return None
        key = self._ready[lane].popleft()
        self._queued.discard(key)
        job = self._queues[key].popleft()
        self._busy.add(key)
        self._waiting -= 1
        return key, job

    def _serve(self, lane: Lane) -> None:
        while True:
            with self._cv:
                got = self._take(lane)
                while got is None:
                    if self._closed:
                        return
                    self._lane_cv[lane].wait()
                    got = self._take(lane)
            key, job = got
            began = time.monotonic()
            if job.future.set_running_or_notify_cancel():
                try:
                    job.future.set_result(job.fn())
                except BaseException as e:  # handed to whoever waits for it
                    job.future.set_exception(e)
            self._timings[job.lane].append((began - job.queued, time.monotonic() - began))
            with self._cv:
                self._busy.discard(key)
                if not self._queues.get(key):
                    self._queues.pop(key, None)
                self._make_ready(key)

    def _clock(self) -> None:
        while True:
            with self._cv:
                while not self._closed and (
                        not self._timers or self._timers[0][0] > time.monotonic()):
                    wait = self._timers[0][0] - time.monotonic() if self._timers else None
                    self._cv.wait(wait)
                if self._closed:
                    return
                _due, _n, key, fn, lane = heapq.heappop(self._timers)
            try:
                self.submit(key, fn, lane, continuation=True)
            except Overloaded:  # closed meanwhile
                return

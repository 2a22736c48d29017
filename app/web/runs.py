"""Runs in the background, as turns on the scheduler: at full speed (the engine's free
run, each turn a few milliseconds of emulation, with a progress event after it) or
paced (one traced step at a time, so every write flashes). Both stop at a breakpoint,
a watchpoint, exit, kill or the budget, or when paused, and end with a snapshot saying
why."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from app.contracts import Stop
from app.web.scheduler import Lane, Scheduler

log = logging.getLogger("kmemvisor.web")

MAX_PACED_STEPS = 100_000  # about 3 hours at 10 steps a second
# a turn's share of a run thread: steps have threads of their own, so a turn can be
# long enough that its bookkeeping is small beside the emulation in it
TURN_SECONDS = 0.03
MIN_CHUNK, MAX_CHUNK = 2_000, 20_000_000


@dataclass
class RunState:
    """A run going on in a workspace."""

    speed: float | None          # steps a second; None: full speed
    budget: int
    engine: object = None        # the session's run (a step a turn when paced)
    # native instructions per turn, tuned to TURN_SECONDS after each; the first turn
    # pays for translating the program's code whatever its length (4-9 ms measured), so
    # it is not made short: a quarter of a second even at a watchpoint run's 1 M/s
    chunk: int = 250_000
    stop: threading.Event = field(default_factory=threading.Event)
    last_snapshot: float = 0.0


class Runs:
    def __init__(self, scheduler: Scheduler, publish, config: dict, saved) -> None:
        self.scheduler, self.publish, self.saved = scheduler, publish, saved
        self.snapshot_every = config["RUN_SNAPSHOT_EVERY"]
        self.max_chunk = config.get("RUN_CHUNK", MAX_CHUNK)

    def start(self, ws, speed, budget: int) -> None:
        """Called in a job of the workspace: the first turn follows on its line."""
        paced = speed != "max"
        run = RunState(float(speed) if paced else None, budget)
        run.engine = ws.session.start_run(min(budget, MAX_PACED_STEPS) if paced else budget,
                                          ws.breakpoints, ws.watchpoints, paced)
        run.chunk = min(run.chunk, self.max_chunk)
        run.last_snapshot = time.monotonic()
        ws.run = run
        ws.error = None
        self.publish(ws, [], snapshot=True)
        self._next(ws, run, 0.0)

    def pause(self, ws) -> None:
        """From any thread: the run ends at its next turn."""
        run = ws.run
        if run is not None:
            run.stop.set()

    def _next(self, ws, run: RunState, delay: float) -> None:
        def turn() -> None:
            self._turn(ws, run)
        if delay > 0:
            self.scheduler.later(delay, ws.id, turn, Lane.RUN)
        else:
            self.scheduler.submit(ws.id, turn, Lane.RUN, continuation=True)

    def _turn(self, ws, run: RunState) -> None:
        if ws.run is not run:
            return  # ended meanwhile
        try:
            reason = self._free_turn(ws, run) if run.speed is None else self._paced(ws, run)
        except Exception as e:  # the run must always end cleanly
            log.exception("run failed")
            ws.error = {"message": f"the run stopped on an internal error: {e}", "line": None}
            reason = Stop.ERROR
        if reason is None and run.stop.is_set():
            reason = Stop.PAUSED
        if reason is None:
            delay = 0.0 if run.speed is None else max(0.0, 1.0 / run.speed)
            self._next(ws, run, delay)
            return
        self._end(ws, run, reason)

    def _free_turn(self, ws, run: RunState) -> Stop | None:
        started = time.monotonic()
        before = ws.session.native_count()
        # the last turn brings the snapshot after the run (which is then not running)
        events = run.engine.turn(run.chunk, ws.snapshot_extra(running=False))
        took = time.monotonic() - started
        ran = ws.session.native_count() - before
        if ran > 0 and took > 0:  # aim the next turn at TURN_SECONDS of emulation
            run.chunk = int(min(self.max_chunk, max(MIN_CHUNK, ran * TURN_SECONDS / took)))
        now = time.monotonic()
        due = now - run.last_snapshot >= self.snapshot_every and not run.engine.done
        if due:
            run.last_snapshot = now
        # run events carry no writes (the free run hooks none): a snapshot now and
        # then lets memory, page tables and the host map follow a long run
        self.publish(ws, events, snapshot=due)
        return run.engine.reason() if run.engine.done else None

    def _paced(self, ws, run: RunState) -> Stop | None:
        self.publish(ws, run.engine.turn(1, ws.snapshot_extra(running=False)))
        return run.engine.reason() if run.engine.done else None

    def _end(self, ws, run: RunState, reason: Stop) -> None:
        run.engine.finish()
        ws.run = None
        if run.engine.final is not None and ws.error is None:
            ws.adopt_snapshot(run.engine.final)
        self.publish.snapshot(ws, {"stopped": reason})
        self.saved(ws)


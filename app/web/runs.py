"""Runs in the background, as turns on the scheduler: at full speed (the engine's free
run, each turn a few milliseconds of emulation, with a progress event after it) or
paced (one traced step at a time, so every write flashes). Both stop at a breakpoint,
a watchpoint, exit, kill or the budget, or when paused, and end with a snapshot saying
why."""

from __future__ import annotations

import itertools
import logging
import threading
from dataclasses import dataclass, field

from app.contracts import Stop
from app.engine import Pace
from app.web.scheduler import Lane, Scheduler

log = logging.getLogger("kmemvisor.web")

_RUN_NUMBERS = itertools.count(1)  # every run of the server its own name
MAX_PACED_STEPS = 100_000  # about 3 hours at 10 steps a second
# a free run's turn: long enough that its bookkeeping is small beside the emulation
# in it, short enough that a pause (which waits for the turn under way) is at once
TURN_SECONDS = 0.03
# the turns one call to the engine makes back to back, so that the emulator does not
# wait for the server between two (each turn's events still go out as it ends); then
# the run goes to the back of the line, behind the other runs of the server
SLICE_SECONDS = 0.25
# native instructions per turn, tuned to TURN_SECONDS by the engine; the first turn
# pays for translating the program's code whatever its length (4-9 ms measured), so it
# is not made short: a quarter of a second even at a watchpoint run's 1 M/s
FIRST_CHUNK, MIN_CHUNK, MAX_CHUNK = 250_000, 2_000, 20_000_000


@dataclass
class RunState:
    """A run going on in a workspace."""

    speed: float | None          # steps a second; None: full speed
    budget: int
    engine: object = None        # the session's run (a step a turn when paced)
    stop: threading.Event = field(default_factory=threading.Event)
    number: int = field(default_factory=lambda: next(_RUN_NUMBERS))  # for the engine


class Runs:
    def __init__(self, scheduler: Scheduler, publish, config: dict, saved) -> None:
        self.scheduler, self.publish, self.saved = scheduler, publish, saved
        self.pace = Pace(TURN_SECONDS, SLICE_SECONDS, FIRST_CHUNK, MIN_CHUNK,
                         config.get("RUN_CHUNK", MAX_CHUNK), config["RUN_SNAPSHOT_EVERY"])

    def start(self, ws, speed, budget: int) -> None:
        """Called in a job of the workspace. A free run's first turns are made in the
        same call to the engine as its start, here; the next follow on its line."""
        paced = speed != "max"
        run = RunState(float(speed) if paced else None, budget)
        ws.run, ws.error = run, None
        # running: the snapshot of the state as it is, made before (no call to the engine)
        self.publish(ws, [], snapshot=True)
        try:
            run.engine, events = ws.session.start_run(
                min(budget, MAX_PACED_STEPS) if paced else budget, ws.breakpoints,
                ws.watchpoints, paced,
                first=None if paced else (ws.snapshot_extra(running=False), self.pace),
                progress=self._progress(ws), number=run.number)
        except BaseException:
            ws.run = None  # refused (a watchpoint it cannot watch): not running after all
            self.publish.snapshot(ws)
            raise
        if paced:
            self._next(ws, run, 0.0)
        else:
            self._turn(ws, run, events)

    def pause(self, ws) -> None:
        """From any thread: the run ends after its current turn."""
        run = ws.run
        if run is not None:
            run.stop.set()
            if run.speed is None:  # the engine's slice of turns ends after the one under way
                ws.session.pause_run(run.number)
            else:  # a paced run waiting for its next step ends now, not a step later
                self._next(ws, run, 0.0)

    def _next(self, ws, run: RunState, delay: float) -> None:
        def turn() -> None:
            self._turn(ws, run)
        if delay > 0:
            self.scheduler.later(delay, ws.id, turn, Lane.RUN)
        else:
            self.scheduler.submit(ws.id, turn, Lane.RUN, continuation=True)

    def _turn(self, ws, run: RunState, made: list[dict] | None = None) -> None:
        if ws.run is not run:
            return  # ended meanwhile
        try:
            if run.stop.is_set() and made is None:
                reason = Stop.PAUSED  # paused before its next call: no turn more
            else:
                reason = self._free_turns(ws, run, made) if run.speed is None else \
                    self._paced(ws, run)
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

    def _progress(self, ws):
        def publish(turn: tuple[list[dict], dict | None]) -> None:
            # a turn's events as the engine goes on, and now and then a snapshot: run
            # events carry no writes (the free run hooks none), and the snapshot lets
            # memory, page tables and the host map follow a long run
            events, snapshot = turn
            self.publish(ws, events, snapshot=False)
            if snapshot is not None:
                self.publish.raw(ws, "snapshot", snapshot)
        return publish

    def _free_turns(self, ws, run: RunState, made: list[dict] | None) -> Stop | None:
        """A call's turns (`made`: the events of the one that ended the run, when the
        run's start made them); the engine sends the others' events as they come."""
        # the last turn brings the snapshot after the run (which is then not running)
        events = made if made is not None else run.engine.turns(
            ws.snapshot_extra(running=False), self.pace, self._progress(ws))
        if events:
            self.publish(ws, events, snapshot=False)
        return run.engine.reason() if run.engine.done else None

    def _paced(self, ws, run: RunState) -> Stop | None:
        self.publish(ws, run.engine.turn(ws.snapshot_extra(running=False)))
        return run.engine.reason() if run.engine.done else None

    def _end(self, ws, run: RunState, reason: Stop) -> None:
        run.engine.finish()
        ws.run = None
        if run.engine.final is not None and ws.error is None:
            ws.adopt_snapshot(run.engine.final)
        self.publish.snapshot(ws, {"stopped": reason})
        self.saved(ws)


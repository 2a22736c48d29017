"""A run in turns: every VM advances a bounded number of native instructions per turn,
so that whoever drives the run (the web's scheduler, a lesson, the CLI) decides when
the next turn comes and can stop between two. The turns of one run make one history
entry; `back` from its end goes one native instruction back into it (back_into_run).

A paced run (PacedRun) has the same face, one traced native step a turn (so the page
can flash every write), each step its own history entry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.contracts import Command, EventKind, Granularity, Origin, Status, Stop
from app.hypervisor import VM, runner, watch
from app.session.errors import SessionError
from app.session.inspect import stop_reason
from app.session.recorder import Recorder

if TYPE_CHECKING:
    from app.session.session import Entry, Session



class Run:
    """Use as: run = session.start_run(...); while not run.done: run.turn(n);
    run.finish(). Nothing else may use the session between start and finish."""

    def __init__(self, s: Session, max_native: int | None, breakpoints: set[int],
                 watchpoints: list[tuple[int, int]]) -> None:
        for va, n in watchpoints:
            s.check_watchable(va, n)
        if watch.pieces(watchpoints) > watch.MAX_RANGES:
            raise SessionError(f"the watchpoints cover more than {watch.MAX_RANGES} pages")
        self.session = s
        self.breakpoints, self.watchpoints = set(breakpoints), list(watchpoints)
        self.start = {vm.id: vm.counters.native_instructions for vm in s.vms}
        self.budget = {i: None if max_native is None else n + max_native
                       for i, n in self.start.items()}
        self.stopped: set[int] = set()  # VMs that stopped during this run stay stopped
        self.entries: list[Entry] = []
        # the frames in use as the run found them: undo restores every one it changed
        self.memory = s.hv.track_run()
        self.done = False
        self.finished = False

    def turn(self, chunk: int | None = None) -> list[dict]:
        """One turn of at most `chunk` native instructions per VM (None: to the end);
        the turn's `run` events, one per VM that took part."""
        if self.done:
            return []
        from app.session.session import Entry
        entry = Entry(Command.RUN, [])
        for vm in self.session.vms:
            if vm.status != Status.RUNNING or vm.id in self.stopped:
                continue
            event, undo = self._turn_of(vm, chunk)
            if event is None:
                continue
            entry.events.append(event)
            entry.undos.append(undo)
        if not entry.events:
            self.done = True
            return []
        self.entries.append(entry)
        self.stopped |= {e["vm"] for e in entry.events if e["stopped"] != Stop.RUNNING}
        if all(e["stopped"] != Stop.RUNNING for e in entry.events):
            self.done = True
        return entry.events

    def _turn_of(self, vm: VM, chunk: int | None):
        s = self.session
        stops = {g.start for g in vm.groups if g.native_address in self.breakpoints
                 and g.members}
        now = vm.counters.native_instructions
        limit = self.budget[vm.id]
        if limit is not None and now >= limit:
            return None, None
        turn_end = limit if chunk is None else min(limit or now + chunk, now + chunk)
        rec = Recorder(s.hv, vm, trace_writes=False)
        try:
            reason = Stop(runner.run(s.hv, vm, turn_end, stops, exact=turn_end == limit,
                                     watch=self.watchpoints))
        finally:
            part, undo = rec.finish()
        if reason == Stop.LIMIT and turn_end != limit:
            # the turn ended, not the run; a turn may end right on a breakpoint
            reason = Stop.BREAK if vm.cpu.reg("rip") in stops else Stop.RUNNING
        part["writes"] = []
        native, _ = s.group_json(vm, s.current_group(vm), set())
        event = s.event(vm, EventKind.RUN, part, native)
        event["stopped"] = reason
        return event, undo

    def finish(self) -> list[dict]:
        """Record the run as one history entry; all its events, oldest first."""
        if self.finished:
            raise RuntimeError("this run is finished already")
        self.finished = True
        self.done = True
        s = self.session
        if not self.entries:
            return []
        undos = [u for e in self.entries for u in e.undos]
        self.memory.finish(undos)
        ran = max(vm.counters.native_instructions - self.start[vm.id] for vm in s.vms)
        from app.session.session import Entry
        merged = Entry(Command.RUN, [e for t in self.entries for e in t.events], undos,
                       {"max_native": ran, "breakpoints": set(self.breakpoints),
                        "watchpoints": list(self.watchpoints)})
        merged.stores = tuple(hit for vm in s.vms
                              if (hit := self._changed_word(vm)) is not None)
        events = merged.events
        s.record(merged)
        return events

    def _changed_word(self, vm: VM):
        """A word of `vm`'s memory the run changed, to show for it (a free run records
        no stores): the first changed word of the first changed page holding one of
        the program's labels, else of the first changed page. (vm, va, 8, 'run')."""
        build = self.session.build
        syms = build.image.symbols
        labels = {syms[n] for n, lab in build.program.labels().items()
                  if lab.origin == Origin.PROGRAM and n in syms}
        va = self.memory.changed_word(vm, labels)
        return None if va is None else (vm.id, va, 8, "run")

    def reason(self) -> Stop:
        """Why the run ended: the first VM's stop that is not 'running', else 'limit'."""
        last = [e["stopped"] for t in self.entries for e in t.events
                if e["stopped"] != Stop.RUNNING]
        return last[0] if last else Stop.LIMIT


class PacedRun:
    """Use as Run: each turn is one native step of every running VM, traced and recorded
    as a step is; it stops at the first VM's end, a native store into a watched range,
    a breakpoint reached, or after `max_steps`."""

    def __init__(self, s: Session, max_steps: int, breakpoints: set[int],
                 watchpoints: list[tuple[int, int]]) -> None:
        for va, n in watchpoints:
            s.check_watchable(va, n)
        self.session, self.left = s, max_steps
        self.breakpoints, self.watchpoints = set(breakpoints), list(watchpoints)
        self.done = False
        self._reason: Stop | None = None

    def turn(self, _chunk: int | None = None) -> list[dict]:
        if self.done:
            return []
        events = self.session.step(Granularity.NATIVE)
        self.left -= 1
        self._reason = stop_reason(self.session, events, self.breakpoints,
                                   self.watchpoints) or (Stop.LIMIT if self.left <= 0 else None)
        self.done = self._reason is not None
        return events

    def reason(self) -> Stop:
        return self._reason or Stop.LIMIT

    def finish(self) -> list[dict]:
        self.done = True
        return []


# the instructions at a run's end that a step back into it makes one at a time, so that
# the steps back after the first one each undo an entry instead of running again
BACK_INTO_RUN = 32


def back_into_run(s: Session, entry: Entry) -> list[dict]:
    """One native instruction back from the end of the run `entry` (the newest entry
    done), as a stepper goes back: the run is undone and made again from its start as
    a run to BACK_INTO_RUN instructions before its end and single-instruction runs
    after it, the engine being deterministic (the same stores, notes, counters and
    patrol scrubs), and the last of them is undone. It heads the recorded future, so
    going forward replays the run's end exactly, and what came after it."""
    events = s.undo_newest()
    s.history.undone.pop()  # the run's parts, made again, replace it in the future
    args = entry.args
    span, tail = args["max_native"], min(args["max_native"], BACK_INTO_RUN)
    breakpoints, watchpoints = set(args["breakpoints"]), list(args["watchpoints"])
    s.replaying = True  # the recorded future stays
    try:
        # (their events are not the step back's: what it shows is the state it leaves)
        for budget in ([span - tail] if span > tail else []) + [1] * tail:
            s.run(budget, breakpoints, watchpoints)
    finally:
        s.replaying = False
    return events + s.undo_newest()

"""A run in turns: every VM advances a bounded number of native instructions per turn,
so that whoever drives the run (the web's scheduler, a lesson, the CLI) decides when
the next turn comes and can stop between two. The turns of one run make one history
entry: one `back` undoes the whole run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.contracts import Command, EventKind, Origin, Status, Stop
from app.hypervisor import VM, runner, watch
from app.machine.memory import PAGE
from app.session.errors import SessionError
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
        self.memory = s.hv.mem.images()
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
        undos[0].cpu_writes = self._changed_pages(undos)
        changed = dict(undos[0].cpu_writes)
        ran = max(vm.counters.native_instructions - self.start[vm.id] for vm in s.vms)
        from app.session.session import Entry
        merged = Entry(Command.RUN, [e for t in self.entries for e in t.events], undos,
                       {"max_native": ran, "breakpoints": set(self.breakpoints),
                        "watchpoints": list(self.watchpoints)})
        merged.stores = tuple(hit for vm in s.vms
                              if (hit := self._changed_word(vm, changed)) is not None)
        events = merged.events
        s.record(merged)
        return events

    def _changed_word(self, vm: VM, changed: dict[int, bytes]):
        """A word of `vm`'s memory the run changed, to show for it (a free run records
        no stores): the first changed word of the first changed page holding one of
        the program's labels, else of the first changed page. (vm, va, 8, 'run')."""
        build, view = self.session.build, self.session.hv.mem.view
        syms = build.image.symbols
        labelled = {syms[n] & ~(PAGE - 1) for n, lab in build.program.labels().items()
                    if lab.origin == Origin.PROGRAM and n in syms}
        pages = sorted((va not in labelled, va, page.frame * PAGE)
                       for va, page in vm.pages.items()
                       if page.kind == "ram" and page.frame * PAGE in changed)
        for _unlabelled, va, pa in pages:
            before, now = changed[pa], view[pa:pa + PAGE]
            for off in range(0, PAGE, 8):
                if before[off:off + 8] != now[off:off + 8]:
                    return vm.id, va + off, 8, "run"
        return None

    def _changed_pages(self, undos: list) -> list[tuple[int, bytes]]:
        """The run's first images of every page it changed. The first turn's undo is
        applied last, so these decide: a page the hypervisor touched and the CPU set
        back is taken too, or an intermediate image from a later turn would stay.
        (A frame that was free when the run began is only written through the
        journals, which hold its first image themselves.)"""
        view = self.session.hv.mem.view
        touched = {pa // PAGE for u in undos for pa, _ in (*u.journal, *u.tables)}
        out = []
        for f, before in self.memory.items():
            pa = f * PAGE
            if f in touched or view[pa:pa + PAGE] != before:
                out.append((pa, before))
        return out

    def reason(self) -> Stop:
        """Why the run ended: the first VM's stop that is not 'running', else 'limit'."""
        last = [e["stopped"] for t in self.entries for e in t.events
                if e["stopped"] != Stop.RUNNING]
        return last[0] if last else Stop.LIMIT

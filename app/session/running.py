"""A run in turns: every VM advances a bounded number of native instructions per turn,
so that whoever drives the run (the web's scheduler, a lesson, the CLI) decides when
the next turn comes and can stop between two. The turns of one run make one history
entry: one `back` undoes the whole run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.hypervisor import VM, runner
from app.machine.memory import PAGE
from app.session.recorder import Recorder

if TYPE_CHECKING:
    from app.session.session import Entry, Session

WATCHED_CHUNK = 5_000  # watched runs are single-stepped: keep each turn short


class Run:
    """Use as: run = session.start_run(...); while not run.done: run.turn(n);
    run.finish(). Nothing else may use the session between start and finish."""

    def __init__(self, s: Session, max_native: int | None, breakpoints: set[int],
                 watchpoints: list[tuple[int, int]]) -> None:
        for va, n in watchpoints:
            s.check_watchable(va, n)
        self.session = s
        self.breakpoints, self.watchpoints = set(breakpoints), list(watchpoints)
        self.start = {vm.id: vm.counters.native_instructions for vm in s.vms}
        self.budget = {i: None if max_native is None else n + max_native
                       for i, n in self.start.items()}
        self.stopped: set[int] = set()  # VMs that stopped during this run stay stopped
        self.entries: list[Entry] = []
        # machine memory as the run found it: undo restores every page the run changed
        self.memory = bytes(s.hv.mem.view)
        self.done = False
        self.finished = False

    def turn(self, chunk: int | None = None) -> list[dict]:
        """One turn of at most `chunk` native instructions per VM (None: to the end);
        the turn's `run` events, one per VM that took part."""
        if self.done:
            return []
        if self.watchpoints and chunk:
            chunk = min(chunk, WATCHED_CHUNK)
        from app.session.session import Entry
        entry = Entry("run", [])
        for vm in self.session.vms:
            if vm.status != "running" or vm.id in self.stopped:
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
        self.stopped |= {e["vm"] for e in entry.events if e["stopped"] != "running"}
        if all(e["stopped"] != "running" for e in entry.events):
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
            if self.watchpoints:
                reason = _run_watched(s.hv, vm, self.watchpoints, turn_end, stops)
            else:
                reason = runner.run(s.hv, vm, turn_end, stops, exact=turn_end == limit)
        finally:
            part, undo = rec.finish()
        if reason == "limit" and turn_end != limit:
            # the turn ended, not the run; a turn may end right on a breakpoint
            reason = "break" if vm.cpu.reg("rip") in stops else "running"
        part["writes"] = []
        native, _ = s.group_json(vm, s.current_group(vm), set())
        event = s.event(vm, "run", part, native)
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
        ran = max(vm.counters.native_instructions - self.start[vm.id] for vm in s.vms)
        from app.session.session import Entry
        merged = Entry("run", [e for t in self.entries for e in t.events], undos,
                       {"max_native": ran, "breakpoints": set(self.breakpoints),
                        "watchpoints": list(self.watchpoints)})
        events = merged.events
        s.record(merged)
        return events

    def _changed_pages(self, undos: list) -> list[tuple[int, bytes]]:
        """The run's first images of every page it changed. The first turn's undo is
        applied last, so these decide: a page the hypervisor touched and the CPU set
        back is taken too, or an intermediate image from a later turn would stay."""
        before, now = self.memory, bytes(self.session.hv.mem.view)
        touched = {pa // PAGE for u in undos for pa, _ in (*u.journal, *u.tables)}
        out = []
        for pa in range(0, len(before), PAGE):
            if pa // PAGE in touched or before[pa:pa + PAGE] != now[pa:pa + PAGE]:
                out.append((pa, before[pa:pa + PAGE]))
        return out

    def reason(self) -> str:
        """Why the run ended: the first VM's stop that is not 'running', else 'limit'."""
        last = [e["stopped"] for t in self.entries for e in t.events
                if e["stopped"] != "running"]
        return last[0] if last else "limit"


def _run_watched(hv, vm: VM, watchpoints: list[tuple[int, int]], end: int | None,
                 stops: set[int]) -> str:
    """Single-stepped (see runner.run_watched); while a watched page is not mapped
    yet, in short stretches so that its first store is still seen."""
    want = sum(max(n, 1) for _va, n in watchpoints)
    while True:
        ranges = _machine_ranges(vm, watchpoints)
        short = sum(hi - lo for lo, hi in ranges) < want
        stretch = end
        if short:
            stretch = vm.counters.native_instructions + 16
            stretch = stretch if end is None else min(end, stretch)
        reason = runner.run_watched(hv, vm, ranges, stretch, stops)
        if reason != "limit" or stretch == end:
            return reason


def _machine_ranges(vm: VM, watchpoints: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Watched guest-virtual ranges as machine-address ranges of their native copies.
    A page not mapped yet is skipped: the first store to it cannot come before the
    kernel maps it, and the ranges are worked out again at every turn of a run."""
    out = []
    for va, size in watchpoints:
        end = va + max(size, 1)
        while va < end:
            page = vm.pages.get(va & ~0xFFF)
            n = min(end - va, 0x1000 - (va & 0xFFF))
            if page is not None and page.kind == "ram":
                pa = page.frame * 0x1000 + (va & 0xFFF)
                out.append((pa, pa + n))
            va += n
    return out

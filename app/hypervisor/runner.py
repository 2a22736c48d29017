"""Running a VM: one rewritten instruction at a time (step mode) or free-running with
only a basic-block counter (run mode). Both leave the same counters."""

from __future__ import annotations

import contextlib

from app.abi import STACK_PAGES, STACK_TOP
from app.contracts import NoteKind, Status
from app.hypervisor.answers import Answer
from app.hypervisor.core import Hypervisor
from app.hypervisor.vm import VM
from app.hypervisor.watch import Watch
from app.machine.cpu import Stop, StopKind

# how a VM's run ends, as a step or a run tells it
ENDED = frozenset({Status.EXITED, Status.KILLED, Status.FAULT})


def _handle(hv: Hypervisor, vm: VM, stop, rip: int) -> Answer | Status:
    """React to a stop that is not a plain completion: go on, retry, or the VM's end."""
    cpu = vm.cpu
    if stop.kind == StopKind.WATCH and vm.watch is not None and vm.watch.take_hit(rip):
        return Answer.RETRY  # the store did not retire: its instruction runs again, freely
    if stop.kind == StopKind.HYPERCALL:
        hv.hypercall(vm)
        return Answer.OK if vm.status == Status.RUNNING else vm.status
    if stop.kind == StopKind.UNMAPPED:
        action = hv.on_unmapped(vm, stop.address, stop.size or 1)
        if action == Answer.PASSTHROUGH:
            frame = stop.address // 0x1000
            cpu.remap_frame(frame)
            try:
                inner = cpu.step()
            finally:
                cpu.unmap_frame(frame)
            if inner.kind == StopKind.DONE:
                vm.counting.one(rip)
                return Answer.OK
            return _handle(hv, vm, inner, rip)
        if action == Answer.RETRY:
            return Answer.RETRY
        if action == Answer.KILLED:
            group = vm.group_of.get(rip)
            line = group.program_line if group is not None else None
            if line is not None and vm.report:
                vm.fault_line = line
                how = "run at" if stop.fetch else "written by" if stop.write else "read by"
                vm.report += f" ({how} line {line}: {group.native_text})"
            return Status.KILLED
    return _fault(hv, vm, stop, rip, vm.group_of.get(rip))


def _fault(hv: Hypervisor, vm: VM, stop: Stop, rip: int, group) -> Status:
    """The VM's end in a fault at `rip`, told with the instruction it is in."""
    vm.status = Status.FAULT
    line = group.program_line if group is not None else None
    vm.report = _describe_fault(stop, rip, group)
    vm.fault_line = line
    hv.note(NoteKind.FAULT, vm, rip=rip, vector=stop.vector, address=stop.address,
            message=vm.report, line=line)
    return Status.FAULT


def _entered_inside(hv: Hypervisor, vm: VM, rip: int) -> Status:
    """The fault of a VM sent into the middle of an instruction, or past the last:
    the bytes there are not the instructions that were checked and mirrored."""
    start = vm.counting.covering(rip)
    if start is None:
        what = "execution past the end of the code (no instruction is there)"
    else:
        what = (f"a jump into the middle of an instruction, {rip - start} byte"
                f"{'s' if rip - start > 1 else ''} into it at {rip:#x} (bytes inside an "
                "instruction are never checked or mirrored as instructions)")
    group = vm.group_of.get(start) if start is not None else None
    return _fault(hv, vm, Stop(StopKind.FAULT, rip, message=what), rip, group)


def _describe_fault(stop, rip: int, group) -> str:
    what = stop.message
    if stop.vector == 14 and stop.address is not None:
        a = stop.address
        if a == rip:
            what = (f"page fault fetching an instruction at {a:#x} (only the code's pages "
                    "can be run: a jump, call or return to data or to nothing)")
        elif STACK_TOP - (STACK_PAGES + 16) * 0x1000 <= a < STACK_TOP - STACK_PAGES * 0x1000:
            what = f"stack overflow (page fault at {a:#x}, below the {STACK_PAGES * 4} KiB stack)"
        else:
            what = f"page fault at address {a:#x} (unmapped, or a write to a read-only page)"
    if group is None:  # (a fetch's fault has said where)
        return what if stop.fetch else f"{what}, at {rip:#x}"
    line = group.program_line
    where = f"line {line}" if line is not None else f"the kernel ({rip:#x})"
    return f"{what}, in {where}: {group.native_text}"


def step(hv: Hypervisor, vm: VM) -> Answer | Status:
    """Execute one rewritten instruction: Answer.OK, or the status the VM ended in. A patrol scrub
    that is due runs at the first group boundary, before or after it."""
    if vm.status != Status.RUNNING:
        return vm.status
    hv.patrol(vm)
    result = _step(hv, vm) if vm.status == Status.RUNNING else vm.status
    if result == Answer.OK:
        hv.patrol(vm)
        return Answer.OK if vm.status == Status.RUNNING else vm.status
    return result


def _step(hv: Hypervisor, vm: VM) -> Answer | Status:
    for _ in range(8):
        rip = vm.cpu.reg("rip")
        if vm.counting.enters_inside(rip):
            return _entered_inside(hv, vm, rip)
        if vm.cpu.at_hypercall(rip):
            # served here rather than by the CPU: a trap inside a single step is
            # easier to account for this way
            vm.cpu.set_reg("rip", rip + 2)
            vm.counting.one(rip)  # counted before it is served, as in run mode
            hv.hypercall(vm)
            return Answer.OK if vm.status == Status.RUNNING else vm.status
        if vm.watch is not None:
            vm.watch.before(rip)
        stop = vm.cpu.step()
        if stop.kind == StopKind.DONE:
            vm.counting.one(rip)
            return Answer.OK if vm.status == Status.RUNNING else vm.status
        if stop.kind == StopKind.FAULT and stop.retired:
            # it ran, and fetching the next instruction faulted (a jump into data): the
            # fault is that one's, as a free run meets it
            vm.counting.one(rip)
            return _handle(hv, vm, stop, stop.rip)
        result = _handle(hv, vm, stop, rip)
        if result != Answer.RETRY:
            return result
    return _handle(hv, vm, Stop(StopKind.FAULT, rip, None, None, "machine check loop"), rip)


def run(hv: Hypervisor, vm: VM, max_native: int | None = None,
        breakpoints: set[int] = frozenset(), exact: bool = True,
        watch: list[tuple[int, int]] = ()) -> str:
    """Run until exit, kill, fault, a breakpoint (rewritten address of a group start)
    or `max_native` native instructions in all: exit | killed | fault | break | limit.
    With exact=False the budget may stop up to one block short of `max_native`.

    `watch` lists guest-virtual (address, size) spots: the run also stops after the
    instruction group whose native store touches one (watch), and its budget then
    stops it at the first group start from there, as single steps through whole
    groups do. The free run stops in front of the block that would pass the next
    stop; a code hook ends it at the exact instruction; single steps go only through
    what is left of one group (a rep instruction in it runs freely)."""
    cpu, counting = vm.cpu, vm.counting
    vm.count_blocks()
    # one code hook per breakpoint, ranged to its address: free everywhere else.
    # (Unicorn's exits raise a spurious page fault on the page before an exit.)
    armed = [False]  # breakpoints only stop the free run, not the single steps

    def stop_here(address: int, size: int) -> None:
        if armed[0]:
            cpu.stop()

    hooks = []
    try:
        with Watch(vm, watch) if watch else contextlib.nullcontext() as w:
            vm.watch = w
            # the free run also stops in front of a watch's helper stores (single steps)
            stops = set(breakpoints) | (w.helper_stores if w is not None else set())
            hooks += [cpu.add_code_hook(stop_here, a) for a in stops]
            return _Run(hv, vm, max_native, breakpoints, exact, w, armed).loop()
    finally:
        vm.watch = None
        for h in hooks:
            cpu.remove_hook(h)
        counting.budget = None


class _Run:
    """One call of run(): the stops it owes and where the last free run left off."""

    def __init__(self, hv: Hypervisor, vm: VM, max_native: int | None,
                 breakpoints: set[int], exact: bool, watch: Watch | None,
                 armed: list[bool]) -> None:
        self.hv, self.vm, self.cpu, self.counting = hv, vm, vm.cpu, vm.counting
        self.max_native, self.breakpoints, self.watch = max_native, breakpoints, watch
        self.exact, self.armed = exact, armed
        self.began = vm.counters.native_instructions
        # the stop the last free run ended short of, and the block it would have passed
        # it in
        self.short_of: int | None = None
        self.block: tuple[int, int] | None = None

    def loop(self) -> str:
        vm, first = self.vm, True
        while vm.status == Status.RUNNING:
            self.hv.patrol(vm)  # where a stop left the CPU (step() looks after its own)
            if vm.status != Status.RUNNING:
                break
            if self.watch is not None:
                self.watch.refresh()
            rip = self.cpu.reg("rip")
            end = self._stop_here(rip, first)
            if end is None and self._single_step_here(rip, first):
                end = _ok(step(self.hv, vm))
            elif end is None:
                end = self._advance(rip)
            first = False
            if end is not None:
                return end
        return vm.status

    def _stop_here(self, rip: int, first: bool) -> str | None:
        at_group = rip in self.vm.group_at
        if self.watch is not None and self.watch.hit_at is not None:
            done = self.vm.counters.executed_instructions > self.watch.hit_at
            if not (at_group and done):
                return None
            self._note_hit(self.watch.hit)
            return "watch"
        budget = self.max_native
        if budget is not None and self.vm.counters.native_instructions >= budget and (
                self.watch is None or at_group):
            return "limit"
        if rip in self.breakpoints and not first:
            return "break"
        return None

    def _note_hit(self, hit: tuple[int, int, int] | None) -> None:
        """The log says which store hit which watchpoint (the run stops after it)."""
        rip, va, size = hit if hit is not None else (None, None, None)
        group = self.vm.group_of.get(rip) if rip is not None else None
        line = group.program_line if group is not None else None
        self.hv.note(NoteKind.WATCH, self.vm, va=va, size=size, rip=rip, line=line,
                     text=group.native_text if group is not None else None)

    def _single_step_here(self, rip: int, first: bool) -> bool:
        """The breakpoint the run starts on (its hook would stop it at once), or an
        instruction the watch must judge in front of it."""
        return (rip in self.breakpoints and first or
                self.watch is not None and rip in self.watch.helper_stores)

    def _at_group_boundary_owed(self, rip: int) -> bool:
        """Whether a stop that waits for a group start has been passed: the CPU must
        get to the next one before anything else."""
        if self.watch is not None and self.watch.hit_at is not None:
            return True
        if rip in self.vm.group_at:
            return False
        native = self.vm.counters.native_instructions
        due = self.hv.patrol_due(self.vm)
        return (self.watch is not None and self.max_native is not None
                and native >= self.max_native or due is not None and native >= due)

    def _advance(self, rip: int) -> str | None:
        """Move the CPU on by one free run, one run to an exact instruction or one
        step; returns how the run ends, or None to go on."""
        if self._at_group_boundary_owed(rip):
            return self._toward_group_start(rip)
        native = self.vm.counters.native_instructions
        stop_at = _first(self.max_native, self.hv.patrol_due(self.vm))
        target = None
        if stop_at is not None and self.short_of == stop_at:
            if not self.exact and self.watch is None and stop_at == self.max_native \
                    and native > self.began:
                return "limit"  # a turn of a longer run may end a little early
            target = self._target(native, stop_at)
            if target is None:
                return _ok(step(self.hv, self.vm))
        self.short_of = self.block = None
        if target is not None:
            return self._settled(_run_to(self.vm, target, self.armed))
        counting = self.counting
        counting.begin_run(stop_at)
        self.armed[0] = True
        try:
            stop = self.cpu.run(count=0)
        finally:
            self.armed[0] = False
            counting.end_run()
        if stop.kind == StopKind.DONE and counting.stopped_for_budget:
            self.short_of, self.block = stop_at, counting.last
        return self._settled(stop)

    def _toward_group_start(self, rip: int) -> str | None:
        """Single steps through the rest of a group; a rep instruction in it runs
        freely to its end (stopping for an exact budget inside)."""
        if rip not in self.vm.rep_at:
            return _ok(step(self.hv, self.vm))
        counting = self.counting
        after = counting.addrs[counting.index[rip] + 1]
        budget = self.max_native if self.watch is None else None
        return self._settled(_run_to(self.vm, after, self.armed, budget))

    def _target(self, native: int, stop_at: int) -> int | None:
        """Where inside the block the CPU stopped in front of (it passes `stop_at`) the
        stop falls: after the native instruction that reaches `stop_at`, and for a stop
        that waits for a group start at the first one from there, or at that
        instruction if the block has none. None when nothing in the block is after it
        (a rep element): a single step gets there."""
        if self.block is None:
            return None
        i0, i1 = self.block
        counting, vm = self.counting, self.vm
        boundary = stop_at != self.max_native or self.watch is not None
        cum = counting.cum[0]
        reach = None
        for k in range(i0 + 1, i1):
            if native + cum[k] - cum[i0] >= stop_at:
                if not boundary or counting.addrs[k] in vm.group_at:
                    return counting.addrs[k]
                reach = reach or counting.addrs[k]
        return reach

    def _settled(self, stop) -> str | None:
        now = self.cpu.reg("rip")
        self.counting.settle(now)
        if self.counting.inside is not None:
            return _entered_inside(self.hv, self.vm, now)
        if stop.kind == StopKind.DONE:
            return None if self.vm.status == Status.RUNNING else self.vm.status
        result = _handle(self.hv, self.vm, stop, now)
        return result if result in ENDED else None


def _ok(result: Answer | Status) -> Status | None:
    return None if result == Answer.OK else result


def _run_to(vm: VM, target: int, armed: list[bool], budget: int | None = None):
    """Free-run from the start of a block to `target` inside it (or from a rep
    instruction to the one after it), as single steps would but without them: a code
    hook stops the CPU there. The translations from here to there are dropped before
    (so the hook is compiled in) and after (so they run without it)."""
    cpu, counting = vm.cpu, vm.counting
    start = cpu.reg("rip")
    h = cpu.stop_at(target)
    cpu.flush_code(start, target + 1 - start)
    counting.begin_run(budget)
    armed[0] = True
    try:
        return cpu.run(count=0)
    finally:
        armed[0] = False
        counting.end_run()
        cpu.remove_hook(h)
        cpu.flush_code(start, target + 1 - start)


def _first(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else min(a, b)


def run_free(hv: Hypervisor, vm: VM) -> str:
    """Run to the end with no counting at all: the benchmark's measure of raw speed
    (only hypercalls and faults stop the CPU). Counters are not kept, no patrol scrub
    runs (only the one at exit), and nothing stops a jump into an instruction (the
    benchmark's programs make none)."""
    while vm.status == Status.RUNNING:
        stop = vm.cpu.run(count=0)
        if stop.kind == StopKind.DONE:
            continue
        result = _handle(hv, vm, stop, vm.cpu.reg("rip"))
        if result in ENDED:
            return result
    return vm.status

"""Running a VM: one rewritten instruction at a time (step mode) or free-running with
only a basic-block counter (run mode). Both leave the same counters."""

from __future__ import annotations

from unicorn import UC_HOOK_CODE, UC_HOOK_MEM_WRITE

from app.abi import STACK_PAGES, STACK_TOP
from app.hypervisor.core import Hypervisor
from app.hypervisor.vm import VM


def _handle(hv: Hypervisor, vm: VM, stop, rip: int) -> str:
    """React to a stop that is not a plain completion. Returns ok | retry | the end."""
    cpu = vm.cpu
    if stop.kind == "hypercall":
        hv.hypercall(vm)
        return "ok" if vm.status == "running" else vm.status
    if stop.kind == "unmapped":
        size = cpu._unmapped[1] if cpu._unmapped else 1
        action = hv.on_unmapped(vm, stop.address, size)
        if action == "passthrough":
            frame = stop.address // 0x1000
            cpu.remap_frame(frame)
            try:
                inner = cpu.step()
            finally:
                cpu.unmap_frame(frame)
            if inner.kind == "done":
                vm.counting.one(rip)
                return "ok"
            return _handle(hv, vm, inner, rip)
        if action == "retry":
            return "retry"
        if action == "killed":
            group = vm.group_of.get(rip)
            if group is not None and group.origin == "program" and vm.report:
                vm.fault_line = group.line
                vm.report += f" (read by line {group.line}: {group.native_text})"
            return "killed"
    vm.status = "fault"
    group = vm.group_of.get(rip)
    line = group.line if group is not None and group.origin == "program" else None
    vm.report = _describe_fault(stop, rip, group)
    vm.fault_line = line
    hv.note("fault", vm, rip=rip, vector=stop.vector, address=stop.address,
            message=vm.report, line=line)
    return "fault"


def _describe_fault(stop, rip: int, group) -> str:
    what = stop.message
    if stop.vector == 14 and stop.address is not None:
        a = stop.address
        if STACK_TOP - (STACK_PAGES + 16) * 0x1000 <= a < STACK_TOP - STACK_PAGES * 0x1000:
            what = f"stack overflow (page fault at {a:#x}, below the {STACK_PAGES * 4} KiB stack)"
        else:
            what = f"page fault at address {a:#x} (unmapped, or a write to a read-only page)"
    if group is None:
        return f"{what}, at {rip:#x}"
    where = f"line {group.line}" if group.origin == "program" else f"the kernel ({rip:#x})"
    return f"{what}, in {where}: {group.native_text}"


def step(hv: Hypervisor, vm: VM) -> str:
    """Execute one rewritten instruction: ok | exit | killed | fault. A patrol scrub
    that is due runs at the first group boundary, before or after it."""
    if vm.status != "running":
        return vm.status
    hv.patrol(vm)
    result = _step(hv, vm) if vm.status == "running" else vm.status
    if result == "ok":
        hv.patrol(vm)
        return "ok" if vm.status == "running" else vm.status
    return result


def _step(hv: Hypervisor, vm: VM) -> str:
    for _ in range(8):
        rip = vm.cpu.reg("rip")
        if vm.cpu.at_hypercall(rip):
            # served here rather than by the CPU: a trap inside a single step is
            # easier to account for this way
            vm.cpu.set_reg("rip", rip + 2)
            vm.counting.one(rip)  # counted before it is served, as in run mode
            hv.hypercall(vm)
            return "ok" if vm.status == "running" else vm.status
        stop = vm.cpu.step()
        if stop.kind == "done":
            vm.counting.one(rip)
            return "ok" if vm.status == "running" else vm.status
        result = _handle(hv, vm, stop, rip)
        if result != "retry":
            return result
    return _handle(hv, vm, type(stop)("fault", rip, None, None, "machine check loop"), rip)


def run(hv: Hypervisor, vm: VM, max_native: int | None = None,
        breakpoints: set[int] = frozenset(), exact: bool = True) -> str:
    """Run until exit, kill, fault, a breakpoint (rewritten address of a group start)
    or `max_native` native instructions in all: exit | killed | fault | break | limit.
    With exact=False the budget may stop up to one block short of `max_native`.
    The free run stops at the last block that fits the budget; single steps go on from
    there."""
    cpu, counting = vm.cpu, vm.counting
    if not getattr(vm, "_block_hook", False):
        counting.attach(cpu.uc)
        vm._block_hook = True
    # one code hook per breakpoint, ranged to its address: free everywhere else.
    # (Unicorn's exits raise a spurious page fault on the page before an exit.)
    armed = [False]  # breakpoints only stop the free run, not the single steps

    def stop_here(uc, address: int, size: int, _data) -> None:
        if armed[0]:
            uc.emu_stop()

    hooks = [cpu.add_code_hook(stop_here, a) for a in breakpoints]
    began = vm.counters.native_instructions
    # the stop the last free run ended short of, and the block it would have passed it in
    short_of, block = None, None
    try:
        first = True
        while vm.status == "running":
            hv.patrol(vm)  # where a stop left the CPU (step() looks after its own)
            native = vm.counters.native_instructions
            if vm.status != "running":
                break
            if max_native is not None and native >= max_native:
                return "limit"
            rip = cpu.reg("rip")
            if rip in breakpoints:
                if not first:
                    return "break"
                r = step(hv, vm)  # leave the breakpoint we start on
                if r != "ok":
                    return r
                first = False
                continue
            first = False
            # the budget and the next patrol scrub both stop the free run, so that each
            # happens at the very instruction it would in step mode
            stop_at = _first(max_native, hv.patrol_due(vm))
            target = None
            if stop_at is not None and (native >= stop_at or short_of == stop_at):
                if not exact and stop_at == max_native and native > began:
                    return "limit"  # a turn of a longer run may end a little early
                target = _target(vm, block, native, stop_at, stop_at != max_native)
                if target is None:
                    r = step(hv, vm)
                    if r != "ok":
                        return r
                    continue
            short_of = block = None
            if target is not None:
                stop = _run_to(vm, target, armed)
            else:
                counting.begin_run(stop_at)
                armed[0] = True
                try:
                    stop = cpu.run(count=0)
                finally:
                    armed[0] = False
                    counting.end_run()
            now = cpu.reg("rip")
            if target is None and stop.kind == "done" and counting.stopped_for_budget:
                short_of, block = stop_at, counting.last
            counting.settle(now)
            if stop.kind == "done":
                if vm.status != "running":
                    return vm.status
                if now in breakpoints:
                    return "break"
                continue
            result = _handle(hv, vm, stop, now)
            if result in ("exit", "killed", "fault"):
                return result
        return vm.status
    finally:
        for h in hooks:
            cpu.uc.hook_del(h)
        counting.budget = None


def _target(vm: VM, block: tuple[int, int] | None, native: int, stop_at: int,
            patrol: bool) -> int | None:
    """Where inside the block the CPU stopped in front of (it passes `stop_at`) the
    stop falls: after the native instruction that reaches `stop_at`, and for a patrol
    at the first group boundary from there. None when it is not inside the block (a
    rep element, or a boundary past its end): single steps find it."""
    if block is None:
        return None
    i0, i1 = block
    counting = vm.counting
    cum = counting.cum[0]
    for k in range(i0 + 1, i1):
        if native + cum[k] - cum[i0] >= stop_at and (
                not patrol or counting.addrs[k] in vm.quiet_at):
            return counting.addrs[k]
    return None


def _run_to(vm: VM, target: int, armed: list[bool]):
    """Free-run from the start of a block to `target` inside it, as single steps would
    but without them: a code hook stops the CPU there. The block's translation is
    dropped before (so the hook is compiled in) and after (so it runs without it)."""
    cpu, counting = vm.cpu, vm.counting
    start = cpu.reg("rip")
    h = cpu.uc.hook_add(UC_HOOK_CODE, lambda uc, *_: uc.emu_stop(), begin=target, end=target)
    cpu.flush_code(start, target + 1 - start)
    counting.begin_run(None)
    armed[0] = True
    try:
        return cpu.run(count=0)
    finally:
        armed[0] = False
        counting.end_run()
        cpu.uc.hook_del(h)
        cpu.flush_code(start, target + 1 - start)


def _first(a: int | None, b: int | None) -> int | None:
    return a if b is None else b if a is None else min(a, b)


def run_free(hv: Hypervisor, vm: VM) -> str:
    """Run to the end with no counting at all: the benchmark's measure of raw speed
    (only hypercalls and faults stop the CPU). Counters are not kept, and no patrol
    scrub runs (only the one at exit)."""
    while vm.status == "running":
        stop = vm.cpu.run(count=0)
        if stop.kind == "done":
            continue
        result = _handle(hv, vm, stop, vm.cpu.reg("rip"))
        if result in ("exit", "exited", "killed", "fault"):
            return result
    return vm.status


def run_watched(hv: Hypervisor, vm: VM, ranges: list[tuple[int, int]],
                max_native: int | None = None, breakpoints: set[int] = frozenset()) -> str:
    """Like run(), and also stop after the instruction group that writes into one of
    the machine-address ranges [lo, hi). Runs one instruction at a time (a write hook
    cannot stop the CPU before the rest of its block has run)."""
    hit: list[int] = []

    def on_write(uc, access, pa: int, size: int, value, _data) -> None:
        hit.append(pa)

    hooks = [vm.cpu.uc.hook_add(UC_HOOK_MEM_WRITE, on_write, begin=lo, end=hi - 1)
             for lo, hi in ranges]
    try:
        first = True
        while vm.status == "running":
            rip = vm.cpu.reg("rip")
            if rip in vm.group_at:
                if hit:
                    return "watch"
                if max_native is not None and vm.counters.native_instructions >= max_native:
                    return "limit"
                if rip in breakpoints and not first:
                    return "break"
            first = False
            result = step(hv, vm)
            if result != "ok":
                return result
        return vm.status
    finally:
        for h in hooks:
            vm.cpu.uc.hook_del(h)

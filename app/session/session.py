"""A session owns one machine and its VMs and answers commands with step events.

Every command that changes state appends one history entry holding, per VM touched,
the event sent to clients and the private undo record; `back` applies the newest
entry's undo records in reverse. Events carry old values too, so a client can also
walk backwards from the events alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.abi import DEFAULT_OFFSET, MIRROR_COPIES, STACK_PAGES, STACK_TOP
from app.asm.errors import AsmError
from app.hypervisor import VM, Hypervisor, runner, watch
from app.rewriter import MirrorRefused
from app.rewriter.build import Build, build
from app.session.recorder import Recorder, apply_undo
from app.session.targets import resolve_target

MAX_GROUP_STEPS = 100_000
MAX_HISTORY = 10_000  # entries kept for `back`; the oldest go first
_PRIORITY = ("killed", "fault", "exit", "recovered", "mce", "refused", "vote", "ce", "scrub",
             "hypercall", "inject")


class SessionError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message, self.line = message, line

    def to_json(self) -> dict:
        return {"message": self.message, "line": self.line}


@dataclass
class Entry:
    command: str
    events: list[dict]
    undos: list = field(default_factory=list)
    args: dict = field(default_factory=dict)  # to replay the command (forward)


class Session:
    def __init__(self, source: str, mirror: str = "on", offset: int = DEFAULT_OFFSET,
                 compare: bool = False, memory: int = 8 << 20,
                 mirror_devices: bool = False) -> None:
        if mirror not in MIRROR_COPIES:
            raise SessionError(f"unknown mirror mode '{mirror}' (off, on or nmr3)")
        self.source, self.mirror, self.offset = source, mirror, offset
        self.compare, self.memory = compare, memory
        # a deliberately wrong hypervisor that mirrors device memory too (a lesson)
        self.mirror_devices = mirror_devices
        try:
            try:  # unmirrored too, the listing shows what mirroring would add
                self.build: Build = build(source, mirror if mirror != "off" else "on",
                                          offset)
            except MirrorRefused:
                if mirror != "off":
                    raise
                self.build = build(source, "off", offset)  # it runs, just not mirrored
        except AsmError as e:
            raise SessionError(e.message, e.line if e.origin == "program" else None) from None
        self.seq = 0
        self._replaying = False
        try:
            self._boot()
        except MemoryError as e:
            raise SessionError(f"the program does not fit in the emulated machine: {e}") \
                from None

    def _boot(self) -> None:
        self.hv = Hypervisor(self.memory)
        self.vms: list[VM] = [self.hv.create_vm(self.build, self.mirror, "mirrored" if
                                                self.mirror != "off" else "unmirrored",
                                                self.mirror_devices)]
        if self.compare and self.mirror != "off":
            self.vms.append(self.hv.create_vm(self.build, "off", "unmirrored"))
        self.hv.log.clear()
        self.history: list[Entry] = []
        self.undone: list[Entry] = []  # entries stepped back over, newest last
        # commands of the oldest entries, no longer undoable (MAX_HISTORY), kept so that
        # a recipe can still replay the session from its boot
        self.forgotten: list[tuple[str, dict]] = []

    def _record(self, entry: Entry) -> None:
        # the caller has the events; `back` needs only their numbers
        entry.events = [{"seq": e["seq"]} for e in entry.events]
        self.history.append(entry)
        if len(self.history) > MAX_HISTORY:
            old = self.history.pop(0)
            self.forgotten.append((old.command, old.args))
        if not self._replaying:
            self.undone.clear()

    # -- helpers
    def vm(self, vid: int | None = None) -> VM:
        if vid is None:
            return self.vms[0]
        for v in self.vms:
            if v.id == vid:
                return v
        raise SessionError(f"there is no VM {vid}")

    def _event(self, vm: VM, kind: str, part: dict, native=None, rewritten=None) -> dict:
        self.seq += 1
        notes = part.get("notes", [])
        for k in _PRIORITY:
            if any(n["kind"] == k for n in notes):
                kind = k if kind == "step" else kind
                break
        here = self.current_group(vm)
        return {"seq": self.seq, "vm": vm.id, "kind": kind, "status": vm.status,
                "native": native, "rewritten": rewritten or [],
                "at": None if here is None else here.native_address, **part}

    def _group_json(self, vm: VM, g, executed: set[int]) -> tuple[dict | None, list]:
        if g is None:
            return None, []
        native = {"address": g.native_address, "text": g.native_text,
                  "line": g.line if g.origin == "program" else None, "origin": g.origin,
                  "class": g.wclass.kind}
        rewritten = [{"address": m.address, "text": m.text, "role": m.role,
                      "executed": m.address in executed} for m in g.members]
        return native, rewritten

    def current_group(self, vm: VM):
        return vm.group_of.get(vm.cpu.reg("rip"))

    # -- stepping
    def _step_vm(self, vm: VM, granularity: str) -> tuple[dict, object]:
        group = self.current_group(vm)
        rec = Recorder(self.hv, vm)
        executed: set[int] = set()
        try:
            for _ in range(MAX_GROUP_STEPS):
                rip = vm.cpu.reg("rip")
                executed.add(rip)
                result = runner.step(self.hv, vm)
                if result != "ok" or granularity == "rewritten":
                    break
                now = vm.cpu.reg("rip")
                # a native step ends at the start of a group; a rep instruction stays
                # at its own address until its last element is done
                if now in vm.group_at and (now != rip or now not in vm.rep_at):
                    break
            else:
                self.hv.note("limit", vm, message=f"one native step ran {MAX_GROUP_STEPS} "
                                                  "instructions; stopped")
        finally:
            part, undo = rec.finish()
        native, rewritten = self._group_json(vm, group, executed)
        return self._event(vm, "step", part, native, rewritten), undo

    def step(self, granularity: str = "native") -> list[dict]:
        if granularity not in ("native", "rewritten"):
            raise SessionError("granularity is 'native' or 'rewritten'")
        entry = Entry(f"step:{granularity}", [], args={"granularity": granularity})
        for vm in self.vms:
            if vm.status != "running":
                continue
            event, undo = self._step_vm(vm, granularity)
            entry.events.append(event)
            entry.undos.append(undo)
        events = entry.events
        if events:
            self._record(entry)
        return events

    def back(self) -> list[dict]:
        if not self.history:
            raise SessionError("nothing to step back over")
        entry = self.history.pop()
        for undo in reversed(entry.undos):
            apply_undo(self.hv, self.vm(undo.vm), undo)
        self.undone.append(entry)
        self.seq += 1
        return [{"seq": self.seq, "kind": "back", "undone": [e["seq"] for e in entry.events],
                 "command": entry.command}]

    def run(self, max_native: int | None = None, breakpoints: set[int] = frozenset(),
            watchpoints: list[tuple[int, int]] = (), chunk: int | None = None,
            progress=None) -> list[dict]:
        """Run every VM until exit, kill, fault, a breakpoint (native addresses), a write
        to a watched (virtual address, size) range, or the budget of native instructions
        (counted per VM from now).

        With `chunk`, the VMs advance in turns of that many native instructions and
        `progress(events)` is called after each turn; it returns False to pause. The
        turns make one history entry, so one `back` undoes the whole run."""
        for va, n in watchpoints:
            self.check_watchable(va, n)
        if watch.pieces(watchpoints) > watch.MAX_RANGES:
            raise SessionError(f"the watchpoints cover more than {watch.MAX_RANGES} pages")
        start = {vm.id: vm.counters.native_instructions for vm in self.vms}
        budget = {i: None if max_native is None else n + max_native for i, n in start.items()}
        turns: list[Entry] = []
        stopped: set[int] = set()  # VMs that stopped during this run stay stopped
        while True:
            entry = self._run_turn(budget, chunk, set(breakpoints), list(watchpoints),
                                   stopped)
            if not entry.events:
                break
            turns.append(entry)
            stopped |= {e["vm"] for e in entry.events if e["stopped"] != "running"}
            going = [e for e in entry.events if e["stopped"] == "running"]
            if progress is not None and progress(entry.events) is False or not going:
                break
        if not turns:
            return []
        ran = max(vm.counters.native_instructions - start[vm.id] for vm in self.vms)
        merged = Entry("run", [e for t in turns for e in t.events],
                       _first_images([u for t in turns for u in t.undos]),
                       {"max_native": ran, "breakpoints": set(breakpoints),
                        "watchpoints": list(watchpoints)})
        events = merged.events
        self._record(merged)
        return events

    def _run_turn(self, budget: dict, chunk: int | None, breakpoints: set[int],
                  watchpoints: list[tuple[int, int]], stopped: set[int]) -> Entry:
        entry = Entry("run", [])
        for vm in self.vms:
            if vm.status != "running" or vm.id in stopped:
                continue
            stops = {g.start for g in vm.groups if g.native_address in breakpoints
                     and g.members}
            now = vm.counters.native_instructions
            limit = budget[vm.id]
            turn_end = limit if chunk is None else min(limit or now + chunk, now + chunk)
            if limit is not None and now >= limit:
                continue
            rec = Recorder(self.hv, vm, trace_writes=False)
            snapshot = bytes(vm.mem.view)
            try:
                reason = runner.run(self.hv, vm, turn_end, stops, exact=turn_end == limit,
                                    watch=watchpoints)
            finally:
                part, undo = rec.finish()
            if reason == "limit" and turn_end != limit:
                # the turn ended, not the run; a turn may end right on a breakpoint
                reason = "break" if vm.cpu.reg("rip") in stops else "running"
            undo.cpu_writes = _diff(snapshot, vm.mem.view)
            part["writes"] = []
            native, _ = self._group_json(vm, self.current_group(vm), set())
            event = self._event(vm, "run", part, native)
            event["stopped"] = reason
            entry.events.append(event)
            entry.undos.append(undo)
        return entry

    def forward(self) -> list[dict]:
        """Redo the newest command stepped back over (the engine is deterministic)."""
        if not self.undone:
            raise SessionError("nothing to go forward to")
        entry = self.undone.pop()
        self._replaying = True
        try:
            return self.replay(entry.command, entry.args)
        finally:
            self._replaying = False

    def replay(self, command: str, args: dict) -> list[dict]:
        """Run a command as a history entry records it."""
        if command == "run":
            return self.run(args["max_native"], set(args["breakpoints"]),
                            [tuple(w) for w in args["watchpoints"]])
        if command == "inject":
            return self.inject(**args)
        if command.startswith("step"):
            return self.step(**args)
        raise SessionError(f"cannot replay '{command}'")

    def reset(self) -> list[dict]:
        self._boot()
        self.seq += 1
        return [{"seq": self.seq, "kind": "reset"}]

    def inject(self, kind: str, target: str, vm: int | None = None, bit: int = 0,
               copy: int = 0) -> list[dict]:
        v = self.vm(vm)
        rec = Recorder(self.hv, v, trace_writes=False)
        try:
            args = resolve_target(self, v, kind, target, copy)
            self.hv.inject(kind, bit=bit, **args)
            if target.strip() == "random":  # replay (forward) must hit the same word
                target = f"{args['va'] - copy * v.offset:#x}"
        except ValueError as e:
            rec.finish()
            raise SessionError(str(e)) from None
        part, undo = rec.finish()
        event = self._event(v, "inject", part)
        self._record(Entry("inject", [event], [undo], {"kind": kind, "target": target,
                                                         "vm": vm, "bit": bit, "copy": copy}))
        return [event]

    def address_of(self, target: str) -> int:
        """A guest-virtual address written as `symbol`, `symbol+8` or `0x900010`."""
        t = target.strip()
        if t == "random" or t.startswith(("frame:", "dimm:")):
            raise SessionError(f"'{target}' is not a symbol or a guest-virtual address")
        try:
            va = resolve_target(self, self.vms[0], "ue", t)["va"]
        except ValueError as e:
            raise SessionError(str(e)) from None
        if not 0 <= va < 1 << 47:
            raise SessionError(f"{va:#x} is not a guest-virtual address (0 to 0x7fffffffffff)")
        return va

    def check_watchable(self, va: int, size: int) -> None:
        """A watchpoint must lie in the program's memory (a section or the stack)."""
        spans = [(sec.base, sec.base + len(sec.data)) for sec in
                 self.build.image.sections.values() if sec.data]
        spans.append((STACK_TOP - STACK_PAGES * 0x1000, STACK_TOP))
        if not any(lo <= va and va + max(size, 1) <= hi for lo, hi in spans):
            raise SessionError(f"watchpoint {va:#x} is not in the program's memory "
                               "(its sections or its stack)")

    def native_addresses(self) -> set[int]:
        """Where a breakpoint may go: the program's native instructions."""
        return {g.native_address for g in self.vms[0].groups
                if g.origin == "program" and g.members}

    # -- results
    def result(self) -> dict:
        vm = self.vms[0]
        status = {"running": "limit"}.get(vm.status, vm.status)
        return {"status": status, "exit_code": vm.exit_code, "mirror": vm.mode,
                "mirror_consistent": self.hv.mirror_consistent(vm),
                "console": vm.console.decode("latin-1"),
                "counters": {k: v for k, v in vm.counters.to_json().items()
                             if k in ("native_instructions", "executed_instructions",
                                      "native_writes", "mirror_writes")},
                "error": None if vm.status not in ("killed", "fault") else {
                    "message": vm.report, "line": vm.fault_line}}


def _first_images(undos: list) -> list:
    """Undos are applied newest first, so of all the images a run's turns kept of one
    page only the oldest matters: drop the rest (a long run keeps each page once)."""
    seen: set[int] = set()
    for u in undos:
        keep = [(pa, old) for pa, old in u.cpu_writes if pa not in seen]
        seen.update(pa for pa, _ in keep)
        u.cpu_writes = keep
    return undos


def _diff(before: bytes, after) -> list[tuple[int, bytes]]:
    out = []
    now = bytes(after)
    for pa in range(0, len(before), 0x1000):
        if before[pa:pa + 0x1000] != now[pa:pa + 0x1000]:
            out.append((pa, before[pa:pa + 0x1000]))
    return out

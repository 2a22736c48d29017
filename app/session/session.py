"""A session owns one machine and its VMs and answers commands with step events.

Every command that changes state appends one history entry holding, per VM touched,
the private undo record; `back` applies the newest entry's undo records in reverse.
Events carry old values too, so a client can also walk backwards from the events
alone. Going forward replays the recorded future (the engine is deterministic).
"""

from __future__ import annotations

from app.abi import DEFAULT_OFFSET, STACK_PAGES, STACK_TOP
from app.asm.budget import LoadBudget
from app.collector import collector_paused
from app.contracts import (
    STEPS,
    TELLING,
    Command,
    EventKind,
    Granularity,
    Mode,
    Origin,
    Status,
    stop_of,
)
from app.hypervisor import VM, Answer, Hypervisor, runner
from app.rewriter.build import Build
from app.session.errors import SessionError
from app.session.history import Entry, History
from app.session.inspect import VmFacts, facts, instruction_at
from app.session.program import build_program
from app.session.recorder import Recorder
from app.session.running import PacedRun, Run, back_into_run
from app.session.saved import SavedSession, Settings
from app.session.targets import resolve_target

MAX_GROUP_STEPS = 100_000
# a step's arguments, one dict per granularity for every step entry (never changed): a
# dict of its own per step was a fifth of what a step's history holds
_STEP_ARGS = {g: {"granularity": g} for g in Granularity}
# measured: an engine with its translation cache, and what one program instruction costs
# built, grouped and counted (docs/operations.md)
VM_BYTES = 3 << 20
INSTRUCTION_BYTES = 4096


class Session:
    # what the layers above may use (tests/test_layers.py holds them to it)
    FACE = frozenset({
        "save", "restore", "settings", "step", "back", "forward", "seek", "replay", "reset",
        "start_run", "run", "inject", "address_of", "check_watchable", "native_addresses",
        "running", "footprint", "history_view", "result", "native_count", "state_key",
        "comparing", "inspect", "instruction_at"})

    def __init__(self, source: str, mirror: str = "on", offset: int = DEFAULT_OFFSET,
                 compare: bool = False, memory: int = 8 << 20,
                 mirror_devices: bool = False, budget: LoadBudget | None = None) -> None:
        """`budget` bounds the time the program takes to assemble and lets another
        thread cancel it: a load that runs out raises SessionError naming the line it
        had reached."""
        if mirror not in tuple(Mode):
            raise SessionError(f"unknown mirror mode '{mirror}' (off, on or nmr3)")
        compare = compare and mirror != Mode.OFF  # an unmirrored VM has no twin to compare
        with collector_paused():  # the load and the boot after it, as one
            self._setup(build_program(source, mirror, offset, compare, budget), mirror,
                        offset, compare, memory, mirror_devices)

    def save(self) -> SavedSession:
        """The whole state, to load into other sessions (a fork, a checkpoint)."""
        return SavedSession(self.build, self.settings(), self.hv.save(), self.seq,
                            self.history.copy())

    @classmethod
    def restore(cls, saved: SavedSession) -> Session:
        """A new session in a saved state, with its history (nothing is replayed)."""
        s = cls.__new__(cls)
        st = saved.settings
        s._setup(saved.build, st.mirror, st.offset, st.compare, st.memory, st.mirror_devices)
        s.hv.load(saved.machine)
        s.seq = saved.seq
        s.history = saved.history.copy()
        return s

    def settings(self) -> Settings:
        return Settings(self.mirror, self.offset, self.compare, self.memory,
                        self.mirror_devices)

    def _setup(self, program: Build, mirror: str, offset: int, compare: bool, memory: int,
               mirror_devices: bool) -> None:
        self.build = program
        self.source, self.mirror, self.offset = program.source, Mode(mirror), offset
        # one truth: a twin only beside a mirrored VM (settings, recipes and snapshots)
        self.compare, self.memory = compare and self.mirror != Mode.OFF, memory
        # a deliberately wrong hypervisor that mirrors device memory too (a lesson)
        self.mirror_devices = mirror_devices
        self.seq = 0
        self.replaying = False
        try:
            self._boot()
        except MemoryError as e:
            raise SessionError(f"the program does not fit in the emulated machine: {e}") \
                from None

    def _boot(self) -> None:
        with collector_paused():  # each VM's tables: tens of thousands of objects
            self.hv = Hypervisor(self.memory)
            self.vms: list[VM] = [self.hv.create_vm(
                self.build, self.mirror, "mirrored" if self.mirror != Mode.OFF else
                "unmirrored", self.mirror_devices)]
            if self.compare and self.mirror != Mode.OFF:
                self.vms.append(self.hv.create_vm(self.build, Mode.OFF, "unmirrored"))
        self.hv.log.clear()
        self.history = History()

    def record(self, entry: Entry) -> list[dict]:
        """Append a finished command to the history; a `branch` event if doing it
        dropped a recorded future."""
        entry.native = self.vms[0].counters.native_instructions
        dropped = self.history.record(entry, self.replaying)
        if not dropped:
            return []
        self.seq += 1
        return [{"seq": self.seq, "kind": EventKind.BRANCH, "dropped": dropped,
                 "command": entry.command}]

    # -- helpers
    def vm(self, vid: int | None = None) -> VM:
        if vid is None:
            return self.vms[0]
        for v in self.vms:
            if v.id == vid:
                return v
        raise SessionError(f"there is no VM {vid}")

    def event(self, vm: VM, kind: str, part: dict, native=None, rewritten=None) -> dict:
        self.seq += 1
        notes = part.get("notes", [])
        for k in TELLING:
            if any(n["kind"] == k for n in notes):
                kind = k if kind == EventKind.STEP else kind
                break
        here = self.current_group(vm)
        return {"seq": self.seq, "vm": vm.id, "kind": kind, "status": Status(vm.status),
                "native": native, "rewritten": rewritten or [],
                "at": None if here is None else here.native_address, **part}

    def group_json(self, vm: VM, g, executed: set[int]) -> tuple[dict | None, list]:
        if g is None:
            return None, []
        rewritten = [{**m, "executed": m["address"] in executed} for m in g.members_json()]
        return g.native_json(), rewritten

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
                if result != Answer.OK or granularity == Granularity.REWRITTEN:
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
        native, rewritten = self.group_json(vm, group, executed)
        return self.event(vm, EventKind.STEP, part, native, rewritten), undo

    def step(self, granularity: str = Granularity.NATIVE) -> list[dict]:
        """One native instruction (or one rewritten one) in every running VM. After
        `back`, the recorded future is replayed instead, up to its next step or run
        of this kind (injections on the way included), so stepping reproduces it."""
        if granularity not in tuple(Granularity):
            raise SessionError("granularity is 'native' or 'rewritten'")
        command = Command.step(granularity)
        if not self.replaying:
            ahead = self._replay_to(command)
            if ahead is not None:
                return ahead
        entry = Entry(command, [], args=_STEP_ARGS[granularity])
        for vm in self.vms:
            if vm.status != Status.RUNNING:
                continue
            event, undo = self._step_vm(vm, granularity)
            entry.events.append(event)
            entry.undos.append(undo)
        events = entry.events
        return events + self.record(entry) if events else events

    def _replay_to(self, command: str) -> list[dict] | None:
        """The recorded future up to and including its next step or run, if that one
        is `command` or a run (or all of it, if only injections are left: the step
        goes to the last recorded moment); None if stepping now starts a new branch."""
        ahead = self.history.undone[::-1]
        if not ahead:
            return None
        moving = next((i for i, e in enumerate(ahead)
                       if e.command == Command.RUN or e.command in STEPS), None)
        if moving is not None and ahead[moving].command not in (command, Command.RUN):
            return None
        events: list[dict] = []
        for _ in range(len(ahead) if moving is None else moving + 1):
            events += self.forward()
        return events

    def back(self) -> list[dict]:
        """One step back, as a stepper goes: the newest entry undone or, if it is a run
        of more than one native instruction, one instruction back into it."""
        newest = self.history.done[-1] if self.history.done else None
        if newest is not None and newest.command == Command.RUN and \
                newest.args["max_native"] > 1:
            return back_into_run(self, newest)
        return self.undo_newest()

    def undo_newest(self) -> list[dict]:
        """The newest entry undone, whole (it heads the recorded future)."""
        if not self.history.done:
            raise SessionError("nothing to step back over" if not self.history.forgotten
                               else "the history does not go back further")
        entry = self.history.undo_last()
        for undo in reversed(entry.undos):
            self.hv.undo(undo)
        self.seq += 1
        return [{"seq": self.seq, "kind": EventKind.BACK, "undone": list(entry.events),
                 "command": entry.command}]

    def forward(self) -> list[dict]:
        """Redo the newest command stepped back over (the engine is deterministic)."""
        if self.history.next_undone() is None:
            raise SessionError("nothing to go forward to")
        entry = self.history.take_undone()
        self.replaying = True
        try:
            return self.replay(entry.command, entry.args)
        finally:
            self.replaying = False

    def seek(self, position: int) -> None:
        """Move along the history to `position` (entries from its start)."""
        target = max(0, min(position, self.history.length))
        while self.history.position > target:
            self.undo_newest()
        while self.history.position < target:
            self.forward()

    def replay(self, command: str, args: dict) -> list[dict]:
        """Run a command as a history entry records it."""
        if command == Command.RUN:
            return self.run(args["max_native"], set(args["breakpoints"]),
                            [tuple(w) for w in args["watchpoints"]])
        if command == Command.INJECT:
            return self.inject(**args)
        if command in STEPS:
            return self.step(**args)
        raise SessionError(f"cannot replay '{command}'")

    def reset(self) -> list[dict]:
        self._boot()
        self.seq += 1
        return [{"seq": self.seq, "kind": EventKind.RESET}]

    # -- running
    def start_run(self, max_native: int | None = None, breakpoints: set[int] = frozenset(),
                  watchpoints: list[tuple[int, int]] = (), paced: bool = False
                  ) -> Run | PacedRun:
        """A run in turns (see running.Run): until exit, kill, fault, a breakpoint
        (native addresses), a write to a watched (virtual address, size) range, or the
        budget of native instructions (counted per VM from now). `paced`: a turn is one
        traced step, and the budget counts steps (running.PacedRun)."""
        if paced:
            return PacedRun(self, max_native or 0, breakpoints, watchpoints)
        return Run(self, max_native, breakpoints, watchpoints)

    def run(self, max_native: int | None = None, breakpoints: set[int] = frozenset(),
            watchpoints: list[tuple[int, int]] = (), chunk: int | None = None,
            progress=None) -> list[dict]:
        """A whole run: turns of `chunk` native instructions, `progress(events)` after
        each (it returns False to stop); one history entry, so one `back` undoes it."""
        run = self.start_run(max_native, breakpoints, watchpoints)
        while not run.done:
            events = run.turn(chunk)
            if events and progress is not None and progress(events) is False:
                break
        return run.finish()

    # -- errors
    def inject(self, kind: str, target: str, vm: int | None = None, bit: int = 0,
               copy: int = 0) -> list[dict]:
        v = self.vm(vm)
        rec = Recorder(self.hv, v, trace_writes=False)
        try:
            args = resolve_target(self, v, kind, target, copy)
            self.hv.inject(kind, **{"bit": bit, **args})
            if target.strip() == "random":  # replay (forward) must hit the same word
                target = f"{args['va'] - copy * v.offset:#x}"
        except ValueError as e:
            rec.finish()
            raise SessionError(str(e)) from None
        part, undo = rec.finish()
        event = self.event(v, EventKind.INJECT, part)
        branch = self.record(Entry(Command.INJECT, [event], [undo], {
            "kind": kind, "target": target, "vm": vm, "bit": bit, "copy": copy}))
        return [event, *branch]

    # -- questions
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
                if g.origin == Origin.PROGRAM and g.members}

    def running(self) -> bool:
        """Whether any VM can still run."""
        return any(vm.status == Status.RUNNING for vm in self.vms)

    def footprint(self) -> int:
        """The memory this session holds, about: the machine, each VM's engine, the
        program as built, and the undo records of its history."""
        return (self.memory + VM_BYTES * len(self.vms)
                + INSTRUCTION_BYTES * len(self.vms[0].groups) + self.history.bytes)

    def history_view(self, marks: bool = False) -> dict:
        return self.history.view(self.native_count(), marks)

    def native_count(self) -> int:
        """The first VM's native instructions so far (what the history counts)."""
        return self.vms[0].counters.native_instructions

    def state_key(self) -> tuple[int, int]:
        """Changes whenever anything a snapshot shows changes (for caches)."""
        return self.seq, self.history.position

    def comparing(self) -> bool:
        """Whether an unmirrored VM runs beside the first one."""
        return len(self.vms) > 1

    def inspect(self, vm: int | None = None) -> VmFacts:
        """A VM's facts now (see inspect.VmFacts); the first VM's by default."""
        return facts(self, vm)

    def instruction_at(self, target: str) -> int | None:
        """The native address of `line N`, a label or an instruction's text."""
        return instruction_at(self, target)

    def result(self) -> dict:
        vm = self.vms[0]
        return {"status": stop_of(vm.status), "exit_code": vm.exit_code, "mirror": vm.mode,
                "mirror_consistent": self.hv.mirror_consistent(vm),
                "console": vm.console.text(),
                "counters": {k: v for k, v in vm.counters.to_json().items()
                             if k in ("native_instructions", "executed_instructions",
                                      "native_writes", "mirror_writes")},
                "error": None if vm.status not in (Status.KILLED, Status.FAULT) else {
                    "message": vm.report, "line": vm.fault_line}}

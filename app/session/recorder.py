"""Records one step: everything it changes, with old and new values.

The public part is the step event (documented in app/contracts/event.json); the private part is
what exact undo needs beyond it (hypervisor bookkeeping, journaled memory writes).
"""

from __future__ import annotations

import struct

from app.contracts import NoteKind, Role
from app.hypervisor import VM, Hypervisor
from app.machine.cpu import STATE_REGS
from app.machine.memory import PAGE
from app.machine.paging import LEVELS, P, frame_of
from app.session.undo import Undo


def hexv(v: int) -> str:
    """A value as the page shows it: registers whole (XMM is 128 bits, x87 80)."""
    return f"{v:#x}"


def _table_index(vm: VM) -> dict[int, tuple[int, int]]:
    """table frame -> (level, va base) for the VM's tree."""
    out = {vm.pml4: (0, 0)}
    todo = [vm.pml4]
    mem = vm.mem
    while todo:
        t = todo.pop()
        level, base = out[t]
        if level == 3:
            continue
        for i, (e,) in enumerate(struct.iter_unpack("<Q", mem.frame_bytes(t))):
            if e & P and frame_of(e) not in out:
                out[frame_of(e)] = (level + 1, base | (i << (39 - 9 * level)))
                todo.append(frame_of(e))
    return out


class Recorder:
    """Use as: rec = Recorder(hv, vm); ...run...; event_part, undo = rec.finish()."""

    def __init__(self, hv: Hypervisor, vm: VM, trace_writes: bool = True) -> None:
        self.hv, self.vm = hv, vm
        self.before = vm.save()
        self.regs = self.before.cpu.values()
        self.faults = hv.faults.copy()
        self.tables = {f: vm.mem.frame_bytes(f) for f in vm.tables}
        self.log_start = len(hv.log)
        self.undo = Undo(vm.id, self.log_start, self.before)
        self.writes: list[tuple[int, int, bytes, int]] = []
        vm.mem.journal = self.undo.journal
        vm.mem.owner_journal = self.undo.owners
        # single steps report their stores (a free run records pages, not stores)
        self.traced = trace_writes
        if trace_writes:
            vm.cpu.store_listener = self._on_write

    def _on_write(self, uc, access, pa: int, size: int, value, _data) -> None:
        # the hook runs before the store: the buffer still holds the old bytes
        mem = self.vm.mem
        if pa >= 0 and pa + size <= mem.size:
            rip = uc.reg_read(self.vm.cpu.RIP)
            self.writes.append((pa, size, bytes(mem.view[pa:pa + size]), rip))

    def finish(self) -> tuple[dict, Undo]:
        vm, hv, mem = self.vm, self.hv, self.vm.mem
        if self.traced:
            vm.cpu.store_listener = None
        mem.journal = None
        mem.owner_journal = None
        after = vm.cpu.state()
        regs = {n: {"old": hexv(self.regs[n]), "new": hexv(after[n])}
                for n in after if after[n] != self.regs[n]}
        undo = self.undo
        undo.regs = [(i, self.regs[n]) for i, n in enumerate(STATE_REGS) if n in regs]
        if not vm.unchanged_since(self.before):
            undo.rare = self.before
        if hv.faults != self.faults:
            undo.faults = self.faults
        writes = []
        for pa, size, old, rip in self.writes:
            self.undo.cpu_writes.append((pa, old))
            where = vm.va_of(pa)
            owner = mem.owners[pa // PAGE]
            writes.append({"va": where[0] if where else None, "pa": pa, "size": size,
                           "old": old.hex(), "new": mem.read(pa, size).hex(),
                           "copy": owner.copy,
                           "owner": owner.kind, "role": vm.role_at.get(rip, Role.NATIVE),
                           "rip": rip})
        ptes = self._pte_changes()
        frames = [{"frame": f, "old": o.to_json(), "new": n.to_json()}
                  for f, o, n in self.undo.owners]
        notes = hv.log[self.log_start:]
        console = "".join(n["text"] for n in notes if n["kind"] == NoteKind.CONSOLE)
        part = {"regs": regs, "writes": writes, "ptes": ptes, "frames": frames,
                "console": console,
                "notes": [n for n in notes if n["kind"] != NoteKind.CONSOLE],
                "counters": vm.counters.to_json()}
        return part, self.undo

    def _pte_changes(self) -> list[dict]:
        vm, mem = self.vm, self.vm.mem
        index = None
        out = []
        for f in set(self.tables) | set(vm.tables):
            before = self.tables.get(f, bytes(PAGE))
            now = mem.frame_bytes(f) if f in vm.tables else bytes(PAGE)
            if before == now:
                continue
            index = index or _table_index(vm)
            level, base = index.get(f, (3, 0))
            for i in range(0, PAGE, 8):
                if before[i:i + 8] != now[i:i + 8]:
                    if f in self.tables:  # undo keeps the entry, not the whole table
                        self.undo.tables.append((f * PAGE + i, before[i:i + 8]))
                    idx = i // 8
                    va = base | (idx << (39 - 9 * level))
                    old = int.from_bytes(before[i:i + 8], "little")
                    new = int.from_bytes(now[i:i + 8], "little")
                    out.append({"table_frame": f, "index": idx, "level": LEVELS[level],
                                "va": va, "old": hexv(old), "new": hexv(new),
                                "mirror": level == 3 and vm.in_mirror_range(va)})
        return out


def apply_undo(hv: Hypervisor, vm: VM, undo: Undo) -> None:
    """Put machine, VM and hypervisor back exactly as before the step."""
    regs, counters, console, (journal, cpu_writes, tables) = undo.unpack()
    view = vm.mem.view
    for pa, old in reversed(journal):
        view[pa:pa + len(old)] = old
    for pa, old in reversed(cpu_writes):
        view[pa:pa + len(old)] = old
    for pa, old in tables:
        view[pa:pa + len(old)] = old
    for frame, old, _new in reversed(undo.owners):
        vm.mem.set_owner(frame, old)
    del hv.log[undo.log:]
    if undo.faults is not None:
        hv.restore_faults(undo.faults)
    if undo.rare is not None:
        vm.load(undo.rare)
    else:
        vm.rewind(regs, counters, console)

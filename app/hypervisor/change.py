"""What one step of one VM changes, kept as a reverse diff for exact undo.

Each part records its own change: machine memory journals the writes made through its
API and every change of owner, the vCPU's state says which registers changed, the
console is cut back to its length, the counters are a row of numbers, and the VM and
the pending errors are saved whole only when they changed (rarely: a mapping, a
recovery, an exit), with the other VMs' maps when those or the pending errors changed
(an error is taken out of every vCPU's map). A `Change` composes them while the step
runs; what it leaves is an `Undo`, sealed into one bytes object once recorded.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from app.hypervisor.faults import Faults
from app.hypervisor.vm import VM
from app.hypervisor.vmstate import COUNTER_FIELDS, Counters, PageKind, VmState
from app.machine.cpustate import CpuState
from app.machine.memory import PAGE, MachineMemory, Owner
from app.machine.paging import LEVELS, P, frame_of

if TYPE_CHECKING:
    from app.hypervisor.core import Hypervisor

_HEAD = struct.Struct(f"<{len(COUNTER_FIELDS)}QIH")  # counters, console length, registers
_SEGMENT = struct.Struct("<IIB")                      # machine address, length, which list
JOURNAL, CPU_WRITES, TABLES = 0, 1, 2


class Undo:
    """One step's undo record: the registers that changed, the counters, the console's
    length and the old bytes of every piece of memory written, packed once recorded
    (about a hundred bytes for a plain step, nothing the garbage collector walks); the
    VM's state, the pending errors and owners kept as objects, only when they changed."""

    __slots__ = ("vm", "log", "regs", "counters", "console", "rare", "shared", "owners",
                 "journal", "cpu_writes", "tables", "blob")

    def __init__(self, vm: int, log: int, before: VmState) -> None:
        self.vm, self.log = vm, log
        self.regs: list[tuple[int, int]] = []       # (register index, old value)
        self.counters = before.counters.values()
        self.console = before.console.length
        self.rare: VmState | None = None            # the whole VM, when more changed
        # the pending errors and each other VM's holes (vm id, frames out of its map),
        # if either changed
        self.shared: tuple[Faults, tuple[tuple[int, frozenset[int]], ...]] | None = None
        self.owners: list | tuple = []              # (frame, old, new) owners
        self.journal: list[tuple[int, bytes]] = []  # the hypervisor's writes
        self.cpu_writes: list[tuple[int, bytes]] = []
        self.tables: list[tuple[int, bytes]] = []   # the MMU's A/D bits too
        self.blob: bytes | None = None

    def seal(self) -> int:
        """Pack the record (once recorded nothing is added to it); its size in bytes."""
        if self.blob is None:
            out = bytearray(_HEAD.pack(*self.counters, self.console, len(self.regs)))
            out += CpuState.pack_changed(self.regs)
            for which, pieces in ((JOURNAL, self.journal), (CPU_WRITES, self.cpu_writes),
                                  (TABLES, self.tables)):
                for pa, old in pieces:
                    out += _SEGMENT.pack(pa, len(old), which)
                    out += old
            self.blob = bytes(out)
            # what the blob holds is not kept twice
            self.regs = self.journal = self.cpu_writes = self.tables = self.counters = None
            self.owners = tuple(self.owners)
        return len(self.blob)

    def unpack(self) -> tuple[dict, Counters, int, list[list[tuple[int, bytes]]]]:
        """(old registers by name, counters, console length, [journal, cpu writes,
        tables]) of a sealed record."""
        blob = self.blob
        *counts, console, nregs = _HEAD.unpack_from(blob)
        regs, at = CpuState.unpack_changed(blob, _HEAD.size, nregs)
        pieces: list[list[tuple[int, bytes]]] = [[], [], []]
        while at < len(blob):
            pa, n, which = _SEGMENT.unpack_from(blob, at)
            at += _SEGMENT.size
            pieces[which].append((pa, blob[at:at + n]))
            at += n
        return regs, Counters(*counts), console, pieces


def undo(hv: Hypervisor, u: Undo) -> None:
    """Put machine, VM and hypervisor back exactly as before the step `u` records."""
    vm = next(v for v in hv.vms if v.id == u.vm)
    regs, counters, console, (journal, cpu_writes, tables) = u.unpack()
    mem = hv.mem
    mem.put_back(reversed(journal))
    mem.put_back(reversed(cpu_writes))
    mem.put_back(tables)
    for frame, old, _new in reversed(u.owners):
        mem.set_owner(frame, old)
    del hv.log[u.log:]
    if u.shared is not None:
        faults, holes = u.shared
        hv.faults.load(faults)
        for vid, frames in holes:
            next(v for v in hv.vms if v.id == vid).cpu.set_holes(frames)
    if u.rare is not None:
        vm.load(u.rare)
    else:
        vm.rewind(regs, counters, console)


class Change:
    """Use as: change = hv.track(vm); ...run it...; change.finish(); then read what
    changed (registers, stores, PTEs, owners, notes) and keep `change.undo`."""

    def __init__(self, hv: Hypervisor, vm: VM, trace_writes: bool = True) -> None:
        self.hv, self.vm = hv, vm
        self.before = vm.save()
        self.regs_before = self.before.cpu.values()
        self.regs_after: dict[str, int] = {}
        self.faults = hv.faults.save()
        self.holes = self._holes()
        self.tables = {f: vm.mem.frame_bytes(f) for f in vm.tables}
        self.log_start = len(hv.log)
        self.undo = Undo(vm.id, self.log_start, self.before)
        # (machine address, size, old bytes, rip) of every store a single step makes
        # (old None: outside memory, a device's), and which of them their instruction's
        # stop refused (undone all the same)
        self._stores: list[tuple[int, int, bytes | None, int]] = []
        self._refused: set[int] = set()
        self.undo.journal, self.undo.owners = vm.mem.start_journal()
        # single steps report their stores (a free run records pages, not stores)
        self.traced = trace_writes
        if trace_writes:
            vm.cpu.store_listener = self

    def stored(self, pa: int, size: int, value: int) -> None:
        # the hook runs before the store: the buffer still holds the old bytes
        mem = self.vm.mem
        old = bytes(mem.view[pa:pa + size]) if pa >= 0 and pa + size <= mem.size else None
        self._stores.append((pa, size, old, self.vm.cpu.reg("rip")))

    def refused(self, count: int) -> None:
        # not shown as stores (a retry records them again; a kill means they never
        # happened), but their old bytes are put back like the others'
        n = len(self._stores)
        self._refused.update(range(max(n - count, 0), n))

    def finish(self) -> Undo:
        """Stop recording; the step's undo record."""
        vm, hv, u = self.vm, self.hv, self.undo
        if self.traced:
            vm.cpu.store_listener = None
        vm.mem.stop_journal()
        self.regs_after = vm.cpu.state()
        u.regs = self.before.cpu.changed(self.regs_after)
        if not vm.unchanged_since(self.before):
            u.rare = self.before
        if hv.faults != self.faults or self._holes() != self.holes:
            u.shared = (self.faults, self.holes)
        u.cpu_writes.extend((pa, old) for pa, _size, old, _rip in self._stores
                            if old is not None)
        self.ptes = _pte_changes(vm, self.tables, u)
        return u

    def _holes(self) -> tuple[tuple[int, frozenset[int]], ...]:
        """The other VMs' frames out of their vCPU's map (an injection changes them)."""
        return tuple((v.id, frozenset(v.cpu.holes)) for v in self.hv.vms if v is not self.vm)

    def stores(self) -> list[tuple[int, int, bytes, bytes, int, Owner]]:
        """(machine address, size, old bytes, new bytes, rip, owner) of each store
        that retired."""
        mem, refused = self.vm.mem, self._refused
        return [(pa, size, old, mem.read(pa, size), rip, mem.owner_at(pa))
                for k, (pa, size, old, rip) in enumerate(self._stores)
                if old is not None and k not in refused]

    def owners(self) -> list[tuple[int, Owner, Owner]]:
        """(frame, old owner, new owner) of every change of owner, in order."""
        return list(self.undo.owners)

    def notes(self) -> list[dict]:
        return self.hv.log[self.log_start:]


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


def _pte_changes(vm: VM, tables: dict[int, bytes], u: Undo) -> list[dict]:
    """Every entry of the VM's tables that differs from `tables` (their bytes before
    the step): {table_frame, index, level, va, old, new, mirror}. The undo record
    keeps each old entry, not the whole table."""
    mem = vm.mem
    index = None
    out = []
    for f in set(tables) | set(vm.tables):
        before = tables.get(f, bytes(PAGE))
        now = mem.frame_bytes(f) if f in vm.tables else bytes(PAGE)
        if before == now:
            continue
        index = index or _table_index(vm)
        level, base = index.get(f, (3, 0))
        for i in range(0, PAGE, 8):
            if before[i:i + 8] != now[i:i + 8]:
                if f in tables:
                    u.tables.append((f * PAGE + i, before[i:i + 8]))
                idx = i // 8
                va = base | (idx << (39 - 9 * level))
                out.append({"table_frame": f, "index": idx, "level": LEVELS[level], "va": va,
                            "old": int.from_bytes(before[i:i + 8], "little"),
                            "new": int.from_bytes(now[i:i + 8], "little"),
                            "mirror": level == 3 and vm.in_mirror_range(va)})
    return out


class RunChange:
    """A run in turns is one history entry: its turns' undo records, with the first
    images of every frame the run changed (the CPU's stores in a free run are not
    recorded one by one)."""

    def __init__(self, mem: MachineMemory) -> None:
        self.mem = mem
        self.images = mem.images()  # the frames in use as the run found them
        self.changed: dict[int, bytes] = {}

    def finish(self, undos: list[Undo]) -> None:
        """Give the first turn's record (applied last, so it decides) the run's first
        image of every frame it changed: a frame the hypervisor touched and the CPU
        set back is taken too, or an intermediate image of a later turn would stay. (A
        frame free when the run began is written only through the journals, which
        hold its first image themselves.)"""
        touched = {pa // PAGE for u in undos for pa, _ in (*u.journal, *u.tables)}
        undos[0].cpu_writes = self.mem.changed_frames(self.images, touched)
        self.changed = dict(undos[0].cpu_writes)

    def changed_word(self, vm: VM, labels: set[int]) -> int | None:
        """A guest address of a word of `vm`'s memory the run changed, to show: the
        first changed word of the first changed page holding one of `labels` (guest
        addresses), else of the first changed page."""
        labelled = {a & ~(PAGE - 1) for a in labels}
        changed, view = self.changed, self.mem.view
        pages = sorted((va not in labelled, va, page.frame * PAGE)
                       for va, page in vm.pages.items()
                       if page.kind == PageKind.RAM and page.frame * PAGE in changed)
        for _unlabelled, va, pa in pages:
            # the lowest differing byte, from the lowest set bit of the pages' xor (one
            # pass in C, not 512 slices compared in Python)
            diff = int.from_bytes(changed[pa], "little") ^ \
                int.from_bytes(view[pa:pa + PAGE], "little")
            if diff:
                return va + ((((diff & -diff).bit_length() - 1) // 8) & ~7)
        return None

"""A VM: its vCPU, its page tables (native and mirror entries) and its pages.

The hypervisor owns the page tables: the guest asks by hypercall, and every native
entry it grants is shadowed by one mirror entry per copy, at va + k*offset, mapping a
frame from the mirror pool on another DIMM. Only the hypervisor's view shows them.
"""

from __future__ import annotations

import copy
import struct
from collections.abc import Callable, Iterable
from dataclasses import replace

from app.abi import MIRROR_COPIES, UART_PA
from app.asm.layout import Image
from app.contracts import NoteKind, OwnerKind, Role, Status
from app.hypervisor.console import MAX_CONSOLE, Console
from app.hypervisor.counting import Counting
from app.hypervisor.loader import load_image
from app.hypervisor.vmstate import (
    NATIVE_DIMM,
    TABLE_DIMM,
    VM_STATE,
    Counters,
    Page,
    PageKind,
    Patrol,
    VmState,
)
from app.machine.cpu import VCpu
from app.machine.memory import PAGE, MachineMemory, Owner
from app.machine.paging import LEVELS, RW, US, P, frame_of, indices, make_pte
from app.rewriter import Group

__all__ = ["NATIVE_DIMM", "TABLE_DIMM", "VM", "Counters", "Page", "Patrol", "VmState"]
# what rewind() sets back itself; the rest of a state must be unchanged for it
_REWOUND = ("cpu", "counters", "console")
_MAPPINGS = ("pages", "rmap", "tables")  # compared by their shared saved copy


def _copy_pages(pages: dict[int, Page]) -> dict[int, Page]:
    return {va: replace(p, mirrors=list(p.mirrors)) for va, p in pages.items()}


class VM:
    # what save() covers: VmState's fields, each the attribute of the same name; the
    # rest is fixed at creation, derived from the program, or set only during a run
    STATE = VM_STATE
    DERIVED = ("id", "name", "mem", "mode", "copies", "offset", "image", "groups",
               "group_at", "group_of", "role_at", "rep_at", "entry_at", "pml4", "sink",
               "counting", "_counting_blocks", "voter", "watch", "failed_dimms", "_note",
               "_saved_mappings")

    def __init__(self, vid: int, name: str, mem: MachineMemory, mode: str, offset: int,
                 image: Image, groups: list[Group], *, note: Callable,
                 failed_dimms: Callable[[], set[int]], holes: Iterable[int] = (),
                 first_patrol: int = 0, mirror_devices: bool = False,
                 voter: Callable[[VM], None] | None = None) -> None:
        """A VM booted to its kernel's first instruction: the image in its frames, the
        kernel mapped, the vCPU made (without the frames in `holes`, which hold
        pending errors). `note(kind, vm, **data)` tells the hypervisor's log;
        `failed_dimms()` names the DIMMs not to allocate on; `voter(vm)` attaches
        NMR-3's read voter (a mirror mode with two copies)."""
        self.id = vid
        self.name = name
        self.mem = mem
        self.mode = mode
        self.copies = MIRROR_COPIES[mode]
        self.offset = offset
        self.image = image
        self._note = note
        self.failed_dimms = failed_dimms
        self._index(groups)
        self.watch = None  # the watchpoints of the run in progress (see watch.py)
        self.voter = None  # NMR-3's read voter in C, if it could be built (voting.py)
        self.patrol = Patrol(first_patrol)
        self.pages: dict[int, Page] = {}
        self.rmap: dict[int, tuple[int, int]] = {}  # frame -> (page va, copy)
        self.code_frames: set[int] = set()  # frames of the image's code (W^X)
        self.tables: set[int] = set()
        self.pml4 = mem.allocate(Owner(OwnerKind.PAGETABLE, vid), TABLE_DIMM)
        self.tables.add(self.pml4)
        self.status = Status.RUNNING  # running | exited | killed | fault
        self.exit_code: int | None = None
        self.console = Console()
        self.counters = Counters()
        self.report: str | None = None
        self.fault_line: int | None = None  # program line of the instruction that faulted
        self.sink = (mem.allocate(Owner(OwnerKind.SINK, vid), self.mirror_dimm(1))
                     if self.copies else 0)
        # the last saved copies of the page bookkeeping, shared by the states saved
        # while it does not change (most steps): a state then costs a few hundred bytes
        self._saved_mappings: tuple | None = None
        load_image(self, image, mirror_devices)
        self.cpu = VCpu(mem, self.cr3, [(UART_PA, self._uart_read, self._uart_write)])
        for frame in holes:
            self.cpu.unmap_frame(frame)
        self.cpu.set_reg("rip", image.symbols["_start"])
        self.cpu.until = image.symbols["__until"]
        self.counting = Counting(self, image)
        self._counting_blocks = False
        if voter is not None and self.copies >= 2:
            voter(self)

    def _index(self, groups: list[Group]) -> None:
        """The program's instruction groups, looked up by address."""
        self.groups = groups
        self.group_at, self.group_of, self.role_at = {}, {}, {}
        # a rep string instruction stays at its address until its last element is done
        self.rep_at: set[int] = set()
        # function entries: the one group boundary where the copies differ, by the
        # return address the caller pushed, on the native stack only until the entry's
        # own mirror instructions copy it
        self.entry_at: set[int] = set()
        for g in groups:  # one walk for all five (tens of thousands of members)
            if not g.members:
                continue
            start = g.members[0].address
            self.group_at[start] = g
            for m in g.members:
                self.group_of[m.address] = g
                self.role_at[m.address] = m.role
                if m.text.startswith("rep"):
                    self.rep_at.add(m.address)
                if m.role == Role.ENTRY_MIRROR:
                    self.entry_at.add(start)

    def count_blocks(self) -> None:
        """Run mode's block counter on the vCPU, from the first run on (a block hook
        added at creation would slow every single step before it)."""
        if not self._counting_blocks:
            self.counting.attach(self.cpu)
            self._counting_blocks = True

    # -- the UART, the guest's console device
    def _uart_read(self, uc, offset, size, data) -> int:
        return 0

    def _uart_write(self, uc, offset, size, value, data) -> None:
        if offset == 0 and len(self.console) < MAX_CONSOLE:
            ch = value & 0xFF
            self.console.write(bytes((ch,)))
            self._note(NoteKind.CONSOLE, self, text=chr(ch), via="uart")

    # -- its state, saved and loaded whole (undo, fork, checkpoints)
    def mappings(self) -> tuple:
        """The VM's mappings as one comparable value (its pages, their frames, flags and
        mirrors, and its page-table frames): what has seen it can tell whether it moved."""
        return (tuple((va, p.frame, p.flags, tuple(p.mirrors), p.kind)
                      for va, p in self.pages.items()), frozenset(self.tables))

    def save(self) -> VmState:
        sig = self.mappings()
        saved = self._saved_mappings
        if saved is None or saved[0] != sig or saved[2] != self.rmap:
            self._saved_mappings = (sig, _copy_pages(self.pages), dict(self.rmap))
        _, pages, rmap = self._saved_mappings
        return VmState(pages, rmap, sig[1], frozenset(self.code_frames), self.status,
                       self.exit_code, self.report, self.fault_line, self.console.save(),
                       copy.copy(self.counters), self.patrol, self.cpu.save())

    def unchanged_since(self, state: VmState) -> bool:
        """Whether all but the registers, counters and console are as in `state`
        (saved by this VM): what a step's undo need not keep. Every field of the
        state not named here is compared as it is, so a new one is never missed."""
        for name in VM_STATE:
            if name in _REWOUND or name in _MAPPINGS:
                continue
            mine, saved = getattr(self, name), getattr(state, name)
            if mine is not saved and mine != saved:
                return False
        return (self.cpu.holes == state.cpu.holes
                and self._saved_mappings is not None
                and self._saved_mappings[1] is state.pages
                and self._saved_mappings[0] == self.mappings()
                and self._saved_mappings[2] == self.rmap)

    def rewind(self, regs: dict[str, int], counters: Counters, console: int) -> None:
        """Back to a state that differed only in these (see unchanged_since)."""
        self.counters = counters
        self.console.cut(console)
        self.cpu.rewind(regs)

    def load(self, state: VmState) -> None:
        self.pages = _copy_pages(state.pages)
        self.rmap = dict(state.rmap)
        self.tables = set(state.tables)
        self.code_frames = set(state.code_frames)
        self.status, self.exit_code = state.status, state.exit_code
        self.report, self.fault_line = state.report, state.fault_line
        self.console.load(state.console)
        self.counters = copy.copy(state.counters)
        self.patrol = state.patrol
        self.cpu.load(state.cpu)

    @property
    def cr3(self) -> int:
        return self.pml4 * PAGE

    def mirror_dimm(self, k: int) -> int:
        return min(NATIVE_DIMM + k, len(self.mem.dimms) - 1)

    def in_mirror_range(self, va: int) -> bool:
        return self.copies > 0 and self.offset <= va < (self.copies + 1) * self.offset

    # -- page-table writes (hypervisor only)
    def _entry_address(self, va: int, create: bool) -> int | None:
        table = self.pml4
        idx = indices(va)
        for level in range(3):
            ea = table * PAGE + idx[level] * 8
            entry = self.mem.read_u64(ea)
            if not entry & P:
                if not create:
                    return None
                new = self.mem.allocate(Owner(OwnerKind.PAGETABLE, self.id), TABLE_DIMM)
                self.tables.add(new)
                self.mem.write_u64(ea, make_pte(new, P | RW | US))
                entry = self.mem.read_u64(ea)
            table = frame_of(entry)
        return table * PAGE + idx[3] * 8

    def write_pte(self, va: int, value: int) -> None:
        ea = self._entry_address(va, create=value != 0)
        if ea is not None:
            self.mem.write_u64(ea, value)

    def read_pte(self, va: int) -> int:
        ea = self._entry_address(va, create=False)
        return self.mem.read_u64(ea) if ea is not None else 0

    def table_entries(self) -> list[dict]:
        """Every present entry of the 4-level tree, for the page-table panel."""
        out: list[dict] = []

        def visit(table: int, level: int, base: int) -> None:
            # one read of the whole table (a snapshot walks every table of every VM)
            entries = struct.unpack("<512Q", self.mem.frame_bytes(table))
            for i, e in enumerate(entries):
                if not e & P:
                    continue
                va = base | (i << (39 - 9 * level))
                if va & (1 << 47):
                    va |= 0xFFFF_0000_0000_0000
                row = {"level": LEVELS[level], "table_frame": table, "index": i,
                       "entry": e, "va": va}
                if level == 3:
                    row["mirror"] = self.in_mirror_range(va)
                out.append(row)
                if level < 3:
                    visit(frame_of(e), level + 1, va)

        visit(self.pml4, 0, 0)
        return out

    # -- mappings
    def map_page(self, va: int, frame: int, flags: int, kind: PageKind = PageKind.RAM,
                 mirror_frames: list[int] | None = None) -> Page:
        """Write the native PTE and, for RAM, one mirror PTE per copy."""
        va &= ~0xFFF
        old = self.pages.get(va)
        if old is not None:
            self.unmap_page(va)
        page = Page(va, frame, flags, [], kind)
        self.write_pte(va, make_pte(frame, flags))
        if kind != PageKind.DEVICE:
            self.rmap[frame] = (va, 0)
        if kind != PageKind.SAVE:
            for k in range(1, self.copies + 1):
                if mirror_frames is not None:
                    mf = mirror_frames[k - 1]
                else:
                    mf = self.mem.allocate(Owner(OwnerKind.MIRROR, self.id, k), self.mirror_dimm(k),
                                           avoid={NATIVE_DIMM} | self.failed_dimms(),
                                           data=self.mem.frame_bytes(frame)
                                           if kind == PageKind.RAM else None)
                page.mirrors.append(mf)
                self.rmap[mf] = (va, k)
                self.write_pte(va + k * self.offset, make_pte(mf, flags))
        self.pages[va] = page
        return page

    def unmap_page(self, va: int) -> Page | None:
        page = self.pages.pop(va & ~0xFFF, None)
        if page is None:
            return None
        self.write_pte(page.va, 0)
        self.rmap.pop(page.frame, None)
        for k, mf in enumerate(page.mirrors, start=1):
            self.rmap.pop(mf, None)
            self.write_pte(page.va + k * self.offset, 0)
            if page.kind == PageKind.RAM:
                self.mem.release(mf)
        return page

    def page_of_frame(self, frame: int) -> tuple[Page, int] | None:
        """The page a frame backs and which copy it is (0 native, k mirror)."""
        hit = self.rmap.get(frame)
        return (self.pages[hit[0]], hit[1]) if hit else None

    def va_of(self, pa: int) -> tuple[int, int] | None:
        found = self.page_of_frame(pa // PAGE)
        if found is None:
            return None
        page, k = found
        return page.va + k * self.offset + (pa & 0xFFF), k

    def writable_frames(self) -> set[int]:
        """The frames of its writable RAM pages, native and mirror copies."""
        out: set[int] = set()
        for p in self.pages.values():
            if p.kind == PageKind.RAM and p.flags & RW:
                out.add(p.frame)
                out.update(p.mirrors)
        return out

    def mirror_mismatches(self) -> list[dict]:
        """Pages whose mirror copies differ from the native copy (byte-exact)."""
        out = []
        for page in self.pages.values():
            if page.kind != PageKind.RAM:
                continue
            native = self.mem.frame_bytes(page.frame)
            for k, mf in enumerate(page.mirrors, start=1):
                other = self.mem.frame_bytes(mf)
                if other != native:
                    first = next(i for i in range(PAGE) if other[i] != native[i])
                    out.append({"va": page.va + first, "copy": k})
        return out


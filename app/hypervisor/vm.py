"""A VM: its vCPU, its page tables (native and mirror entries) and its pages.

The hypervisor owns the page tables: the guest asks by hypercall, and every native
entry it grants is shadowed by one mirror entry per copy, at va + k*offset, mapping a
frame from the mirror pool on another DIMM. Only the hypervisor's view shows them.
"""

from __future__ import annotations

import copy
import struct
from dataclasses import dataclass, field, replace

from app.abi import MIRROR_COPIES
from app.hypervisor.console import Console, ConsoleState
from app.machine.cpu import CpuState, VCpu
from app.machine.memory import PAGE, MachineMemory, Owner
from app.machine.paging import LEVELS, RW, US, P, frame_of, indices, make_pte
from app.rewriter import Group

NATIVE_DIMM = 1
TABLE_DIMM = 0


@dataclass
class Page:
    """One guest page: its native frame and flags, and its mirror frames (one per copy)."""

    va: int
    frame: int
    flags: int
    mirrors: list[int] = field(default_factory=list)
    kind: str = "ram"  # ram | device | save


@dataclass(frozen=True)
class Patrol:
    """The patrol scrub's progress: the native instruction count at which it is next
    due, and the differences it has reported (each is reported once)."""

    next: int
    seen: frozenset = frozenset()


@dataclass
class Counters:
    native_instructions: int = 0
    executed_instructions: int = 0
    native_writes: int = 0
    mirror_writes: int = 0
    corrected_errors: int = 0
    machine_checks: int = 0
    recoveries: int = 0

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class VmState:
    """Everything a VM holds beyond machine memory, at one moment. Its containers are
    private copies: a state can be loaded any number of times."""

    pages: dict[int, Page]
    rmap: dict[int, tuple[int, int]]
    tables: frozenset[int]
    code_frames: frozenset[int]
    status: str
    exit_code: int | None
    report: str | None
    fault_line: int | None
    console: ConsoleState
    counters: Counters
    patrol: Patrol
    cpu: CpuState


def _copy_pages(pages: dict[int, Page]) -> dict[int, Page]:
    return {va: replace(p, mirrors=list(p.mirrors)) for va, p in pages.items()}


class VM:
    def __init__(self, vid: int, name: str, mem: MachineMemory, mode: str, offset: int,
                 groups: list[Group]) -> None:
        self.id = vid
        self.code_frames: set[int] = set()  # frames of the image's code (W^X)
        self.name = name
        self.mem = mem
        self.mode = mode
        self.copies = MIRROR_COPIES[mode]
        self.offset = offset
        self.groups = groups
        self.group_at = {g.start: g for g in groups if g.members}
        self.group_of = {m.address: g for g in groups for m in g.members}
        self.role_at = {m.address: m.role for g in groups for m in g.members}
        # a rep string instruction stays at its address until its last element is done
        self.rep_at = {m.address for g in groups for m in g.members
                       if m.text.startswith("rep")}
        # function entries: the one group boundary where the copies differ, by the
        # return address the caller pushed, on the native stack only until the entry's
        # own mirror instructions copy it
        self.entry_at = {g.start for g in groups if g.members and
                         any(m.role == "entry-mirror" for m in g.members)}
        self.watch = None  # the watchpoints of the run in progress (see watch.py)
        self.voter = None  # NMR-3's read voter in C, if it could be built (voting.py)
        self.patrol = Patrol(0)  # the hypervisor sets the first due point
        self.pages: dict[int, Page] = {}
        self.rmap: dict[int, tuple[int, int]] = {}  # frame -> (page va, copy)
        self.tables: set[int] = set()
        self.pml4 = mem.allocate(Owner("pagetable", vid), TABLE_DIMM)
        self.tables.add(self.pml4)
        self.status = "running"  # running | exited | killed | fault
        self.exit_code: int | None = None
        self.console = Console()
        self.counters = Counters()
        self.report: str | None = None
        self.fault_line: int | None = None  # program line of the instruction that faulted
        self.cpu: VCpu | None = None
        self.failed_dimms = set  # replaced by the hypervisor: DIMMs not to allocate on
        self.sink = mem.allocate(Owner("sink", vid), self.mirror_dimm(1)) if self.copies else 0
        # the last saved copies of the page bookkeeping, shared by the states saved
        # while it does not change (most steps): a state then costs a few hundred bytes
        self._saved_mappings: tuple | None = None

    # -- its state, saved and loaded whole (undo, fork, checkpoints)
    def _signature(self) -> tuple:
        return (tuple((va, p.frame, p.flags, tuple(p.mirrors), p.kind)
                      for va, p in self.pages.items()), frozenset(self.tables))

    def save(self) -> VmState:
        sig = self._signature()
        if self._saved_mappings is None or self._saved_mappings[0] != sig:
            self._saved_mappings = (sig, _copy_pages(self.pages), dict(self.rmap))
        _, pages, rmap = self._saved_mappings
        return VmState(pages, rmap, sig[1], frozenset(self.code_frames), self.status,
                       self.exit_code, self.report, self.fault_line, self.console.save(),
                       copy.copy(self.counters), self.patrol, self.cpu.save())

    def unchanged_since(self, state: VmState) -> bool:
        """Whether all but the registers, counters and console are as in `state`
        (saved by this VM): what a step's undo need not keep."""
        return (self.status == state.status and self.exit_code == state.exit_code
                and self.report == state.report and self.fault_line == state.fault_line
                and self.patrol is state.patrol and self.code_frames == state.code_frames
                and self.cpu.holes == state.cpu.holes
                and self._saved_mappings is not None
                and self._saved_mappings[1] is state.pages
                and self._saved_mappings[0] == self._signature())

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
                new = self.mem.allocate(Owner("pagetable", self.id), TABLE_DIMM)
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
    def map_page(self, va: int, frame: int, flags: int, kind: str = "ram",
                 mirror_frames: list[int] | None = None) -> Page:
        """Write the native PTE and, for RAM, one mirror PTE per copy."""
        va &= ~0xFFF
        old = self.pages.get(va)
        if old is not None:
            self.unmap_page(va)
        page = Page(va, frame, flags, [], kind)
        self.write_pte(va, make_pte(frame, flags))
        if kind != "device":
            self.rmap[frame] = (va, 0)
        if kind != "save":
            for k in range(1, self.copies + 1):
                if mirror_frames is not None:
                    mf = mirror_frames[k - 1]
                else:
                    mf = self.mem.allocate(Owner("mirror", self.id, k), self.mirror_dimm(k),
                                           avoid={NATIVE_DIMM} | self.failed_dimms(),
                                           data=self.mem.frame_bytes(frame)
                                           if kind == "ram" else None)
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
            if page.kind == "ram":
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

    def mirror_mismatches(self) -> list[dict]:
        """Pages whose mirror copies differ from the native copy (byte-exact)."""
        out = []
        for page in self.pages.values():
            if page.kind != "ram":
                continue
            native = self.mem.frame_bytes(page.frame)
            for k, mf in enumerate(page.mirrors, start=1):
                other = self.mem.frame_bytes(mf)
                if other != native:
                    first = next(i for i in range(PAGE) if other[i] != native[i])
                    out.append({"va": page.va + first, "copy": k})
        return out


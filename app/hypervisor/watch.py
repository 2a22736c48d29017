"""Watchpoints at full speed: a run stops after the instruction group whose native
store touches a watched guest range, with no single steps on the way.

The native frames of the watched pages are mapped in the vCPU without write
permission, so a store to them reaches a write-protect hook before it retires (loads
are not slowed at all). The hook refuses a store that touches a watched range, and the
CPU stops in front of its instruction; any other store it makes itself and lets
through. The run then finishes that instruction's group and stops at the next group
start, where single steps through the group would have stopped. The hook is C
(storewatch.c, see there for why each execution's stores are journaled), with the
same logic in Python when no compiler is at hand.
"""

from __future__ import annotations

import ctypes

from app.contracts import Role
from app.hypervisor import native_counter as nc
from app.hypervisor import window as W
from app.hypervisor.vm import VM
from app.hypervisor.vmstate import PageKind
from app.machine import hooks, native
from app.machine.cpu import Hook
from app.machine.memory import PAGE

MAX_RANGES = 64  # pieces of pages watched at once (16 spots of up to a page: 32)
JOURNAL = 256
# a store is at most 8 bytes in the engine (16-byte ones are two): one starting this
# close to a page's edge may cross it
EDGE = 16
# Instructions whose stores the engine makes inside a helper function rather than as
# memory operations of their own: refused there, the instruction would finish anyway
# (and the ones after it up to the next memory access would run). The run stops in
# front of each and judges it by its memory operand instead.
HELPER_STORES = {"cmpxchg8b", "cmpxchg16b", "fxsave", "fxsave64", "fxsaveq", "fbstp",
                 "fstpt"}


class _State(ctypes.Structure):
    _fields_ = [("armed", ctypes.c_uint64), ("refused", ctypes.c_uint64),
                ("nranges", ctypes.c_uint64),
                ("lo", ctypes.c_uint64 * MAX_RANGES), ("hi", ctypes.c_uint64 * MAX_RANGES),
                ("memory", ctypes.c_void_p), ("size", ctypes.c_uint64),
                ("blocks", ctypes.c_uint64), ("at_block", ctypes.c_uint64),
                ("at_rip", ctypes.c_uint64), ("njournal", ctypes.c_uint64),
                ("jpa", ctypes.c_uint64 * JOURNAL), ("jold", ctypes.c_uint64 * JOURNAL),
                ("jsize", ctypes.c_uint32 * JOURNAL),
                ("reg_read", ctypes.c_void_p), ("rip_id", ctypes.c_int),
                ("refused_pa", ctypes.c_uint64), ("refused_size", ctypes.c_uint64)]


def machine_ranges(vm: VM, spots: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Watched guest-virtual (address, size) spots as machine ranges of their native
    copies. A page not mapped yet is left out: its first store cannot come before the
    kernel maps it by hypercall, and the ranges are worked out again after each."""
    out = []
    for va, size in spots:
        end = va + max(size, 1)
        while va < end:
            page = vm.pages.get(va & ~0xFFF)
            n = min(end - va, PAGE - (va & 0xFFF))
            if page is not None and page.kind == PageKind.RAM:
                pa = page.frame * PAGE + (va & 0xFFF)
                out.append((pa, pa + n))
            va += n
    return out


def pieces(spots: list[tuple[int, int]]) -> int:
    """How many pieces of pages the spots cover (at most MAX_RANGES)."""
    return sum(((va + max(n, 1) - 1) >> 12) - (va >> 12) + 1 for va, n in spots)


def _frames(vm: VM, spots: list[tuple[int, int]]) -> set[int]:
    """The native frames to protect: those of the watched pages, and those of the
    pages beside them when a watched byte lies near the edge between (a store across
    the edge must reach the hook whole, to be undone whole)."""
    frames = set()
    for va, size in spots:
        lo, hi = va - EDGE, va + max(size, 1) + EDGE
        for page_va in range(lo & ~0xFFF, hi, PAGE):
            page = vm.pages.get(page_va)
            if page is not None and page.kind == PageKind.RAM:
                frames.add(page.frame)
    return frames


class Watch:
    """The watchpoints of one run on one VM (a context manager: the frames get their
    write permission back and the hooks go at the end)."""

    def __init__(self, vm: VM, spots: list[tuple[int, int]]) -> None:
        if pieces(spots) > MAX_RANGES:
            raise ValueError(f"watchpoints cover more than {MAX_RANGES} pages")
        self.vm, self.spots = vm, list(spots)
        # executed instructions when a watched store was met (its instruction had not
        # retired): the run stops at the first group start after that
        self.hit_at: int | None = None
        self.hit: tuple[int, int, int] | None = None  # the watched store: (rip, va, size)
        self.helper_stores = {m.address for g in vm.groups for m in g.members
                              if m.role == Role.NATIVE and
                              HELPER_STORES.intersection(m.text.split()[:2])}
        cpu = vm.cpu
        self.state = _State(armed=1, memory=vm.mem.address, size=vm.mem.size,
                            reg_read=hooks.C_REG_READ, rip_id=hooks.C_RIP)
        lib = nc.library("storewatch")
        if lib is not None:
            self._hooks = [cpu.add_c_hook(kind, native.function(lib, name), self.state)
                           for kind, name in ((Hook.WATCHED_WRITE, "on_store"),
                                              (Hook.BLOCK, "on_block"))]
        else:
            self._hooks = [cpu.add_hook(Hook.WATCHED_WRITE, self._on_store),
                           cpu.add_hook(Hook.BLOCK, self._on_block)]
        self.refresh()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_exc) -> None:
        self.vm.cpu.watch_frames(set())
        for h in self._hooks:
            self.vm.cpu.remove_hook(h)

    def refresh(self) -> None:
        """Follow the mappings (a page mapped, a copy rebuilt on a new frame)."""
        ranges = machine_ranges(self.vm, self.spots)
        st = self.state
        st.nranges = len(ranges)
        for k, (lo, hi) in enumerate(ranges):
            st.lo[k], st.hi[k] = lo, hi
        self.vm.cpu.watch_frames(_frames(self.vm, self.spots))

    def before(self, rip: int) -> None:
        """In front of an instruction about to run: one of the helper stores that
        touches a watched spot is the watched store (it then runs with every store let
        through)."""
        if rip not in self.helper_stores or not self.state.armed:
            return
        va, size = self._span(rip)
        if any(va < lo + max(n, 1) and lo < va + size for lo, n in self.spots):
            self.state.armed = 0
            self.hit_at = self.vm.counters.executed_instructions
            self.hit = (rip, va, size)

    def take_hit(self, rip: int) -> bool:
        """After a store was refused (in front of its instruction at `rip`): let every
        store pass until the run ends."""
        st = self.state
        if not st.refused:
            return False
        st.refused = st.armed = 0
        self.hit_at = self.vm.counters.executed_instructions
        self.hit = (rip, *self._virtual(st.refused_pa, st.refused_size))
        return True

    def _virtual(self, pa: int, size: int) -> tuple[int, int]:
        """The guest-virtual (address, size) of a store into the native frame at `pa`."""
        frame = pa // PAGE
        for va, page in self.vm.pages.items():
            if page.frame == frame and page.kind == PageKind.RAM:
                return va + pa % PAGE, size
        return 0, 0

    def _span(self, rip: int) -> tuple[int, int]:
        """The guest-virtual (address, size) the instruction at `rip` stores to."""
        insn = W.decode_at(self.vm, rip)
        span = W.operand_span(self.vm, insn) if insn is not None else None
        return span if span is not None else (0, 0)

    # -- the same as storewatch.c, for when it cannot be built
    def _on_block(self, address: int, size: int) -> None:
        self.state.blocks += 1

    def _on_store(self, access: int, pa: int, size: int, value: int) -> bool:
        st, view = self.state, self.vm.mem.view
        if st.refused or not 0 < size <= 8 or pa + size > st.size:
            return False
        rip = self.vm.cpu.reg("rip")
        if (rip, st.blocks) != (st.at_rip, st.at_block):
            st.at_rip, st.at_block, st.njournal = rip, st.blocks, 0
        if st.armed and any(pa < st.hi[k] and st.lo[k] < pa + size
                            for k in range(st.nranges)):
            while st.njournal:
                st.njournal -= 1
                n = st.njournal
                view[st.jpa[n]:st.jpa[n] + st.jsize[n]] = \
                    st.jold[n].to_bytes(8, "little")[:st.jsize[n]]
            st.refused = 1
            st.refused_pa, st.refused_size = pa, size
            return False
        if st.njournal < JOURNAL:
            n = st.njournal
            st.jpa[n], st.jsize[n] = pa, size
            st.jold[n] = int.from_bytes(view[pa:pa + size], "little")
            st.njournal += 1
        if pa % size == 0:  # an unaligned store comes back byte by byte
            view[pa:pa + size] = (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")
        return True

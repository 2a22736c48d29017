"""Machine memory: one host buffer in 4 KiB frames, split into DIMMs, every frame owned.

Every vCPU maps this same buffer (Unicorn's mem_map_ptr), so a frame written by one
VM's CPU is what the hypervisor and the host-memory panel read.
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from dataclasses import dataclass
from functools import cache

from app.contracts import OwnerKind

PAGE = 0x1000
PAGE_SHIFT = 12


@dataclass(frozen=True)
class Owner:
    """Who a frame belongs to. kind: hypervisor | native | mirror | pagetable | free | poisoned."""

    kind: str
    vm: int | None = None
    copy: int = 0  # 0 native, k >= 1 the k-th mirror

    def to_json(self) -> dict:
        return {"kind": self.kind, "vm": self.vm, "copy": self.copy}


@cache
def _row(owner: Owner) -> list:
    """An owner as the snapshot sends it; one list per owner, shared."""
    return [owner.kind, owner.vm, owner.copy]


FREE = Owner(OwnerKind.FREE)
HYPERVISOR = Owner(OwnerKind.HYPERVISOR)


@dataclass(frozen=True)
class MemoryState:
    """Every byte of machine memory and every frame's owner, at one moment."""

    data: bytes
    owners: tuple[Owner, ...]

    def owner_rows(self) -> list[list]:
        """The owners as a checkpoint writes them (the bytes travel beside)."""
        return [[o.kind, o.vm, o.copy] for o in self.owners]

    @classmethod
    def from_rows(cls, data: bytes, rows: list[list]) -> MemoryState:
        return cls(data, tuple(Owner(k, vm, c) for k, vm, c in rows))

    def __reduce__(self):
        # pickled (a fork's state, sent to its engine) as its pages that are not all
        # zeros: most of a machine is free, and its whole size went to every fork
        zero = bytes(PAGE)
        data = self.data
        pages = {k: data[a:a + PAGE] for k, a in enumerate(range(0, len(data), PAGE))
                 if data[a:a + PAGE] != zero}
        return _from_pages, (len(data), pages, self.owners)


def _from_pages(size: int, pages: dict[int, bytes], owners: tuple[Owner, ...]) -> MemoryState:
    data = bytearray(size)
    for k, page in pages.items():
        data[k * PAGE:(k + 1) * PAGE] = page
    return MemoryState(bytes(data), owners)


@dataclass(frozen=True)
class Dimm:
    index: int
    first_frame: int
    frames: int

    def __contains__(self, frame: int) -> bool:
        return self.first_frame <= frame < self.first_frame + self.frames


class MachineMemory:
    # what save() covers (the view: its bytes), and why the rest need not be saved
    STATE = ("view", "owners")
    DERIVED = (
        "size", "_pages", "buffer", "address", "frames", "dimms",  # fixed at creation
        "_free_from", "owners_changed", "_rows",  # follow the owners (caches)
        "journal", "owner_journal",  # set only while a change is recorded
    )

    def __init__(self, size: int = 8 << 20, dimms: int = 4) -> None:
        if size % (PAGE * dimms):
            raise ValueError("memory size must split evenly into DIMMs of whole frames")
        self.size = size
        # an anonymous mapping: zero pages cost nothing until written, and making it
        # needs no clearing of 8 MiB (a session boots on every reset)
        self._pages = mmap.mmap(-1, size)
        self.buffer = (ctypes.c_ubyte * size).from_buffer(self._pages)
        self.address = ctypes.addressof(self.buffer)
        self.view = memoryview(self.buffer).cast("B")
        self.frames = size // PAGE
        per = self.frames // dimms
        self.dimms = [Dimm(i, i * per, per) for i in range(dimms)]
        self.owners: list[Owner] = [FREE] * self.frames
        # per DIMM, a frame below which none is free: allocate() starts there (every
        # mirrored page takes a frame when it is mapped, at a VM's boot)
        self._free_from = [d.first_frame for d in self.dimms]
        self.owners_changed = 0  # counts changes of owner: what has seen them can tell
        self._rows: tuple[int, list] | None = None
        # while a step is recorded, every write made through this API (the hypervisor's,
        # not the CPU's) and every change of owner is journaled for exact undo
        self.journal: list[tuple[int, bytes]] | None = None
        self.owner_journal: list[tuple[int, Owner, Owner]] | None = None

    def save(self) -> MemoryState:
        return MemoryState(bytes(self.view), tuple(self.owners))

    def load(self, state: MemoryState) -> None:
        if len(state.data) != self.size:
            raise ValueError("the saved memory is not this machine's size")
        self.view[:] = state.data
        self.owners[:] = state.owners
        self._free_from = [d.first_frame for d in self.dimms]
        self.owners_changed += 1

    # -- a reverse diff of what changes through this API (exact undo)
    def start_journal(self) -> tuple[list[tuple[int, bytes]], list[tuple[int, Owner, Owner]]]:
        """From now on every write made through this API (the hypervisor's, not the
        CPU's) keeps the old bytes, and every change of owner (frame, old, new)."""
        self.journal, self.owner_journal = [], []
        return self.journal, self.owner_journal

    def stop_journal(self) -> None:
        self.journal = self.owner_journal = None

    def put_back(self, pieces) -> None:
        """Write old bytes back, (machine address, bytes) in the order given, without
        journaling them: the caller undoes a change it recorded."""
        view = self.view
        for pa, old in pieces:
            view[pa:pa + len(old)] = old

    def owner_at(self, pa: int) -> Owner:
        return self.owners[pa >> PAGE_SHIFT]

    def changed_frames(self, images: dict[int, bytes], touched: set[int]) -> list:
        """(machine address, first image) of every frame of `images` (see images())
        that differs now, or is in `touched` (changed and set back: its first image
        must win over a later one)."""
        view = self.view
        out = []
        for f, before in images.items():
            pa = f << PAGE_SHIFT
            # bytes against bytes: a memoryview compares item by item, several times slower
            if f in touched or view[pa:pa + PAGE].tobytes() != before:
                out.append((pa, before))
        return out

    def dimm_of(self, frame: int) -> Dimm:
        return self.dimms[frame // self.dimms[0].frames]

    def read(self, pa: int, size: int) -> bytes:
        self._check(pa, size)
        return bytes(self.view[pa:pa + size])

    def write(self, pa: int, data: bytes) -> None:
        self._check(pa, len(data))
        if self.journal is not None:
            self.journal.append((pa, bytes(self.view[pa:pa + len(data)])))
        self.view[pa:pa + len(data)] = data

    def read_u64(self, pa: int) -> int:
        self._check(pa, 8)
        return struct.unpack_from("<Q", self.buffer, pa)[0]

    def write_u64(self, pa: int, value: int) -> None:
        self._check(pa, 8)
        if self.journal is not None:
            self.journal.append((pa, bytes(self.view[pa:pa + 8])))
        struct.pack_into("<Q", self.buffer, pa, value & 0xFFFF_FFFF_FFFF_FFFF)

    def frame_bytes(self, frame: int) -> bytes:
        return self.read(frame << PAGE_SHIFT, PAGE)

    def _check(self, pa: int, size: int) -> None:
        if pa < 0 or pa + size > self.size:
            raise ValueError(f"machine address {pa:#x}+{size} outside memory")

    def allocate(self, owner: Owner, dimm: int, avoid: set[int] = frozenset(),
                 data: bytes | None = None) -> int:
        """A free frame, preferring `dimm`, never on a DIMM in `avoid`; zeroed, or
        filled with the page `data` (one write: a mirror frame is a copy at once)."""
        order = [dimm] + [d.index for d in self.dimms if d.index != dimm]
        owners = self.owners
        for d in order:
            if d in avoid:
                continue
            dm = self.dimms[d]
            for f in range(self._free_from[d], dm.first_frame + dm.frames):
                # the kind alone (FREE is the only free owner): a dataclass's __eq__ is
                # a Python call per frame passed
                if owners[f].kind == OwnerKind.FREE:
                    self._free_from[d] = f + 1
                    self.set_owner(f, owner)
                    self.write(f << PAGE_SHIFT, bytes(PAGE) if data is None else data)
                    return f
            self._free_from[d] = dm.first_frame + dm.frames
        raise MemoryError(f"machine memory exhausted (no free frame for {owner.kind})")

    def owner_rows(self) -> list[list]:
        """[kind, vm, copy] of every frame, built again only after a change of owner
        (a snapshot sends them all; never change the list returned)."""
        if self._rows is None or self._rows[0] != self.owners_changed:
            self._rows = (self.owners_changed, [_row(o) for o in self.owners])
        return self._rows[1]

    def images(self) -> dict[int, bytes]:
        """The bytes of every frame in use: what a run may change (a frame taken
        from the free ones is cleared through `write`, so a journal holds its past)."""
        view = self.view
        # by kind (FREE is the only free owner): a dataclass's __eq__ per frame costs
        # more than copying the frames in use
        return {f: bytes(view[f << PAGE_SHIFT:(f + 1) << PAGE_SHIFT])
                for f, o in enumerate(self.owners) if o.kind != OwnerKind.FREE}

    def release(self, frame: int) -> None:
        if self.owners[frame].kind != OwnerKind.POISONED:
            self.set_owner(frame, FREE)

    def set_owner(self, frame: int, owner: Owner) -> None:
        if self.owner_journal is not None and self.owners[frame] != owner:
            self.owner_journal.append((frame, self.owners[frame], owner))
        self.owners[frame] = owner
        if owner.kind == OwnerKind.FREE:
            d = frame // self.dimms[0].frames
            self._free_from[d] = min(self._free_from[d], frame)
        self.owners_changed += 1

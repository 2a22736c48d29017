"""Exact instruction and store counts without a per-instruction hook.

Each instruction of the image has weights (native?, native store?, mirror store?);
prefix sums over address order let a basic-block hook add a whole block at once,
and a stop inside a block take back the part that did not run. A rep-prefixed
string instruction counts once per element, as the emulated CPU dispatches it.
"""

from __future__ import annotations

import array
import ctypes
import itertools
import operator
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Iterator

from app.asm.layout import Image
from app.asm.memo import Memo
from app.contracts import Role, WriteClass
from app.hypervisor import native_counter as nc
from app.machine import hooks, native
from app.machine.cpu import Hook, VCpu
from app.rewriter.classify import classify, decode

_U32 = next(t for t in "IL" if array.array(t).itemsize == 4)  # an array of uint32_t
# an instruction's weights, one of four: (native, executed, native store, mirror store)
_NATIVE, _NATIVE_STORE, _ADDED, _MIRROR_STORE = (1, 1, 0, 0), (1, 1, 1, 0), (0, 1, 0, 0), \
    (0, 1, 0, 1)
_MIRRORS = (Role.MIRROR, Role.ENTRY_MIRROR)
_NATIVE_ROLE, _NO_WRITE = Role.NATIVE, WriteClass.NONE
_PACK_U32 = struct.Struct(f"={_U32}").pack  # one uint32_t, as the arrays hold it
# a mirror instruction's weights by its bytes: the same few recur all over a program
_MIRROR_WEIGHTS: Memo[tuple[int, int, int, int]] = Memo()
_ENCODING = operator.attrgetter("encoding")
_FIELDS = ("native_instructions", "executed_instructions", "native_writes", "mirror_writes")


class Counting:
    def __init__(self, vm, image: Image) -> None:
        self.vm = vm
        starts, ends = _extents(image.insns)
        self.addrs, columns = _tables(image, starts, ends)
        self.index = dict(zip(self.addrs, itertools.count()))
        self.cum = [[0, *itertools.accumulate(column)] for column in columns]
        self.code = _code_pages(image)
        self.native = self._native_counter([list(r) for r in self.code])
        self.last: tuple[int, int] | None = None
        # where the last run found a block beginning inside an instruction (it did
        # not run: see enters_inside)
        self.inside: int | None = None
        self.budget: int | None = None
        self.stopped_for_budget = False
        self.active = False  # only run mode counts by blocks; step mode counts one by one

    def _native_counter(self, regions: list[list[int]]):
        lib = nc.library()
        if lib is None or not regions:
            return None
        c = nc.Counter()
        n = len(self.cum[0])
        packed = array.array("Q", bytes(32 * n))
        for f in range(4):  # row-major: the four sums of an instruction side by side
            packed[f::4] = array.array("Q", self.cum[f])
        sums = (ctypes.c_uint64 * (4 * n)).from_buffer(packed)  # a view, no copy
        keep = [packed, sums]  # the C side holds pointers into these arrays
        c.cum = ctypes.cast(sums, ctypes.POINTER(ctypes.c_uint64))
        if len(regions) > 4:
            return None
        for r, (lo, hi) in enumerate(regions):
            ranks = _ranks(self.addrs, lo, hi)
            index = (ctypes.c_uint32 * len(ranks)).from_buffer(ranks)  # a view, no copy
            keep += [ranks, index]
            c.regions[r] = nc.Region(lo, hi - lo, ctypes.cast(index,
                                                              ctypes.POINTER(ctypes.c_uint32)))
        self._nregions = len(regions)  # set while a run counts, 0 otherwise
        c.emu_stop = hooks.C_STOP
        blocks, seen = (nc.Block * n)(), (ctypes.c_uint32 * n)()
        keep += [blocks, seen]
        c.blocks = ctypes.cast(blocks, ctypes.POINTER(nc.Block))
        c.seen = ctypes.cast(seen, ctypes.POINTER(ctypes.c_uint32))
        self._keep = keep
        self._callback = native.function(lib, "on_block")
        self._fold = lib.fold
        self._fold.argtypes = [ctypes.POINTER(nc.Counter)]
        self._fold.restype = None
        return c

    def attach(self, cpu: VCpu) -> None:
        """Install the run-mode block hook (C when it could be built)."""
        if self.native is not None:
            cpu.add_c_hook(Hook.BLOCK, self._callback, self.native)
        else:
            cpu.add_hook(Hook.BLOCK, self.on_block)

    def begin_run(self, budget: int | None) -> None:
        self.budget = budget
        self.stopped_for_budget = False
        self.last = self.inside = None
        self.active = True
        c = self.native
        if c is not None:
            counters = self.vm.counters
            for f, name in enumerate(_FIELDS):
                c.counts[f] = getattr(counters, name)
            # the hook stops in front of the first block that would pass the budget, or
            # of any block once it is reached; Unicorn does not run a block whose own
            # hook asked for a stop
            self._left = (budget - counters.native_instructions
                          if budget is not None else 1 << 62)
            c.left = self._left
            c.stopped_for_budget = 0
            c.last = None
            c.inside = 0
            c.nregions = self._nregions

    def end_run(self) -> None:
        self.active = False
        c = self.native
        if c is not None:
            c.nregions = 0
            self._fold(c)
            c.counts[0] += self._left - c.left
            for f, name in enumerate(_FIELDS):
                setattr(self.vm.counters, name, c.counts[f])
            self.stopped_for_budget = bool(c.stopped_for_budget)
            self.last = self._last_block(c)
            self.inside = c.inside or None

    def _last_block(self, c) -> tuple[int, int] | None:
        if not c.last:
            return None
        if c.last == ctypes.addressof(c.odd):
            return c.odd_i0, c.odd.i1
        i0 = (c.last - ctypes.addressof(c.blocks.contents)) // ctypes.sizeof(nc.Block)
        return i0, c.blocks[i0].i1

    def span(self, start: int, end: int) -> tuple[int, int]:
        return self.index.get(start, bisect_left(self.addrs, start)), bisect_left(self.addrs, end)

    def add(self, i0: int, i1: int, sign: int = 1) -> None:
        c = self.vm.counters
        for name, cum in zip(_FIELDS, self.cum, strict=True):
            setattr(c, name, getattr(c, name) + sign * (cum[i1] - cum[i0]))

    def one(self, address: int) -> None:
        i = self.index.get(address)
        if i is not None:
            self.add(i, i + 1)
        else:
            self.vm.counters.executed_instructions += 1

    def enters_inside(self, rip: int) -> bool:
        """Whether `rip` is in the code's pages but not where an instruction begins: a
        jump, call or return into the middle of one, or past the last. The CPU would
        run bytes there that were never checked or mirrored (an immediate's bytes
        can encode a store, or `mov %rax, %cr3`), so no run or step starts there."""
        return rip not in self.index and any(lo <= rip < hi for lo, hi in self.code)

    def covering(self, rip: int) -> int | None:
        """The start of the instruction (or padding) whose bytes hold `rip`; None past
        the last."""
        k = bisect_right(self.addrs, rip) - 1
        if k < 0:
            return None
        start = self.addrs[k]
        placed = self.vm.image.by_address.get(start)
        end = start + placed.size if placed is not None else (
            self.addrs[k + 1] if k + 1 < len(self.addrs) else start + 1)
        return start if rip < end else None

    # -- the block hook used by run mode
    def on_block(self, address: int, size: int) -> None:
        if not self.active:
            return
        if self.enters_inside(address):
            self.inside = address
            self.vm.cpu.stop()
            return
        i0, i1 = self.span(address, address + size)
        self.last = (i0, i1)
        before = self.vm.counters.native_instructions
        self.add(i0, i1)
        # a stop requested here keeps this block from running (settle takes it back):
        # the caller goes on to the exact instruction
        if self.budget is not None and (
                self.vm.counters.native_instructions > self.budget or before >= self.budget):
            self.stopped_for_budget = True
            self.vm.cpu.stop()

    def settle(self, rip: int) -> None:
        """After a stop at `rip`: take back what the last block did not execute (all of
        it when its own hook asked for the stop: RIP is still at its start)."""
        if self.last is None:
            return
        i0, i1 = self.last
        self.last = None
        if i0 < i1 and self.addrs[i0] <= rip < (self.addrs[i1 - 1] + 16) and rip in self.index:
            k = self.index[rip]
            if i0 <= k < i1:
                self.add(k, i1, -1)


def _extents(insns: list) -> tuple[list[int], list[int]]:
    """Where each instruction starts and where it ends."""
    starts = [p.address for p in insns]
    return starts, list(map(operator.add, starts, map(len, map(_ENCODING, insns))))


def _gaps(starts: list[int], ends: list[int], at_least: int) -> Iterator[int]:
    """The i for which instruction i starts `at_least` bytes or more after i - 1 ends
    (found without a loop of Python's: the gaps are few, the instructions many)."""
    gaps = map(operator.sub, itertools.islice(starts, 1, None), ends)
    return itertools.compress(itertools.count(1), map(operator.le, itertools.repeat(at_least),
                                                      gaps))


def _tables(image: Image, starts: list[int], ends: list[int]
            ) -> tuple[list[int], list[tuple[int, ...]]]:
    """The addresses the CPU runs code at, in order (the image's instructions and the
    padding between them), and their four weights as columns."""
    addrs, weights = starts, list(map(_weights, image.insns))
    padding = _padding(image, starts, ends)
    if padding:
        merged = sorted(itertools.chain(zip(addrs, weights, strict=True),
                                        zip(padding, itertools.repeat(_ADDED), strict=False)),
                        key=operator.itemgetter(0))
        addrs, weights = [a for a, _ in merged], [w for _, w in merged]
    return addrs, list(zip(*weights, strict=True)) or [() for _ in _FIELDS]


def _weights(p) -> tuple[int, int, int, int]:
    """(native, executed, native store, mirror store) for one instruction (a call for
    each instruction of every VM's image: the roles and classes read as module names,
    a mirror instruction's weights by its bytes)."""
    meta = p.insn.meta
    role = meta.get("role", _NATIVE_ROLE)
    if role == _NATIVE_ROLE:
        wc = meta.get("class")
        return _NATIVE if wc is None or wc.kind == _NO_WRITE else _NATIVE_STORE
    if role not in _MIRRORS:
        return _ADDED
    known = _MIRROR_WEIGHTS.get(p.encoding)
    if known is None:  # whether it stores does not depend on where it is
        kind = classify(decode(p.encoding, p.address)).kind
        known = _MIRROR_WEIGHTS.put(p.encoding, _ADDED if kind == _NO_WRITE else _MIRROR_STORE)
    return known


def _code_pages(image: Image) -> list[tuple[int, int]]:
    """The code's executable pages, [start, end) per section, the largest first (the C
    counter tries them in order; most blocks are the program's). Whole pages, since
    the CPU can be sent anywhere in them."""
    code = [s for s in image.sections.values() if s.perms == "rx" and s.data]
    pages = [(s.base & ~0xFFF, (s.base + len(s.data) + 0xFFF) & ~0xFFF) for s in code]
    return sorted(pages, key=lambda r: r[0] - r[1])


def _ranks(addrs: list[int], lo: int, hi: int) -> array.array:
    """bisect_left(addrs, a) for every a in [lo, hi], as uint32: a is in
    (addrs[k - 1], addrs[k]] for rank k. Made a run of equal ranks at a time, each run
    the bytes of its rank repeated (one element at a time cost a millisecond for every
    few thousand bytes of code)."""
    first, last = bisect_left(addrs, lo), bisect_left(addrs, hi)
    ends = [lo - 1, *addrs[first:last], hi]  # rank first + j covers (ends[j], ends[j + 1]]
    lengths = map(operator.sub, itertools.islice(ends, 1, None), ends)
    ranks = array.array(_U32)
    ranks.frombytes(b"".join(map(operator.mul, map(_PACK_U32, range(first, last + 1)),
                                 lengths)))
    return ranks


def _padding(image: Image, starts: list[int], ends: list[int]) -> list[int]:
    """The instructions the CPU runs between the image's own: alignment padding in code
    (`.p2align` fills it with one-byte NOPs) and bytes given as data in code. Each
    counts as executed, as a single step counts it."""
    found: list[int] = []
    for i in _gaps(starts, ends, 1):
        a, end = ends[i - 1], starts[i]
        if end - a >= 0x1000:
            continue
        sec = next((s for s in image.sections.values()
                    if s.base <= a and end <= s.base + len(s.data)), None)
        if sec is None:
            continue
        while a < end:
            found.append(a)
            try:
                size = decode(bytes(sec.data[a - sec.base:end - sec.base]), a).size
            except ValueError:
                size = 1
            a += size
    return found

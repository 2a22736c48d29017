"""Exact instruction and store counts without a per-instruction hook.

Each instruction of the image has weights (native?, native store?, mirror store?);
prefix sums over address order let a basic-block hook add a whole block at once,
and a stop inside a block take back the part that did not run. A rep-prefixed
string instruction counts once per element, as the emulated CPU dispatches it.
"""

from __future__ import annotations

from bisect import bisect_left

from app.asm.layout import Image
from app.rewriter.classify import classify, decode

BLOCK_MAX = 512
_FIELDS = ("native_instructions", "executed_instructions", "native_writes", "mirror_writes")


class Counting:
    def __init__(self, vm, image: Image) -> None:
        self.vm = vm
        self.addrs = [p.address for p in image.insns]
        self.index = {a: i for i, a in enumerate(self.addrs)}
        self.weights: list[tuple[int, int, int, int]] = []
        cum = [[0] for _ in _FIELDS]
        for p in image.insns:
            role = p.insn.meta.get("role", "native")
            if role == "native":
                wc = p.insn.meta.get("class")
                writes = wc is not None and wc.kind != "none"
                w = (1, 1, int(writes), 0)
            else:
                kind = classify(decode(p.encoding, p.address)).kind
                w = (0, 1, 0, int(role in ("mirror", "entry-mirror") and kind != "none"))
            self.weights.append(w)
            for c, x in zip(cum, w, strict=True):
                c.append(c[-1] + x)
        self.cum = cum
        self.last: tuple[int, int] | None = None
        self.budget: int | None = None
        self.stopped_for_budget = False
        self.active = False  # only run mode counts by blocks; step mode counts one by one

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

    def natives_in(self, i0: int, i1: int) -> int:
        return self.cum[0][i1] - self.cum[0][i0]

    # -- the block hook used by run mode
    def on_block(self, uc, address: int, size: int, _data) -> None:
        if not self.active:
            return
        i0, i1 = self.span(address, address + size)
        self.last = (i0, i1)
        self.add(i0, i1)
        # a stop requested here still lets this block run, so stop a whole block early
        # (a block is at most 512 instructions) and let the caller single-step the rest
        if self.budget is not None and (
                self.vm.counters.native_instructions >= self.budget - BLOCK_MAX):
            self.stopped_for_budget = True
            uc.emu_stop()

    def settle(self, rip: int) -> None:
        """After a stop at `rip`: take back what the last block did not execute."""
        if self.last is None:
            return
        i0, i1 = self.last
        self.last = None
        if i0 < i1 and self.addrs[i0] <= rip < (self.addrs[i1 - 1] + 16) and rip in self.index:
            k = self.index[rip]
            if i0 <= k < i1:
                self.add(k, i1, -1)

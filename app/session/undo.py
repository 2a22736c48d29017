"""One step's undo record, kept as a reverse diff: what the step changed, with the
old values, and nothing it did not change.

A history holds thousands of these, so once recorded a record is sealed into one
bytes object (the registers that changed, the counters, the console's length, and the
old bytes of every piece of memory written): about a hundred bytes for a plain step,
and nothing the garbage collector has to walk. What a step changes only now and then
(the VM's mappings, its status, the pending errors, frame owners) is kept as the
objects it was, and only when it changed.
"""

from __future__ import annotations

import struct

from app.hypervisor.faults import Faults
from app.hypervisor.vm import Counters, VmState
from app.machine.cpu import REG_WIDTH, STATE_REGS

_COUNTERS = tuple(Counters.__dataclass_fields__)
_HEAD = struct.Struct(f"<{len(_COUNTERS)}QIH")   # counters, console length, registers
_SEGMENT = struct.Struct("<IIB")                  # machine address, length, which list
JOURNAL, CPU_WRITES, TABLES = 0, 1, 2


class Undo:
    __slots__ = ("vm", "log", "regs", "counters", "console", "rare", "faults", "owners",
                 "journal", "cpu_writes", "tables", "blob")

    def __init__(self, vm: int, log: int, before: VmState) -> None:
        self.vm, self.log = vm, log
        self.regs: list[tuple[int, int]] = []       # (register index, old value)
        self.counters = tuple(getattr(before.counters, f) for f in _COUNTERS)
        self.console = before.console.length
        self.rare: VmState | None = None            # the whole VM, when more changed
        self.faults: Faults | None = None           # the pending errors, if they changed
        self.owners: list | tuple = []              # (frame, old, new) owners
        self.journal: list[tuple[int, bytes]] = []  # the hypervisor's writes
        self.cpu_writes: list[tuple[int, bytes]] = []
        self.tables: list[tuple[int, bytes]] = []   # the MMU's A/D bits too
        self.blob: bytes | None = None

    def seal(self) -> int:
        """Pack the record (once recorded nothing is added to it); its size in bytes."""
        if self.blob is None:
            out = bytearray(_HEAD.pack(*self.counters, self.console, len(self.regs)))
            for i, old in self.regs:
                out.append(i)
                out += old.to_bytes(REG_WIDTH[i], "little")
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
        at = _HEAD.size
        regs = {}
        for _ in range(nregs):
            i = blob[at]
            w = REG_WIDTH[i]
            regs[STATE_REGS[i]] = int.from_bytes(blob[at + 1:at + 1 + w], "little")
            at += 1 + w
        pieces: list[list[tuple[int, bytes]]] = [[], [], []]
        while at < len(blob):
            pa, n, which = _SEGMENT.unpack_from(blob, at)
            at += _SEGMENT.size
            pieces[which].append((pa, blob[at:at + n]))
            at += n
        return regs, Counters(*counts), console, pieces

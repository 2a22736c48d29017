"""x86-64 4-level page-table entries and walks, read straight from machine memory."""

from __future__ import annotations

from dataclasses import dataclass

from app.machine.memory import MachineMemory

P, RW, US, PWT, PCD, A, D, PS, G = (1 << b for b in range(9))
NX = 1 << 63
ADDR_MASK = 0x000F_FFFF_FFFF_F000
LEVELS = ("PML4", "PDPT", "PD", "PT")
_BITS = (("P", P), ("RW", RW), ("US", US), ("PWT", PWT), ("PCD", PCD), ("A", A), ("D", D),
         ("PS", PS), ("G", G), ("NX", NX))


def frame_of(entry: int) -> int:
    return (entry & ADDR_MASK) >> 12


def make_pte(frame: int, flags: int) -> int:
    return (frame << 12) | flags


def decode(entry: int) -> dict:
    return {"value": entry, "frame": frame_of(entry),
            "bits": [name for name, bit in _BITS if entry & bit]}


def indices(va: int) -> tuple[int, int, int, int]:
    return ((va >> 39) & 511, (va >> 30) & 511, (va >> 21) & 511, (va >> 12) & 511)


def canonical(va: int) -> bool:
    top = va >> 47
    return top in (0, (1 << 17) - 1)


@dataclass(frozen=True)
class WalkStep:
    level: str
    table_frame: int
    index: int
    entry: int

    @property
    def entry_address(self) -> int:
        return (self.table_frame << 12) + self.index * 8

    def to_json(self) -> dict:
        return {"level": self.level, "table_frame": self.table_frame, "index": self.index,
                "entry": self.entry, "entry_address": self.entry_address}


def walk(mem: MachineMemory, cr3: int, va: int) -> list[WalkStep]:
    """The hardware walk for `va`: one step per level, stopping at a non-present entry."""
    steps: list[WalkStep] = []
    table = frame_of(cr3)
    for level, idx in zip(LEVELS, indices(va), strict=True):
        entry = mem.read_u64((table << 12) + idx * 8)
        steps.append(WalkStep(level, table, idx, entry))
        if not entry & P:
            break
        table = frame_of(entry)
    return steps


def translate(mem: MachineMemory, cr3: int, va: int) -> int | None:
    steps = walk(mem, cr3, va)
    if len(steps) < 4 or not steps[-1].entry & P:
        return None
    return (frame_of(steps[-1].entry) << 12) | (va & 0xFFF)

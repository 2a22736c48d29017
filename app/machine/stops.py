"""Why the vCPU stopped: the kinds of stop its runs end with, the stop itself, the
exceptions by name, and who a single step tells of its stores."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

VECTOR_NAMES = {0: "divide error", 1: "debug", 3: "breakpoint", 6: "invalid opcode",
                8: "double fault", 13: "general protection fault", 14: "page fault",
                17: "alignment check"}


class StopKind(StrEnum):
    DONE = "done"            # the run ended where it was asked to (or was stopped)
    HYPERCALL = "hypercall"  # the guest called the hypervisor
    FAULT = "fault"          # an exception the guest cannot handle
    UNMAPPED = "unmapped"    # an access to a frame out of the map (a pending error)
    WATCH = "watch"          # a store into a write-watched frame, refused before it retired
    ERROR = "error"          # the emulator failed


@dataclass
class Stop:
    """Why the CPU stopped, where, and what the fault or access was."""

    kind: StopKind
    rip: int
    vector: int | None = None
    address: int | None = None
    message: str = ""
    size: int | None = None  # unmapped: the size of the access
    fetch: bool = False  # unmapped, or a page fault: the access fetched an instruction
    write: bool = False  # unmapped: the access was a store
    retired: bool = False  # a single step: its instruction ran (a fault is the next one's)


class StoreListener(Protocol):
    """Told of each store a single step makes, in front of it (its machine address,
    size and the value it stores), and of the last `count` ones when their instruction
    did not retire (a fault, a frame out of the map, a watch): those did not happen,
    or only partly, as the CPU stopped halfway."""

    def stored(self, pa: int, size: int, value: int) -> None: ...

    def refused(self, count: int) -> None: ...


__all__ = ["VECTOR_NAMES", "Stop", "StopKind", "StoreListener"]

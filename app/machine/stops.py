"""Why the vCPU stopped: the kinds of stop its runs end with, and the stop itself."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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
    fetch: bool = False  # unmapped: the access fetched an instruction


__all__ = ["Stop", "StopKind"]

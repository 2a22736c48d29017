"""A VM's state as values: its pages, counters, patrol progress, and the whole of it
at one moment (VmState), in memory and as JSON (a checkpoint).

The DIMMs a VM's frames come from are here too: the domain builder and the VM both
need them, and the builder comes before the VM.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum

from app.hypervisor.console import ConsoleState
from app.machine.cpustate import CpuState

NATIVE_DIMM = 1
TABLE_DIMM = 0


class PageKind(StrEnum):
    """What a guest page is backed by, for the hypervisor."""

    RAM = "ram"        # machine frames, mirrored (every copy a frame of its own)
    DEVICE = "device"  # the UART's registers: never mirrored
    SAVE = "save"      # the rewriter's save area: scratch, like registers, never mirrored


@dataclass
class Page:
    """One guest page: its native frame and flags, and its mirror frames (one per copy)."""

    va: int
    frame: int
    flags: int
    mirrors: list[int] = field(default_factory=list)
    kind: PageKind = PageKind.RAM


@dataclass(frozen=True)
class Patrol:
    """The patrol scrub's progress: the native instruction count at which it is next
    due, and the differences it has reported (each is reported once)."""

    next: int
    seen: frozenset = frozenset()

    def to_json(self) -> dict:
        return {"next": self.next, "seen": sorted(list(k) for k in self.seen)}

    @classmethod
    def from_json(cls, j: dict) -> Patrol:
        return cls(j["next"], frozenset(tuple(k) for k in j["seen"]))


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

    def values(self) -> tuple[int, ...]:
        """Every counter, in the order of the fields (a packed undo record's)."""
        return tuple(getattr(self, f) for f in COUNTER_FIELDS)


COUNTER_FIELDS = tuple(f.name for f in fields(Counters))


@dataclass(frozen=True)
class VmState:
    """Everything a VM holds beyond machine memory, at one moment: each field is the
    VM attribute of the same name (tests/test_state.py holds the two to it). Its
    containers are private copies: a state can be loaded any number of times."""

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

    def to_json(self) -> dict:
        """As a checkpoint writes it (its registers and holes beside the rest)."""
        return {"pages": [[p.va, p.frame, p.flags, p.mirrors, p.kind]
                          for p in self.pages.values()],
                "rmap": [[f, va, k] for f, (va, k) in self.rmap.items()],
                "tables": sorted(self.tables), "code_frames": sorted(self.code_frames),
                "status": self.status, "exit_code": self.exit_code, "report": self.report,
                "fault_line": self.fault_line, "console": self.console.text(),
                "counters": self.counters.to_json(), "patrol": self.patrol.to_json(),
                **self.cpu.to_json()}

    @classmethod
    def from_json(cls, v: dict) -> VmState:
        pages = {va: Page(va, frame, flags, list(mirrors), kind)
                 for va, frame, flags, mirrors, kind in v["pages"]}
        return cls(pages, {f: (va, k) for f, va, k in v["rmap"]}, frozenset(v["tables"]),
                   frozenset(v["code_frames"]), v["status"], v["exit_code"], v["report"],
                   v["fault_line"], ConsoleState.from_text(v["console"]),
                   Counters(**v["counters"]), Patrol.from_json(v["patrol"]),
                   CpuState.from_json(v))


VM_STATE = tuple(f.name for f in fields(VmState))

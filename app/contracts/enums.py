"""The words the engine and its clients share: what a VM's status, a run's stop, an
instruction's role, a mirror mode, a note or an event can be. The schemas take their
lists from here (see schemas.py), so a word added or dropped here is added or dropped
in the contract too.

They are StrEnums: a member equals its word (`Status.EXITED == "exited"`) and is
written as it in JSON, so code that still compares strings keeps working.
"""

from __future__ import annotations

from enum import StrEnum

from app.abi import MIRROR_COPIES

NATIVE_COPY = 0  # a write's or a frame's copy: 0 is the native one, k the k-th mirror


class Status(StrEnum):
    """A VM's state after a step."""

    RUNNING = "running"
    EXITED = "exited"
    KILLED = "killed"
    FAULT = "fault"


class Stop(StrEnum):
    """Why a run stopped (RUNNING: a turn ended and the run goes on)."""

    EXITED = "exited"
    KILLED = "killed"
    FAULT = "fault"
    BREAK = "break"
    WATCH = "watch"
    LIMIT = "limit"
    RUNNING = "running"
    PAUSED = "paused"
    ERROR = "error"


# what a run event's `stopped` may say (the engine's), and a run's end as the server
# tells it in a snapshot (a pause and an internal error are the server's)
RUN_STOPS = (Stop.EXITED, Stop.KILLED, Stop.FAULT, Stop.BREAK, Stop.WATCH, Stop.LIMIT,
             Stop.RUNNING)
END_STOPS = (Stop.EXITED, Stop.KILLED, Stop.FAULT, Stop.BREAK, Stop.WATCH, Stop.LIMIT,
             Stop.PAUSED, Stop.ERROR)


def stop_of(status: str) -> Stop:
    """The stop a VM's status means: a VM still running has used its budget."""
    return Stop.LIMIT if status == Status.RUNNING else Stop(status)


class Mode(StrEnum):
    """A mirror mode: how many mirror copies each page of the program has."""

    OFF = "off"
    ON = "on"
    NMR3 = "nmr3"

    @property
    def copies(self) -> int:
        return MIRROR_COPIES[self.value]


class Role(StrEnum):
    """What a rewritten instruction does in its group."""

    NATIVE = "native"
    MIRROR = "mirror"
    SAVE = "save"
    RESTORE = "restore"
    ENTRY_MIRROR = "entry-mirror"


class Granularity(StrEnum):
    NATIVE = "native"
    REWRITTEN = "rewritten"


class Command(StrEnum):
    """A history entry's command, as recipes and traces name it."""

    STEP_NATIVE = "step:native"
    STEP_REWRITTEN = "step:rewritten"
    RUN = "run"
    INJECT = "inject"

    @classmethod
    def step(cls, granularity: str) -> Command:
        return cls(f"step:{Granularity(granularity)}")



# the commands that step (a recipe's history names them as they were given)
STEPS = (Command.STEP_NATIVE, Command.STEP_REWRITTEN)


class NoteKind(StrEnum):
    """A hypervisor note (its fields: event.json, one definition per kind)."""

    VM_CREATED = "vm_created"
    CONSOLE = "console"
    HYPERCALL = "hypercall"
    MMU_UPDATE = "mmu_update"
    REFUSED = "refused"
    EXIT = "exit"
    INJECT = "inject"
    CE = "ce"
    MCE = "mce"
    RECOVERED = "recovered"
    KILLED = "killed"
    FAULT = "fault"
    VOTE = "vote"
    SCRUB = "scrub"
    LIMIT = "limit"
    WATCH = "watch"


# console output is folded into an event's `console`, never kept as a note
EVENT_NOTES = tuple(k for k in NoteKind if k is not NoteKind.CONSOLE)
# a step event is named after its most telling note, in this order
TELLING = (NoteKind.KILLED, NoteKind.FAULT, NoteKind.EXIT, NoteKind.RECOVERED, NoteKind.MCE,
           NoteKind.REFUSED, NoteKind.VOTE, NoteKind.CE, NoteKind.SCRUB, NoteKind.HYPERCALL,
           NoteKind.INJECT)
# the notes that mark a history entry on the slider ("the moment of the error")
MARKS = (NoteKind.INJECT, NoteKind.MCE, NoteKind.RECOVERED, NoteKind.KILLED, NoteKind.FAULT,
         NoteKind.EXIT, NoteKind.VOTE, NoteKind.WATCH)


class EventKind(StrEnum):
    """What an event is about: a command, or a VM's step named after its most telling
    note; back, reset and branch are about the whole session."""

    STEP = "step"
    RUN = "run"
    INJECT = "inject"
    BACK = "back"
    RESET = "reset"
    BRANCH = "branch"


# the kinds an event about one VM may have
CHANGE_KINDS = (EventKind.STEP, EventKind.RUN, EventKind.INJECT,
                *(k for k in TELLING if k != NoteKind.INJECT))


class OwnerKind(StrEnum):
    """Who a machine frame belongs to."""

    FREE = "free"
    HYPERVISOR = "hypervisor"
    NATIVE = "native"
    MIRROR = "mirror"
    PAGETABLE = "pagetable"
    SINK = "sink"
    POISONED = "poisoned"


class WriteClass(StrEnum):
    """How a native instruction's memory writes are mirrored (docs/design.md)."""

    NONE = "none"
    REPEAT = "repeat"
    COPY = "copy"
    PUSH = "push"
    STACK = "stack"
    CALL = "call"
    ENTER = "enter"
    STRING = "string"


class Level(StrEnum):
    PML4 = "PML4"
    PDPT = "PDPT"
    PD = "PD"
    PT = "PT"


class ErrorKind(StrEnum):
    """An error to inject (a word's ce, ue or silent flip, or a whole DIMM)."""

    CE = "ce"
    UE = "ue"
    SILENT = "silent"
    DIMM = "dimm"


# the errors a machine word can hold (a failed DIMM is kept apart)
WORD_ERRORS = (ErrorKind.CE, ErrorKind.UE, ErrorKind.SILENT)


class Origin(StrEnum):
    PROGRAM = "program"
    KERNEL = "kernel"


class VoteOutcome(StrEnum):
    """What NMR-3's vote on a word came to."""

    REPAIRED = "repaired"        # two copies agreed: the third is written over
    NO_MAJORITY = "no majority"  # all three differ: nothing to trust


def copy_name(copy: int) -> str:
    """A copy as people read it: native, mirror 1, mirror 2."""
    return "native" if copy == NATIVE_COPY else f"mirror {copy}"

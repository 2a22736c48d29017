"""A session's whole state, taken in one go and loaded into a new session without
replaying anything: a student's fork is the class's state copied, and a checkpoint is
the same state as bytes (SQLite keeps it), so that rebuilding a session after a restart
costs the same however long its history is.

In memory the state shares the program's build and the recorded history with the
session it came from (neither is ever changed once made); as bytes it holds the
settings, the machine and the VMs, and the history is replayed from the commands after
it.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass

from app.hypervisor.console import ConsoleState
from app.hypervisor.core import HypervisorState
from app.hypervisor.faults import Faults
from app.hypervisor.vm import Counters, Page, Patrol, VmState
from app.machine.cpu import STATE_REGS, CpuState
from app.machine.memory import MemoryState, Owner
from app.rewriter.build import Build
from app.session.history import History

FORMAT = 1
MAX_CHECKPOINT = 64 << 20  # bytes a checkpoint may expand to (memory and its JSON)


@dataclass(frozen=True)
class Settings:
    mirror: str
    offset: int
    compare: bool
    memory: int
    mirror_devices: bool


@dataclass(frozen=True)
class SavedSession:
    build: Build
    settings: Settings
    machine: HypervisorState
    seq: int
    history: History


class CheckpointError(ValueError):
    pass


def to_bytes(saved: SavedSession) -> bytes:
    """The state without its build and history: JSON head, then machine memory."""
    m = saved.machine
    head = {"format": FORMAT, "settings": saved.settings.__dict__, "seq": saved.seq,
            "native": saved.history.done[-1].native if saved.history.done
            else saved.history.base,
            "owners": [[o.kind, o.vm, o.copy] for o in m.memory.owners],
            "faults": {"words": [[pa, k, b] for pa, (k, b) in sorted(m.faults.words.items())],
                       "dead": sorted(m.faults.dead),
                       "failed_dimms": sorted(m.faults.failed_dimms)},
            "log": list(m.log), "vms": [_vm_json(v) for v in m.vms],
            "stores": list(saved.history.stores().values())}
    text = json.dumps(head, separators=(",", ":")).encode()
    return zlib.compress(len(text).to_bytes(8, "little") + text + m.memory.data, 6)


def _vm_json(v: VmState) -> dict:
    return {"pages": [[p.va, p.frame, p.flags, p.mirrors, p.kind] for p in v.pages.values()],
            "rmap": [[f, va, k] for f, (va, k) in v.rmap.items()],
            "tables": sorted(v.tables), "code_frames": sorted(v.code_frames),
            "status": v.status, "exit_code": v.exit_code, "report": v.report,
            "fault_line": v.fault_line, "console": v.console.data().decode("latin-1"),
            "counters": v.counters.to_json(),
            "patrol": {"next": v.patrol.next, "seen": sorted(list(k) for k in v.patrol.seen)},
            "regs": v.cpu.values(), "holes": sorted(v.cpu.holes)}


def from_bytes(blob: bytes) -> tuple[dict, HypervisorState]:
    """(head, machine state) of a checkpoint; CheckpointError if it is not one."""
    try:
        z = zlib.decompressobj()
        raw = z.decompress(blob, MAX_CHECKPOINT)
        if z.unconsumed_tail:
            raise CheckpointError("the checkpoint is larger than any this server writes")
        if not z.eof:
            raise CheckpointError("the checkpoint is cut short")
        n = int.from_bytes(raw[:8], "little")
        head = json.loads(raw[8:8 + n])
        if head.get("format") != FORMAT:
            raise CheckpointError(f"unknown checkpoint format {head.get('format')!r}")
        data = raw[8 + n:]
        if len(data) != head["settings"]["memory"]:
            raise CheckpointError("the checkpoint's memory is not its machine's size")
        owners = tuple(Owner(k, vm, c) for k, vm, c in head["owners"])
        f = head["faults"]
        faults = Faults({pa: (k, b) for pa, k, b in f["words"]}, set(f["dead"]),
                        set(f["failed_dimms"]))
        state = HypervisorState(MemoryState(data, owners), faults, tuple(head["log"]),
                                tuple(_vm_state(v) for v in head["vms"]))
    except CheckpointError:
        raise
    except (zlib.error, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"the checkpoint is damaged ({type(e).__name__})") from None
    return head, state


def _vm_state(v: dict) -> VmState:
    pages = {va: Page(va, frame, flags, list(mirrors), kind)
             for va, frame, flags, mirrors, kind in v["pages"]}
    console = bytearray(v["console"].encode("latin-1"))
    patrol = Patrol(v["patrol"]["next"], frozenset(tuple(k) for k in v["patrol"]["seen"]))
    cpu = CpuState(tuple(v["regs"][n] for n in STATE_REGS), frozenset(v["holes"]))
    return VmState(pages, {f: (va, k) for f, va, k in v["rmap"]}, frozenset(v["tables"]),
                   frozenset(v["code_frames"]), v["status"], v["exit_code"], v["report"],
                   v["fault_line"], ConsoleState(console, len(console)),
                   Counters(**v["counters"]), patrol, cpu)

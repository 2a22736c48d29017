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

from app.hypervisor.core import HypervisorState
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
    """The state without its build and history: JSON head (the machine's parts as
    each writes itself), then machine memory."""
    m = saved.machine
    head = {"format": FORMAT, "settings": saved.settings.__dict__, "seq": saved.seq,
            "native": saved.history.done[-1].native if saved.history.done
            else saved.history.base,
            **m.to_json(), "stores": list(saved.history.stores().values())}
    text = json.dumps(head, separators=(",", ":")).encode()
    return zlib.compress(len(text).to_bytes(8, "little") + text + m.memory.data, 6)


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
        state = HypervisorState.from_json(head, data)
    except CheckpointError:
        raise
    except (zlib.error, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"the checkpoint is damaged ({type(e).__name__})") from None
    return head, state

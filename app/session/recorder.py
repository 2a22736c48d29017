"""Records one step as its event: everything it changed, with old and new values.

The public part is the step event (documented in app/contracts/event.json); the private
part is the hypervisor's undo record (app/hypervisor/change.py), kept by the history.
"""

from __future__ import annotations

from app.contracts import NoteKind, Role
from app.hypervisor import VM, Hypervisor
from app.hypervisor.change import Undo


def hexv(v: int) -> str:
    """A value as the page shows it: registers whole (XMM is 128 bits, x87 80)."""
    return f"{v:#x}"


class Recorder:
    """Use as: rec = Recorder(hv, vm); ...run...; event_part, undo = rec.finish()."""

    def __init__(self, hv: Hypervisor, vm: VM, trace_writes: bool = True) -> None:
        self.vm = vm
        self.change = hv.track(vm, trace_writes)

    def finish(self) -> tuple[dict, Undo]:
        vm, change = self.vm, self.change
        undo = change.finish()
        before, after = change.regs_before, change.regs_after
        regs = {n: {"old": hexv(before[n]), "new": hexv(after[n])}
                for n in after if after[n] != before[n]}
        writes = []
        for pa, size, old, new, rip, owner in change.stores():
            where = vm.va_of(pa)
            writes.append({"va": where[0] if where else None, "pa": pa, "size": size,
                           "old": old.hex(), "new": new.hex(), "copy": owner.copy,
                           "owner": owner.kind, "role": vm.role_at.get(rip, Role.NATIVE),
                           "rip": rip})
        ptes = [{**p, "old": hexv(p["old"]), "new": hexv(p["new"])} for p in change.ptes]
        frames = [{"frame": f, "old": o.to_json(), "new": n.to_json()}
                  for f, o, n in change.owners()]
        notes = change.notes()
        console = "".join(n["text"] for n in notes if n["kind"] == NoteKind.CONSOLE)
        part = {"regs": regs, "writes": writes, "ptes": ptes, "frames": frames,
                "console": console,
                "notes": [n for n in notes if n["kind"] != NoteKind.CONSOLE],
                "counters": vm.counters.to_json()}
        return part, undo

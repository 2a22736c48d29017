"""The whole state of a session as one JSON object (schema: app/contracts/snapshot.json).

A client that arrives late, reconnects, or has just loaded a program draws everything
from a snapshot; after that each step event updates it. A snapshot goes to every tab
of a classroom after a seek, a reset or an injection, so it is kept small: frames are
sent only for the writable RAM pages (native and mirror copies), only if they are not
all zero (the code pages are in the listing already), in base64; the frames' owners
as runs of equal owners (a row per frame was half of a lesson's snapshot).
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections import OrderedDict

from app.contracts import Mode, NoteKind, Origin, Status
from app.session.recorder import hexv
from app.session.session import Session

LOG_TAIL = 400


def program_view(s: Session) -> dict:
    """What a snapshot shows that stays the same while the program does: its source,
    listing and labels (schema: pushes.json `program`). Sent to a tab once per
    program, not with every snapshot: for 7,000 instructions it is 1.7 MB, and a
    classroom's every tab gets every snapshot."""
    return {"kind": "program", "id": program_id(s), "source": s.source,
            "listing": _listing(s.vms[0].groups), "symbols": _symbols(s)}


def program_id(s: Session) -> str:
    """Names the program and the settings its listing depends on (the first VM's
    mode and offset), the same in every process."""
    digest = hashlib.blake2b(digest_size=9)
    digest.update(f"{s.mirror}:{s.offset}:".encode())
    digest.update(s.source.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def snapshot(s: Session, extra: dict | None = None) -> dict:
    stores = s.history.stores(len(s.vms))
    out = {
        "kind": "snapshot",
        "seq": s.seq,
        "settings": {"mirror": s.mirror, "offset": s.offset, "compare": s.comparing()},
        "program": program_id(s),
        "vms": [_vm(s, vm, stores.get(vm.id)) for vm in s.vms],
        "machine": _machine(s),
        "memory": _memory(s),
        "log": [n for n in s.hv.log
                if n["kind"] not in (NoteKind.CONSOLE, NoteKind.VM_CREATED)][-LOG_TAIL:],
        "history": s.history_view(marks=True),
    }
    if extra:
        out.update(extra)
    return out


def _listing(groups: list) -> list[dict]:
    """The listing of a program's groups, made once per build and mode: it is the
    snapshot's largest part (1.5 MB for 7,000 instructions, 50 ms to make) and never
    changes while the program is the same. Shared by every snapshot: never changed."""
    key = id(groups)
    with _LISTINGS_LOCK:
        known = _LISTINGS.get(key)
        if known is not None and known[0] is groups:
            _LISTINGS.move_to_end(key)
            return known[1]
    listing = [_group(g) for g in groups if g.members]
    with _LISTINGS_LOCK:
        # the groups are held beside their listing, so that their id stays theirs
        _LISTINGS[key] = (groups, listing)
        while len(_LISTINGS) > _LISTINGS_KEPT:
            _LISTINGS.popitem(last=False)
    return listing


_LISTINGS: OrderedDict[int, tuple[list, list[dict]]] = OrderedDict()
_LISTINGS_KEPT = 8  # a few programs: a session's, its twin's, the last ones loaded
_LISTINGS_LOCK = threading.Lock()


def _group(g) -> dict:
    return {"index": g.index, **g.native_json(), "members": g.members_json()}


def _symbols(s: Session) -> dict[str, int]:
    """The program's own labels (not the kernel's), as injection targets see them."""
    syms = s.build.image.symbols
    return {n: syms[n] for n, lab in sorted(s.build.program.labels().items())
            if lab.origin == Origin.PROGRAM and n in syms and not n.startswith(".L")}


def _vm(s: Session, vm, store: tuple | None) -> dict:
    group = s.current_group(vm)
    return {"id": vm.id, "name": vm.name, "mode": Mode(vm.mode), "offset": vm.offset,
            "status": Status(vm.status), "exit_code": vm.exit_code, "report": vm.report,
            "fault_line": vm.fault_line,
            "regs": {n: hexv(v) for n, v in vm.cpu.state().items()},
            "counters": vm.counters.to_json(),
            "console": vm.console.text(),
            "native": None if group is None else group.native_address,
            "last_store": s.history.store_json(store),
            "last_notes": _newest_notes(s, vm.id),
            "tables": [{"level": e["level"], "table_frame": e["table_frame"],
                        "index": e["index"], "va": e["va"], "entry": hexv(e["entry"]),
                        "mirror": e.get("mirror", False)} for e in vm.table_entries()]}


# a run's notes can be many: the newest of them tell its moment
_NEWEST_NOTES = 50


def _newest_notes(s: Session, vid: int) -> list[dict]:
    """What the step (or run) the history is at said about VM `vid`, as its events did:
    a seek, a reload or a shared link then shows its moment as the step itself did."""
    start = s.history.newest_log_start()
    if start is None:
        return []
    notes = [n for n in s.hv.log[start:]
             if n.get("vm") == vid and n["kind"] != NoteKind.CONSOLE]
    return notes[-_NEWEST_NOTES:]


def _machine(s: Session) -> dict:
    mem, faults = s.hv.mem, s.hv.faults
    return {"frames": mem.frames,
            "dimms": [{"index": d.index, "first_frame": d.first_frame, "frames": d.frames,
                       "failed": d.index in faults.failed_dimms} for d in mem.dimms],
            "owner_runs": _owner_runs(mem.owner_rows()),
            "errors": [{"pa": pa, "kind": kind, "bit": bit}
                       for pa, (kind, bit) in sorted(faults.words.items())],
            "dead": sorted(faults.dead)}


def _memory(s: Session) -> dict[str, str]:
    mem = s.hv.mem
    frames: set[int] = set()
    for vm in s.vms:
        frames |= vm.writable_frames()
    out = {}
    for f in sorted(frames):
        data = mem.frame_bytes(f)
        if data.count(0) != len(data):  # counted in C: any() would walk it in Python
            out[str(f)] = base64.b64encode(data).decode("ascii")
    return out


def _owner_runs(rows: list[list]) -> list[list]:
    """[kind, vm, copy, count] for each run of frames with the same owner, in frame
    order. The rows are rebuilt only when an owner changes (Memory.owner_rows): the
    runs made from the last rows are kept with them."""
    global _RUNS
    known = _RUNS
    if known is not None and known[0] is rows:
        return known[1]
    runs: list[list] = []
    for row in rows:
        if runs and runs[-1][:3] == row:
            runs[-1][3] += 1
        else:
            runs.append([*row, 1])
    _RUNS = (rows, runs)
    return runs


_RUNS: tuple[list, list[list]] | None = None  # one pair, replaced whole (threads)


def frame_hex(s: Session, frame: int) -> str:
    """One frame's bytes, for a client that asks for a page it has not got."""
    if not 0 <= frame < s.hv.mem.frames:
        raise ValueError(f"there is no frame {frame}")
    return s.hv.mem.frame_bytes(frame).hex()

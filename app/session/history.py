"""A session's history as a trace: the entries done (undoable, newest last), the
entries stepped back over (the recorded future, replayed exactly by going forward),
and the commands of entries too old to undo (kept so that a recipe still rebuilds the
session from its boot).

Going forward replays the recorded future; doing something new while there is one
starts a new branch and drops it (the caller is told how many entries went).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.contracts import MARKS, NATIVE_COPY

MAX_HISTORY = 10_000  # entries kept for `back`; the oldest go first
# what an entry and its records cost beside their packed bytes (objects, a copy of the
# VM's bookkeeping when it changed), measured as docs/bench.md says
ENTRY_BYTES, UNDO_BYTES, RARE_BYTES = 400, 200, 2000
MAX_MARKS = 200  # a snapshot carries the newest marks


def _mark(position: int, e: Entry) -> dict:
    """A moment worth jumping to: its kinds (in MARKS order), and which VM had which."""
    by_vm: dict[int | None, list[str]] = {}
    for kind, vm in e.marks:
        by_vm.setdefault(vm, []).append(kind)
    return {"position": position, "native": e.native,
            "kinds": [k for k in MARKS if any(k == kind for kind, _vm in e.marks)],
            "by_vm": [{"vm": vm, "kinds": kinds} for vm, kinds in by_vm.items()]}


def _newest_stores(events: list[dict]) -> tuple:
    out = {}
    for e in events:
        for w in e.get("writes", ()):
            if w["copy"] == NATIVE_COPY and w["va"] is not None:
                out[e["vm"]] = (e["vm"], w["va"], w["size"], "step")
    return tuple(out.values())


@dataclass
class Entry:
    command: str
    events: list[dict]
    undos: list = field(default_factory=list)
    args: dict = field(default_factory=dict)  # to replay the command (forward)
    native: int = 0                           # the first VM's native count after it
    marks: tuple[tuple[str, int | None], ...] = ()  # (kind, vm) of the MARKS notes it has
    size: int = 0                             # bytes its undo records hold, about
    # per VM the store worth showing: (vm, va, size, by) -- a step's newest native
    # store, or a word a run changed (its events carry no stores)
    stores: tuple[tuple[int, int, int, str], ...] = ()

    def measure(self) -> int:
        """Seal the undo records (see undo.py); the bytes they hold, about."""
        self.undos = tuple(self.undos)
        self.size = ENTRY_BYTES + sum(UNDO_BYTES + u.seal() + (RARE_BYTES if u.rare else 0)
                                      for u in self.undos)
        return self.size


class History:
    def __init__(self, limit: int | None = None) -> None:
        self.limit = limit or MAX_HISTORY
        self.done: list[Entry] = []
        self.undone: list[Entry] = []
        self.forgotten: list[tuple[str, dict]] = []
        self.base = 0  # the first VM's native count where `done` starts
        self.before: dict[int, tuple] = {}  # the stores as of `base` (see stores)
        self.bytes = 0  # what the entries' undo records hold, about

    @property
    def position(self) -> int:
        return len(self.done)

    @property
    def length(self) -> int:
        return len(self.done) + len(self.undone)

    def record(self, entry: Entry, replaying: bool) -> int:
        """Append a new entry; returns how many recorded entries a new branch dropped."""
        found = {(n["kind"], n.get("vm", e.get("vm"))) for e in entry.events
                 for n in e.get("notes", ()) if n["kind"] in MARKS}
        entry.marks = tuple(sorted(found, key=lambda m: (m[1] is None, m[1] or 0,
                                                         MARKS.index(m[0]))))
        if not entry.stores:
            entry.stores = _newest_stores(entry.events)
        # the caller has the events; `back` needs only their numbers
        seqs = [e["seq"] for e in entry.events]
        # numbered one after another (as a command's events are): a range holds them in
        # a fraction of a tuple of numbers
        entry.events = range(seqs[0], seqs[-1] + 1) if seqs and \
            seqs == list(range(seqs[0], seqs[-1] + 1)) else tuple(seqs)
        self.done.append(entry)
        self.bytes += entry.measure()
        if len(self.done) > self.limit:
            old = self.done.pop(0)
            self.forgotten.append((old.command, old.args))
            self.base = old.native
            self.before.update((store[0], store) for store in old.stores)
            self.bytes -= old.size
        dropped = 0
        if not replaying:
            dropped = len(self.undone)
            self.bytes -= sum(e.size for e in self.undone)
            self.undone.clear()
        return dropped

    def stores(self, vms: int | None = None) -> dict[int, tuple[int, int, int, str]]:
        """Per VM the newest store worth showing of the entries done, or of those
        before them (forgotten, or in a checkpoint); the walk back stops once `vms`
        VMs have one."""
        out: dict = {}
        for entry in reversed(self.done):
            for store in entry.stores:
                out.setdefault(store[0], store)
            if vms is not None and len(out) >= vms:
                break
        return {**self.before, **out}

    @staticmethod
    def store_json(store: tuple | None) -> dict | None:
        """A store of `stores` as a snapshot says it: {va, size, by: step | run}."""
        return None if store is None else {"va": store[1], "size": store[2], "by": store[3]}

    def newest_log_start(self) -> int | None:
        """Where the notes of the entry the history is at begin in the hypervisor's log
        (None: at the start, nothing done)."""
        if not self.done or not self.done[-1].undos:
            return None
        return self.done[-1].undos[0].log

    def undo_last(self) -> Entry:
        entry = self.done.pop()
        self.undone.append(entry)
        return entry

    def next_undone(self) -> Entry | None:
        return self.undone[-1] if self.undone else None

    def take_undone(self) -> Entry:
        return self.undone.pop()

    def commands(self) -> list[tuple[str, dict]]:
        """The commands that rebuild the session from its boot, oldest first."""
        return list(self.forgotten) + [(e.command, e.args) for e in self.done]

    def copy(self) -> History:
        """An independent history over the same entries (entries are never changed
        once recorded, so two sessions can share them)."""
        h = History(self.limit)
        h.done, h.undone = list(self.done), list(self.undone)
        h.forgotten, h.base, h.bytes = list(self.forgotten), self.base, self.bytes
        h.before = dict(self.before)
        return h

    def view(self, native_now: int, marks: bool = False) -> dict:
        """What the history slider shows: positions are entries, labelled by the first
        VM's native instruction count; with `marks`, the entries worth jumping to (a
        snapshot carries them, a step's events only the position)."""
        last = self.undone[0] if self.undone else self.done[-1] if self.done else None
        out = {"position": self.position, "length": self.length, "native": native_now,
               "start_native": self.base,
               "end_native": last.native if last else native_now}
        if marks:
            entries = self.done + self.undone[::-1]
            out["forgotten"] = len(self.forgotten)
            out["marks"] = [_mark(i + 1, e) for i, e in enumerate(entries)
                            if e.marks][-MAX_MARKS:]
        return out

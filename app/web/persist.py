"""Sessions written through to SQLite as they change, and rebuilt from it after a
restart: the recipe's commands one row each (only the new ones are written), and now
and then a checkpoint of the whole state, so that a rebuild replays at most a bounded
stretch of history however long the session ran."""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field

from app.session import Session, commands, encode, from_recipe, recipe
from app.session.saved import CheckpointError, SavedSession, to_bytes
from app.web.store import Store, StoreError

log = logging.getLogger("kmemvisor.web")
# a checkpoint is written once this much would have to be replayed
CHECKPOINT_NATIVE = 20_000_000
CHECKPOINT_COMMANDS = 1_000


@dataclass
class _Written:
    commands: list = field(default_factory=list)  # as last written (compared by identity)
    head: str = ""
    covered: int = 0               # commands the checkpoint holds
    native: int = 0                # the first VM's count at the checkpoint
    generation: int = 0            # bumped when the checkpoint no longer applies


class Saver:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._written: dict[str, _Written] = {}
        self._lock = threading.Lock()
        self._checkpoints: queue.Queue = queue.Queue(maxsize=64)
        threading.Thread(target=self._write_checkpoints, daemon=True,
                         name="checkpoints").start()

    def save(self, key: str, kind: str, s: Session) -> None:
        """Write what changed since the last save (called where the session is not
        changing: in a job of its workspace)."""
        now = commands(s)
        head = json.dumps(recipe(s, history=False))
        native = s.vms[0].counters.native_instructions
        with self._lock:
            fresh = key not in self._written  # a checkpoint found in the store is not trusted
            w = self._written.setdefault(key, _Written())
            keep = 0
            for (_c, a), (_d, b) in zip(w.commands, now, strict=False):
                if a is not b:  # args dicts are never reused: identity tells
                    break
                keep += 1
            stale = keep < w.covered or fresh
            if stale:
                w.covered, w.generation = 0, w.generation + 1
            ok = self.store.save_session(key, kind, None if head == w.head else head, keep,
                                         [encode(c, a) for c, a in now[keep:]], stale)
            w.commands, w.head = (now, head) if ok else ([], "")
            due = len(now) - w.covered > CHECKPOINT_COMMANDS or \
                abs(native - w.native) > CHECKPOINT_NATIVE
            if ok and due and now:
                w.covered, w.native = len(now), native
                try:
                    self._checkpoints.put_nowait((key, s.save(), len(now), w.generation))
                except queue.Full:  # the next save tries again
                    w.covered = 0

    def _write_checkpoints(self) -> None:
        while True:
            key, saved, covered, generation = self._checkpoints.get()
            try:
                blob = to_bytes(saved)  # compression lets go of the interpreter
            except Exception:
                log.exception("checkpoint of %s failed", key)
                continue
            with self._lock:
                w = self._written.get(key)
                if w is not None and w.generation == generation and w.covered == covered:
                    self.store.save_checkpoint(key, blob, covered)

    def adopt(self, key: str, s: Session, covered: int) -> None:
        """A session rebuilt from the store: what is written is what it holds."""
        with self._lock:
            self._written[key] = _Written(commands(s), json.dumps(recipe(s, history=False)),
                                          covered, s.history.base)

    def forget(self, key: str) -> None:
        with self._lock:
            self._written.pop(key, None)
        self.store.forget_session(key)

    def forget_written(self, key: str) -> None:
        """The store lost what was written of `key`: the next save writes it whole."""
        with self._lock:
            self._written.pop(key, None)

    def rebuild(self, key: str) -> tuple[str, Session] | None:
        """(kind, session) saved under `key`, or None if there is none. A damaged
        checkpoint is passed over for a full replay."""
        row = self.store.session(key)
        if row is None:
            return None
        r = row["recipe"]
        covered = row["covered"] if row["checkpoint"] is not None else 0
        try:
            s = from_recipe(r, row["checkpoint"], covered) if covered else from_recipe(r)
        except CheckpointError as e:
            log.error("checkpoint of %s not used: %s", key, e)
            s, covered = from_recipe(r), 0
        self.adopt(key, s, covered)
        return row["kind"], s


__all__ = ["Saver", "SavedSession", "StoreError"]

"""Sessions written through to SQLite as they change, and rebuilt from it after a
restart: the recipe's commands one row each (only the new ones are written), and now
and then a checkpoint of the whole state, so that a rebuild replays at most a bounded
stretch of history however long the session ran.

A job of the session asks its engine process what changed (the commands after those
it told last time, the recipe's head, and the whole state when a checkpoint is due);
one writer thread writes it, so no engine thread ever waits for the disk, and the
store is used from one thread in order.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from dataclasses import dataclass, field

from app.engine import Build, Engines, EngineSession
from app.session import CheckpointError
from app.web.store import Store

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


class Saver:
    def __init__(self, store: Store, engines: Engines) -> None:
        self.store, self.engines = store, engines
        self._written: dict[str, _Written] = {}
        self._todo: queue.Queue = queue.Queue()
        threading.Thread(target=self._write, daemon=True, name="store-writer").start()

    # -- called in a job of the session (it reads the session)
    def save(self, key: str, kind: str, s: EngineSession) -> None:
        now, head, native = s.save_delta()
        w = self._written.get(key)
        due = w is not None and now and (len(now) - w.covered > CHECKPOINT_COMMANDS or
                                         abs(native - w.native) > CHECKPOINT_NATIVE)
        self._todo.put(("save", key, kind, now, head, native,
                        s.checkpoint() if due else None))

    def adopt(self, key: str, s: EngineSession, covered: int) -> None:
        """A session rebuilt from the store: what is written is what it holds."""
        now, head, _native = s.save_delta()
        self._todo.put(("adopt", key, now, json.dumps(head), covered,
                        s.history_view()["start_native"]))

    def forget(self, key: str) -> None:
        self._todo.put(("forget", key))

    def forget_written(self, key: str) -> None:
        """The store lost what was written of `key`: the next save writes it whole."""
        self._todo.put(("forget_written", key))

    def expire(self, sessions_before: float, shares_before: float, keep: set[str]) -> None:
        """Forget what nobody used since (Store.expire), in order with the writes."""
        self._todo.put(("expire", sessions_before, shares_before, keep))

    def flush(self) -> None:
        """Wait until everything handed over so far is written."""
        self._todo.join()

    def pending(self) -> int:
        """Writes handed over and not yet made (a crash now would lose them)."""
        return self._todo.unfinished_tasks

    # -- the writer thread
    def _write(self) -> None:
        while True:
            item = self._todo.get()
            try:
                getattr(self, f"_{item[0]}")(*item[1:])
            except Exception:  # one failed write must not stop the others
                log.exception("writing %s of %s failed", item[0], item[1])
            finally:
                self._todo.task_done()

    def _save(self, key: str, kind: str, now: list, head_obj: dict, native: int,
              state) -> None:
        fresh = key not in self._written  # a checkpoint found in the store is not trusted
        w = self._written.setdefault(key, _Written())
        keep = 0
        for a, b in zip(w.commands, now, strict=False):
            # the commands the engine did not tell again are the very objects of
            # its last answer (EngineSession.save_delta): identity tells what is new
            if a is not b:
                break
            keep += 1
        stale = keep < w.covered or fresh
        if stale:
            w.covered = 0
        head = json.dumps(head_obj)
        ok = self.store.save_session(key, kind, None if head == w.head else head, keep,
                                     now[keep:], stale)
        w.commands, w.head = (now, head) if ok else ([], "")
        if ok and state is not None and self.store.save_checkpoint(key, state, len(now)):
            w.covered, w.native = len(now), native

    def _adopt(self, key: str, now: list, head: str, covered: int, native: int) -> None:
        self._written[key] = _Written(now, head, covered, native)

    def _forget(self, key: str) -> None:
        self._written.pop(key, None)
        self.store.forget_session(key)

    def _expire(self, sessions_before: float, shares_before: float, keep: set[str]) -> None:
        stale, links = self.store.expire(sessions_before, shares_before, keep)
        for key in stale:
            self._written.pop(key, None)
        if stale or links:
            log.info("expired %d unused sessions and %d unused links", len(stale), links)

    def _forget_written(self, key: str) -> None:
        self._written.pop(key, None)

    # -- rebuilding
    def rebuild(self, key: str) -> tuple[str, EngineSession] | None:
        """(kind, session) saved under `key`, or None if there is none. A damaged
        checkpoint is passed over for a full replay."""
        self.flush()  # what was handed over last is part of it
        row = self.store.session(key)
        if row is None:
            return None
        r = row["recipe"]
        covered = row["covered"] if row["checkpoint"] is not None else 0
        try:
            s = self.engines.start(Build.RECIPE, r, row["checkpoint"] if covered else None,
                                   covered)
        except CheckpointError as e:
            log.error("checkpoint of %s not used: %s", key, e)
            s, covered = self.engines.start(Build.RECIPE, r, None, 0), 0
        self.adopt(key, s, covered)
        return row["kind"], s

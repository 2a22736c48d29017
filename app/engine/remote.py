"""Every session in an engine process of its own (host.py); this is the server's
side of it.

`Engines.start` makes a process with a session in it and returns an `EngineSession`,
which the rest of the server uses as it would the session: the same methods (the
session's face, see app.session), each a call into the process. A call blocks the
engine thread that makes it (never the connections' thread) until the answer comes;
the interpreter of the server stays free meanwhile, so a room of sessions working at
once shares the machine's cores as the system shares them between processes. What
the server needs to know between calls (the history, the state's key, the recipe
to save) comes with every answer, so that a step is one call.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import threading

from app.contracts import Granularity
from app.engine.host import News, Pace
from app.engine.processes import FORKER, EngineLost, EngineProcess

log = logging.getLogger("kmemvisor.engine")
# what a process costs beside its session, about (measured: docs/operations.md)
PROCESS_BYTES = 12 << 20


class Engines:
    def __init__(self, nice: int = 5) -> None:
        self.nice = nice

    @staticmethod
    def prepare() -> None:
        """Have engine processes ready to start (the first tab then waits less)."""
        FORKER.start()

    def start(self, how: str, *args) -> EngineSession:
        """A new process holding the session `how` and `args` build (host.Build); the
        build's error (a SessionError naming the line) if it fails."""
        engine = EngineSession(FORKER.fork(self.nice))
        try:
            engine.build(how, *args)
        except BaseException:
            engine.close()
            raise
        return engine


class EngineSession:
    """A session in its process (one caller at a time: the workspace's job)."""

    def __init__(self, proc: EngineProcess) -> None:
        self._proc, self._conn = proc, proc.conn
        self._ids = itertools.count(1)
        self._send_lock = threading.Lock()
        self._call_lock = threading.Lock()
        self._closed = False
        self._news: News | None = None    # the session as of the last answer
        self._commands: list = []         # the recipe's commands as the process told them
        self._head: dict | None = None

    # -- the process
    def call(self, name: str, *args, progress=None):
        """The answer of the process to `name(*args)` (its error re-raised);
        `progress(payload)` for what it sends on the way."""
        with self._call_lock:
            if self._closed:
                raise EngineLost("this session was closed: reload the page")
            cid = next(self._ids)
            try:
                self._send((cid, name, args))
            except OSError:
                self._lost()
            while True:
                try:
                    got = self._conn.recv()
                except (EOFError, OSError):
                    self._lost()
                rid, kind, payload, news = (*got, None)[:4]
                if kind == "progress":
                    if progress is not None and rid == cid:
                        progress(payload)
                    continue
                self._learn(news)  # an answer nobody waits for any more tells too
                if rid != cid:
                    continue
                if kind == "error":
                    raise payload
                return payload

    def _learn(self, news: News | None) -> None:
        if news is None:
            return
        if news.recipe is not None:
            keep, new, head = news.recipe
            self._commands = self._commands[:keep] + new
            if head is not None:
                self._head = head
        self._news = news

    def cancel(self) -> None:
        """Stop the load under way at its next check, or a run's turns after the current
        one (from any thread, never waits)."""
        if not self._closed:
            with contextlib.suppress(OSError):
                self._send(("cancel",))

    def pause_run(self, number: int) -> None:
        """End the free run `number` (start_run's) after the turn under way, from any
        thread, never waiting: also when it is sent before the run's start or between
        two slices of its turns, where a `cancel` would find no call to cancel."""
        if not self._closed:
            with contextlib.suppress(OSError):
                self._send(("pause", number))

    def close(self) -> None:
        """End the process (from any thread, never waits)."""
        if not self._closed:
            self._closed = True
            with self._send_lock:  # its "exit" never lands inside another message
                self._proc.end()

    def _send(self, message) -> None:
        with self._send_lock:
            self._conn.send(message)

    def _lost(self):
        self._closed = True
        log.error("engine process %d ended", self._proc.pid)
        raise EngineLost("the engine of this session stopped (the emulator failed): "
                         "reload the page to start again")

    @property
    def pid(self) -> int:
        """The engine process's id (for the server's status and its operators)."""
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return not self._closed and self._proc.alive()

    # -- building (host.Host.prepare)
    def build(self, how: str, *args) -> None:
        self.prepare(how, *args)
        self.commit()

    def prepare(self, how: str, *args) -> int:
        """Build a replacement session; its footprint (commit or discard it next)."""
        return self.call("prepare", how, *args) + PROCESS_BYTES

    def commit(self) -> None:
        self.call("commit")

    def discard(self) -> None:
        self.call("discard")

    # -- the session's face
    # what every answer tells (never a call: admission sums every session's footprint,
    # and a step's events go out with the history they leave)
    def footprint(self) -> int:
        return (self._news.footprint if self._news else 0) + PROCESS_BYTES

    def history_view(self) -> dict:
        return self._news.history

    def running(self) -> bool:
        return self._news.running

    def native_count(self) -> int:
        return self._news.native

    def state_key(self) -> tuple:
        return self._news.state_key

    def save_delta(self) -> tuple[list, dict, int]:
        """(the recipe's commands, encoded, its head, the native count); the commands
        that did not change are the very objects of the last answer (the store writes
        only the others)."""
        return self._commands, self._head, self._news.native

    def step(self, granularity: str = Granularity.NATIVE) -> list[dict]:
        return self.call("step", granularity)

    def back(self) -> list[dict]:
        return self.call("back")

    def forward(self) -> list[dict]:
        return self.call("forward")

    def seek(self, position: int) -> None:
        return self.call("seek", position)

    def reset(self) -> list[dict]:
        return self.call("reset")

    def inject(self, kind: str, target, vm=None, bit: int = 0, copy: int = 0) -> list[dict]:
        return self.call("inject", kind, target, vm, bit, copy)

    def address_of(self, target) -> int:
        return self.call("address_of", target)

    def check_watchable(self, va: int, size: int) -> None:
        return self.call("check_watchable", va, size)

    def native_addresses(self) -> set[int]:
        return self.call("native_addresses")

    def comparing(self) -> bool:
        return self.call("comparing")

    def settings(self):
        return self.call("settings")

    def start_run(self, budget: int, breakpoints, watchpoints, paced: bool = False,
                  first: tuple[dict, Pace] | None = None, progress=None, number: int = 0
                  ) -> tuple[EngineRun, list[dict]]:
        """The run, and its first turns when `first` asks for them in the same call
        (EngineRun.turns' arguments but `progress`): the events of the one that ended
        the run, if one did. `number` names the run for `pause_run`."""
        answer = self.call("start_run", budget, set(breakpoints), list(watchpoints), paced,
                           first, number, progress=progress)
        run = EngineRun(self, paced)
        return run, [] if answer is None else run.take(answer)

    # -- read models, files, lessons, saving
    def snapshot(self, extra: dict) -> dict:
        return self.call("snapshot", extra)

    def program(self) -> dict:
        return self.call("program")

    def frame_hex(self, frame: int) -> str:
        return self.call("frame_hex", frame)

    def document(self) -> dict:
        return self.call("document")

    def trace(self, max_bytes: int, seconds: float) -> dict:
        return self.call("trace", max_bytes, seconds)

    def perform(self, action, progress=None) -> list[dict]:
        return self.call("perform", action, progress=progress)

    def checked(self, checks: list) -> list[dict]:
        return self.call("checked", list(checks))

    def saved(self) -> bytes:
        """The whole state, to start a fork from (Build.RESTORE takes it as it is)."""
        return self.call("saved")

    def checkpoint(self) -> bytes:
        return self.call("checkpoint")



class EngineRun:
    """A run going on in the process (see app.session's Run)."""

    def __init__(self, engine: EngineSession, paced: bool) -> None:
        self.engine, self.paced = engine, paced
        self._ended: str | None = None  # why, told by the turn that ended the run
        self.final: dict | None = None  # the snapshot after it (the run is finished)

    @property
    def done(self) -> bool:
        return self._ended is not None

    def turns(self, extra: dict, pace: Pace, progress) -> list[dict]:
        """Free-run turns for about `pace.slice_seconds` (Host.run_turns),
        `progress((events, snapshot or None))` as each ends. The turn that ends the run
        finishes it too: its events are returned, and the snapshot after it is `final`
        (with `extra`)."""
        return self.take(self.engine.call("run_turns", extra, pace, progress=progress))

    def turn(self, extra: dict | None = None) -> list[dict]:
        """A paced run's turn (one step): its events, as `turns`."""
        events, self._ended, self.final = self.engine.call("paced_turn", extra)
        return events

    def take(self, answer: tuple) -> list[dict]:
        events, self._ended, self.final = answer
        return events

    def reason(self) -> str:
        if self._ended is None:
            raise RuntimeError("the run has not ended")
        return self._ended

    def finish(self) -> list[dict]:
        """Ends a run that has not ended by itself (a pause; an error)."""
        return [] if self.done else self.engine.call("run_finish")

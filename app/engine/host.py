"""The engine process of one workspace: it holds the workspace's session and answers
the server's calls on it (remote.py is the server's side).

A process of its own per session, so that sessions never wait for each other's
interpreter: a step in one is never held up by twenty full-speed runs in others, and
a crash in the emulator ends this session only. The server sends one call at a time
(a workspace's jobs are queued in order) and, at any moment, `cancel` (the load under
way stops at its next check). Calls that run long (loads, replays, run turns) run on
a thread of lower processor priority, so a step of another session comes first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import queue
import threading
import time
import traceback
from dataclasses import dataclass

from app.contracts import Stop
from app.lessons import LessonError, checked, new_session, perform
from app.session import (
    CheckpointError,
    LoadBudget,
    Session,
    SessionError,
    commands,
    document,
    encode,
    frame_hex,
    from_document,
    from_recipe,
    program_view,
    recipe,
    snapshot,
    stop_assembler,
    to_bytes,
    trace,
)

log = logging.getLogger("kmemvisor.engine")
# the assembler's worker process ends when no program was loaded for this long (it
# holds about half as much memory as the engine; starting one takes a tenth of a second)
ASSEMBLER_IDLE_SECONDS = 60.0
STEP_NICE = 3   # the priority of a session's steps (long work: `nice`, lower still)


class Build:
    """How a session is made (the first argument of `prepare`)."""

    PROGRAM = "program"      # (source, mirror, offset, compare, load seconds)
    RESTORE = "restore"      # (bytes of `saved`,): a fork, nothing replayed
    RECIPE = "recipe"        # (recipe, checkpoint, covered): rebuilt after a restart
    DOCUMENT = "document"    # (document, max native, load seconds): a shared session
    LESSON = "lesson"        # (Lesson,): a classroom's start


# what may be asked of the session as it is (the rest are the host's own methods)
SESSION_CALLS = frozenset({
    "step", "back", "forward", "seek", "reset", "inject", "address_of", "check_watchable",
    "native_addresses", "comparing", "settings", "result"})
# calls that run on the thread of lower priority (`nice`): a step of any session comes
# before them. (Not SCHED_IDLE: a thread starved of the processor while it holds the
# interpreter would stall this process's quick calls behind it.) `saved` is not one:
# a class's wave of forks waits for it, and the class with it, while the forks'
# own engines restore at that lower priority
SLOW_CALLS = frozenset({"prepare", "back", "forward", "seek", "reset", "perform", "trace",
                        "checkpoint", "start_run", "run_turns"})
# errors that are answers, handed to the caller as they are
ANSWERS = (SessionError, LessonError, CheckpointError, ValueError)


@dataclass(frozen=True)
class News:
    """Sent with every answer (see Host.news)."""

    footprint: int
    state_key: tuple
    history: dict
    running: bool
    native: int
    recipe: tuple | None   # (commands as told before, the new ones encoded, new head)


@dataclass(frozen=True)
class Pace:
    """How a free run's turns are cut: each aimed at `turn_seconds` of emulation (a
    pause waits for the turn under way), between `min_chunk` and `max_chunk` native
    instructions, and about `slice_seconds` of them per call (the run then lets the
    other runs of the server have their turns); a snapshot every `snapshot_every`."""

    turn_seconds: float
    slice_seconds: float
    first_chunk: int  # the first turn pays for translating the code, whatever its size
    min_chunk: int
    max_chunk: int
    snapshot_every: float  # seconds between the snapshots of a run as it goes

    def next_chunk(self, chunk: int, ran: int, took: float) -> int:
        """The next turn's size after one of `chunk` that ran `ran` in `took` seconds."""
        if ran <= 0 or took <= 0:
            return chunk
        return int(min(self.max_chunk, max(self.min_chunk, ran * self.turn_seconds / took)))


@dataclass
class Call:
    id: int
    name: str
    args: tuple


class Host:
    """The session of this process, the one being built, and the run going on."""

    def __init__(self, send) -> None:
        self.send = send
        self.session: Session | None = None
        self.pending: Session | None = None
        self.run = None
        self.chunk = 0                 # the free run's next turn, in native instructions
        self.snapshot_at = 0.0         # when the run's last snapshot was sent
        self.reported: list = []       # the commands as last told to the server
        self.reported_key = None       # the state they were told in
        self.reported_head = None      # the recipe's head as last told
        self.cancelled = threading.Event()
        self.run_number = 0            # the run going on, as the server numbers it
        self.paused_run = 0            # the last run the server paused (pause_run)
        self.current: Call | None = None
        self.generation = 0            # sessions this process has held
        self.loads = 0                 # sessions it has built

    # -- building
    def prepare(self, how: str, *args) -> int:
        """Build a session (not yet the current one); its footprint, so the server
        can tell whether it has room for it before `commit`."""
        self.pending = None
        self.loads += 1
        try:
            return self._prepare(how, *args)
        finally:
            self._stop_assembler_later(self.loads)

    def _stop_assembler_later(self, load: int) -> None:
        def stop() -> None:
            if self.loads == load:
                stop_assembler()
        timer = threading.Timer(ASSEMBLER_IDLE_SECONDS, stop)
        timer.daemon = True
        timer.start()

    def _prepare(self, how: str, *args) -> int:
        budget = lambda seconds: LoadBudget(seconds, cancelled=self.cancelled.is_set)  # noqa: E731
        if how == Build.PROGRAM:
            source, mirror, offset, compare, seconds = args
            made = Session(source, mirror, offset, compare, budget=budget(seconds))
        elif how == Build.RESTORE:
            made = Session.restore(pickle.loads(args[0]))
        elif how == Build.RECIPE:
            made = from_recipe(*args)
        elif how == Build.DOCUMENT:
            doc, max_native, seconds = args
            made = from_document(doc, max_native, budget(seconds))
        elif how == Build.LESSON:
            made = new_session(args[0])
        else:
            raise ValueError(f"no way to build a session '{how}'")
        self.pending = made
        return made.footprint()

    def commit(self) -> None:
        if self.pending is None:
            raise SessionError("no session was built")
        self.session, self.pending, self.run = self.pending, None, None
        self.reported, self.reported_key, self.reported_head = [], None, None
        self.generation += 1

    def state_key(self) -> tuple:
        """Changes whenever anything a snapshot shows changes, a new session included."""
        return (self.generation, *self.session.state_key())

    def discard(self) -> None:
        self.pending = None

    # -- read models and files
    def snapshot(self, extra: dict) -> dict:
        return snapshot(self.session, extra)

    def program(self) -> dict:
        return program_view(self.session)

    def frame_hex(self, frame: int) -> str:
        return frame_hex(self.session, frame)

    def document(self) -> dict:
        return document(self.session)

    def trace(self, max_bytes: int, seconds: float) -> dict:
        return trace(self.session, max_bytes, LoadBudget(seconds,
                                                         cancelled=self.cancelled.is_set))

    # -- lessons
    def perform(self, action) -> list[dict]:
        """A lesson's action; the events of a long run are sent as they come, with
        the history they leave (the server cannot ask while the action goes on)."""
        call, s = self.current, self.session

        def progress(events: list[dict]) -> bool:  # False ends the run: the caller left
            self.send((call.id, "progress", (events, s.history_view())))
            return not self.cancelled.is_set()
        return perform(s, action, progress=progress)

    def checked(self, checks: list) -> list[dict]:
        return [checked(self.session, c) for c in checks]

    # -- what every answer tells
    def news(self) -> News | None:
        """The session as the server keeps it between calls, so that it never asks
        for it: with what changed in its recipe since the last answer."""
        s = self.session
        if s is None:
            return None
        key = self.state_key()
        delta = None
        if key != self.reported_key:
            self.reported_key = key
            now = commands(s)
            keep = 0
            # an entry's args dict is its own (a step's is shared by every step of its
            # granularity, which are alike): identity tells what is new
            for (_c, a), (_d, b) in zip(self.reported, now, strict=False):
                if a is not b:
                    break
                keep += 1
            self.reported = now
            head = recipe(s, False)
            if head == self.reported_head:
                head = None
            else:
                self.reported_head = head
            delta = (keep, [encode(c, a) for c, a in now[keep:]], head)
        return News(s.footprint(), key, s.history_view(), s.running(), s.native_count(),
                    delta)

    def saved(self) -> bytes:
        """The whole state (a fork's start), pickled here once: the server only hands
        the bytes on, to every fork of the moment (pickling it again for each was the
        server's main work in a class's wave of forks)."""
        return pickle.dumps(self.session.save(), pickle.HIGHEST_PROTOCOL)

    def checkpoint(self) -> bytes:
        return to_bytes(self.session.save())

    # -- runs
    def start_run(self, budget: int, breakpoints: set[int], watchpoints: list,
                  paced: bool = False, first: tuple[dict, Pace] | None = None,
                  number: int = 0) -> tuple[list[dict], Stop | None, dict | None] | None:
        """A run; with `first` (run_turns' arguments), its first turns in the same call
        (run_turns' answer): a short run then costs one call less. `number`: the
        server's name for the run, which a pause sent at any moment names."""
        self.run = self.session.start_run(budget, breakpoints, watchpoints, paced)
        self.run_number = number
        self.snapshot_at = time.monotonic()
        if first is None:
            return None
        self.chunk = min(first[1].first_chunk, first[1].max_chunk)
        return self.run_turns(*first)

    def run_turns(self, extra: dict, pace: Pace
                  ) -> tuple[list[dict], Stop | None, dict | None]:
        """A free run's turns back to back for about `pace.slice_seconds` (the emulator
        does not wait for the server between them), each sized from the last; fewer at
        a `cancel` (the server's pause) or the run's end. Each turn's events go to the
        server as it ends (progress), with a snapshot of the run now and then
        (`pace.snapshot_every`, `extra` added); the answer: the events of the turn that
        ended the run, why (None: it goes on) and the snapshot after it."""
        call = self.current
        end = time.monotonic() + pace.slice_seconds
        while True:
            started, before = time.monotonic(), self.session.native_count()
            events, reason, final = self.run_turn(self.chunk, extra)
            now = time.monotonic()
            self.chunk = pace.next_chunk(self.chunk, self.session.native_count() - before,
                                         now - started)
            if reason is not None:
                return events, reason, final
            snap = None
            if now - self.snapshot_at >= pace.snapshot_every:
                self.snapshot_at = now
                snap = self.snapshot({**extra, "running": True})
            self.send((call.id, "progress", (events, snap)))
            if now >= end or self.cancelled.is_set() or self.paused():
                return [], None, None

    def paused(self) -> bool:
        """Whether the server paused the run going on (a pause is never cleared: the
        next run has another number)."""
        return self.run_number != 0 and self.paused_run == self.run_number

    def run_turn(self, chunk: int, extra: dict | None = None
                 ) -> tuple[list[dict], Stop | None, dict | None]:
        """The turn's events, why the run ended if it did (None: it goes on) and then
        the snapshot after it, `extra` added: the run is finished in the same answer,
        so that its end costs no call of its own."""
        events = self.run.turn(chunk)
        if not self.run.done:
            return events, None, None
        reason = self.run.reason()
        self.run_finish()
        return events, reason, self.snapshot(extra)

    def paced_turn(self, extra: dict | None = None
                   ) -> tuple[list[dict], Stop | None, dict | None]:
        """A paced run's turn: one step, on the steps' thread (run_turn is on the
        slow one)."""
        return self.run_turn(1, extra)

    def run_finish(self) -> list[dict]:
        run, self.run = self.run, None
        return run.finish() if run is not None else []

    # -- answering
    def answer(self, call: Call) -> None:
        self.current = call
        self.cancelled.clear()
        try:
            if call.name in SESSION_CALLS:
                if self.session is None:
                    raise SessionError("this session has no program yet")
                result = getattr(self.session, call.name)(*call.args)
            else:
                result = getattr(self, call.name)(*call.args)
            kind = "ok"
        except ANSWERS as e:
            result, kind = e, "error"
        except Exception as e:  # a bug: the server says so without the details
            log.error("call %s failed:\n%s", call.name, traceback.format_exc())
            result, kind = RuntimeError(f"{type(e).__name__}: {e}"[:300]), "error"
        finally:
            self.current = None
        news = self.news()  # a refused command may have changed things too
        try:
            self.send((call.id, kind, result, news))
        except Exception as e:  # an answer that cannot be sent is still answered
            self.send((call.id, "error", RuntimeError(f"unsendable answer: {e}"[:300]),
                       news))


def _worker(host: Host, calls: queue.Queue, nice: int) -> None:
    if nice > STEP_NICE:
        with contextlib.suppress(OSError):  # this thread only (Linux)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    while (call := calls.get()) is not None:
        host.answer(call)


def serve(conn, nice: int = 5) -> None:
    """The process's life: read calls until the server says `exit` or goes away."""
    lock = threading.Lock()

    def send(message) -> None:
        with lock:
            conn.send(message)
    host = Host(send)
    # the server's process routes every tab's traffic: a session's steps yield to it a
    # little (measured: the probe's p99 under a class, docs/bench.md), long work more
    with contextlib.suppress(OSError):
        os.nice(STEP_NICE)
    quick, slow = queue.Queue(), queue.Queue()
    for q, n in ((quick, 0), (slow, nice)):
        threading.Thread(target=_worker, args=(host, q, n), daemon=True).start()
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            break
        if message[0] == "exit":
            break
        if message[0] == "cancel":
            host.cancelled.set()
            continue
        if message[0] == "pause":  # read by the run's turns, whatever call is under way
            host.paused_run = message[1]
            continue
        call = Call(*message)
        (slow if call.name in SLOW_CALLS else quick).put(call)
    os._exit(0)  # the emulator's threads and buffers go with the process

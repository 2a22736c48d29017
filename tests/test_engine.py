"""The engine processes (app/engine): a session in a process of its own answers as the
session does in this one, tells the server what it keeps between calls, carries errors
across whole, stops a load when cancelled, and a fork starts from the state it is given."""

from __future__ import annotations

import threading
import time

import pytest

from app.engine import Build, Engines, Pace
from app.session import Session, SessionError, commands, encode, example_source, snapshot
from app.session.recipe import recipe
from tests.test_load_bounds import _long_program

SOURCE = example_source("read_modify_write")


@pytest.fixture
def engine():
    e = Engines().start(Build.PROGRAM, SOURCE, "on", 0x80A0000, True, 10)
    yield e
    e.close()


def test_an_engine_answers_as_the_session_does(engine):
    here = Session(SOURCE, "on", 0x80A0000, True)
    for command in ("step", "step", "step", "back", "forward", "back", "step", "reset", "step"):
        theirs = getattr(engine, command)()
        mine = getattr(here, command)()
        assert theirs == mine, command
        assert engine.history_view() == here.history_view()
        assert engine.state_key()[1:] == here.state_key()
        assert engine.running() == here.running()
        assert engine.native_count() == here.native_count()
    told, head, native = engine.save_delta()
    assert told == [encode(c, a) for c, a in commands(here)]
    assert head == recipe(here, history=False) and native == here.native_count()


def test_the_commands_told_before_stay_the_same_objects(engine):
    for _ in range(3):
        engine.step()
    before = list(engine.save_delta()[0])
    engine.step()
    after = engine.save_delta()[0]
    assert len(after) == len(before) + 1
    assert all(a is b for a, b in zip(before, after, strict=False))
    engine.back()
    assert all(a is b for a, b in zip(engine.save_delta()[0], before, strict=True))


def test_an_error_crosses_whole_with_its_line():
    with pytest.raises(SessionError) as e:
        Engines().start(Build.PROGRAM, "main:\n  movq %rax\n  ret\n", "on", 0x80A0000,
                        False, 10)
    assert e.value.line == 2 and "movq" in e.value.message


def test_a_load_in_an_engine_stops_when_cancelled(engine):
    threading.Timer(0.5, engine.cancel).start()
    started = time.monotonic()
    with pytest.raises(SessionError) as e:
        engine.prepare(Build.PROGRAM, _long_program(), "nmr3", 0x80A0000, False, None)
    assert "cancelled" in e.value.message
    assert time.monotonic() - started < 15
    engine.step()  # the session it had is still there


def test_a_fork_starts_from_the_state_it_is_given(engine):
    for _ in range(4):
        engine.step()
    fork = Engines().start(Build.RESTORE, engine.saved())
    try:
        assert fork.pid != engine.pid
        assert fork.history_view() == engine.history_view()
        assert fork.step() == engine.step()
    finally:
        fork.close()


RUNAWAY = "    .text\n    .globl main\nmain:\n1:  incq %rax\n    movq %rax, x(%rip)\n" \
    "    jmp 1b\n    .data\nx:  .quad 0\n"


def test_a_run_in_slices_ends_where_the_sessions_own_run_ends():
    engine = Engines().start(Build.PROGRAM, RUNAWAY, "on", 0x80A0000, True, 10)
    here = Session(RUNAWAY, "on", 0x80A0000, True)
    pace = Pace(turn_seconds=0.001, slice_seconds=0.005, first_chunk=1_000, min_chunk=100,
                max_chunk=5_000, snapshot_every=0.0)
    seen, extra = [], {"running": False}
    run, events = engine.start_run(60_000, set(), [], first=(extra, pace),
                                   progress=seen.append)
    while not run.done:
        events = run.turns(extra, pace, seen.append)
    mine = here.run(60_000)
    engine.close()
    assert run.reason() == mine[-1]["stopped"] == "limit"
    assert engine.native_count() == here.native_count()
    theirs, mine_now = run.final, snapshot(here, extra)
    assert theirs["running"] is False
    for a, b in zip(theirs["vms"], mine_now["vms"], strict=True):
        assert (a["counters"], a["regs"], a["status"]) == (b["counters"], b["regs"], b["status"])
    # every turn but the last told as it ended, each with a snapshot (snapshot_every 0)
    assert seen and all(turn_events and snap["running"] for turn_events, snap in seen)
    assert events and all(e["kind"] == "run" for e in events)


def test_a_cancel_ends_a_slice_of_turns_after_the_turn_under_way():
    engine = Engines().start(Build.PROGRAM, RUNAWAY, "on", 0x80A0000, False, 10)
    try:
        pace = Pace(turn_seconds=0.002, slice_seconds=60.0, first_chunk=1_000,
                    min_chunk=1_000, max_chunk=20_000, snapshot_every=60.0)
        seen = []

        def progress(turn) -> None:
            seen.append(turn)
            if len(seen) == 3:
                engine.cancel()  # as a pause does, from the server
        started = time.monotonic()
        run, events = engine.start_run(10 ** 12, set(), [], first=({}, pace),
                                       progress=progress)
        assert not run.done and events == []
        # the slice ended a few turns on (those the engine had made while the cancel
        # crossed), not a minute on
        assert time.monotonic() - started < 10 and 3 <= len(seen) < 1_000
        assert all(snap is None for _events, snap in seen)
        assert engine.history_view()["length"] == 0  # the run is recorded as it ends
        run.finish()
        assert engine.history_view()["length"] == 1  # the whole run: one entry
    finally:
        engine.close()


def test_a_pause_sent_between_two_slices_ends_the_next_after_its_first_turn():
    # a pause that reaches the engine while no call is under way (between two slices of
    # turns, or before the run's start) is not lost: it names its run, and a later run
    # is not paused by it
    engine = Engines().start(Build.PROGRAM, RUNAWAY, "on", 0x80A0000, False, 10)
    try:
        pace = Pace(turn_seconds=0.002, slice_seconds=60.0, first_chunk=1_000,
                    min_chunk=1_000, max_chunk=20_000, snapshot_every=60.0)
        run, _ = engine.start_run(10 ** 12, set(), [], number=7)
        engine.pause_run(7)
        seen = []
        started = time.monotonic()
        assert run.turns({}, pace, seen.append) == [] and not run.done
        assert time.monotonic() - started < 10 and len(seen) == 1
        run.finish()
        short = Pace(turn_seconds=0.002, slice_seconds=0.3, first_chunk=1_000,
                     min_chunk=1_000, max_chunk=20_000, snapshot_every=60.0)
        later, _ = engine.start_run(10 ** 12, set(), [], number=8)
        seen.clear()
        later.turns({}, short, seen.append)
        assert len(seen) > 1  # the pause of run 7 is not this run's
        later.finish()
    finally:
        engine.close()

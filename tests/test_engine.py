"""The engine processes (app/engine): a session in a process of its own answers as the
session does in this one, tells the server what it keeps between calls, carries errors
across whole, stops a load when cancelled, and a fork starts from the state it is given."""

from __future__ import annotations

import threading
import time

import pytest

from app.engine import Build, Engines
from app.session import Session, SessionError, commands, encode, example_source
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

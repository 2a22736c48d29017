"""A session's state saved whole and loaded into a new session (a fork, a checkpoint)
is the state a replay of its commands gives, and both go on exactly alike."""

from __future__ import annotations

import json

import pytest

from app.session import Session, from_recipe, recipe, snapshot
from app.session.saved import CheckpointError, from_bytes, to_bytes
from tests.conftest import AFTER_FILL, SUM_ARRAY

VISIBLE = ("vms", "machine", "memory", "log", "seq")


def story(mirror: str = "on") -> Session:
    s = Session(SUM_ARRAY, mirror, compare=True)
    s.run(max_native=AFTER_FILL)
    s.inject("ue", "table+8", 1)
    s.inject("ce", "total", len(s.vms))
    for _ in range(7):
        s.step()
    s.step("rewritten")
    return s


def same(a: Session, b: Session, keys=VISIBLE) -> None:
    sa, sb = json.loads(json.dumps(snapshot(a))), json.loads(json.dumps(snapshot(b)))
    for key in keys:
        assert sa[key] == sb[key], key


def go_on(s: Session) -> list:
    events = [s.step() for _ in range(5)] + [s.run(max_native=400)]
    s.inject("silent", "total")
    events.append(s.run())
    return json.loads(json.dumps(events))


@pytest.mark.parametrize("mirror", ["on", "nmr3", "off"])
def test_a_fork_is_the_state_a_replay_gives_and_goes_on_alike(mirror):
    s = story(mirror)
    fork = Session.restore(s.save())
    replayed = from_recipe(json.loads(json.dumps(recipe(s))))
    same(fork, s)
    same(fork, replayed)
    assert go_on(fork) == go_on(replayed)
    same(fork, replayed)


def test_a_fork_keeps_the_history_and_its_past_is_its_own():
    s = story()
    fork = Session.restore(s.save())
    for _ in range(4):
        fork.back()
    s.step()
    original = json.loads(json.dumps(snapshot(s)))
    assert fork.history.position == s.history.position - 5
    for _ in range(4):
        fork.forward()
    fork.step()
    same(fork, s, VISIBLE[:-1])     # back and forward number events of their own
    assert json.loads(json.dumps(snapshot(s))) == original   # the fork never touched it


def test_a_checkpoint_rebuilds_the_session_without_its_history():
    s = story("nmr3")
    blob = to_bytes(s.save())
    covered = s.history.position
    for _ in range(3):
        s.step()
    r = json.loads(json.dumps(recipe(s)))
    rebuilt = from_recipe(r, blob, covered)
    same(rebuilt, s)
    assert rebuilt.history.position == 3 and rebuilt.history.base == \
        s.history.done[covered - 1].native
    assert rebuilt.history_view()["start_native"] == rebuilt.history.base
    rebuilt.back()
    s.back()
    same(rebuilt, s, VISIBLE[:-1])
    assert go_on(rebuilt) == go_on(s)


def test_a_damaged_or_foreign_checkpoint_is_refused():
    s = story()
    blob = to_bytes(s.save())
    with pytest.raises(CheckpointError):
        from_bytes(blob[:len(blob) // 2])
    with pytest.raises(CheckpointError):
        from_bytes(b"not a checkpoint")
    other = json.loads(json.dumps(recipe(s)))
    other["offset"] = 0x10000000
    with pytest.raises(CheckpointError):
        from_recipe(other, blob, s.history.position)


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_rebuilt_session_keeps_its_recorded_future_counted_and_marked(checkpointed):
    """A restart rebuilds a session stepped back over an injection: the slider's
    counts and marks of the future are the ones recorded, and forward replays it."""
    s = Session(SUM_ARRAY, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    blob, covered = to_bytes(s.save()), s.history.position
    for _ in range(3):
        s.step()
    s.inject("ue", "table+8", 1)
    for _ in range(4):
        s.step()
    for _ in range(6):
        s.back()
    r = json.loads(json.dumps(recipe(s)))
    rebuilt = from_recipe(r, blob, covered) if checkpointed else from_recipe(r)
    view, want = rebuilt.history_view(marks=True), s.history_view(marks=True)
    assert view["end_native"] == want["end_native"] > view["native"]
    assert [m["kinds"] for m in view["marks"]] == [m["kinds"] for m in want["marks"]]
    assert [m["native"] for m in view["marks"]] == [m["native"] for m in want["marks"]]
    same(rebuilt, s, VISIBLE[:-1])
    for _ in range(6):
        rebuilt.forward()
        s.forward()
    same(rebuilt, s, VISIBLE[:-1])

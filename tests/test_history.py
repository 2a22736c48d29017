"""The history as a trace: capped yet rebuilt from boot by its recipe, stepping after
`back` replays the recorded future (injections included) until something new starts a
branch, and the snapshot names the store worth showing after steps, runs and back."""

from __future__ import annotations

import pytest

from app.session import Session, SessionError
from tests.conftest import AFTER_FILL, SUM_ARRAY
from tests.test_session import _machine_state


def test_history_is_capped_and_a_recipe_still_replays_from_boot(monkeypatch):
    from app.session import from_recipe, recipe
    from app.session import history as module
    monkeypatch.setattr(module, "MAX_HISTORY", 5)
    s = Session(SUM_ARRAY, "on")
    for _ in range(12):
        s.step()
    assert s.history.position == 5 and len(s.history.forgotten) == 7
    copy = from_recipe(recipe(s))
    assert _machine_state(copy) == _machine_state(s)
    for _ in range(5):
        s.back()
    with pytest.raises(SessionError):
        s.back()


def test_stepping_after_back_replays_the_recorded_future_with_its_injections():
    s = Session(SUM_ARRAY, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    for _ in range(3):
        s.step()
    s.inject("ue", "table+8", 2)          # kills the unmirrored twin at its next read
    for _ in range(10):
        s.step()
    after = _machine_state(s)
    for _ in range(13):
        s.back()                          # back past the injection
    events = []
    for _ in range(12):
        events += s.step()                # → replays, the injection included
    assert any(e["kind"] == "inject" for e in events)
    assert not any(e["kind"] == "branch" for e in events)
    assert _machine_state(s) == after
    s.back()
    s.back()
    events = s.step("rewritten")          # something new: a branch, said so
    assert events[-1] == {"seq": events[-1]["seq"], "kind": "branch", "dropped": 2,
                          "command": "step:rewritten"}
    view = s.history_view(marks=True)
    assert view["position"] == view["length"]
    assert [m["kinds"] for m in view["marks"]][:1] == [["inject"]]


def test_stepping_after_back_reaches_an_injection_that_was_the_last_thing_done():
    s = Session(SUM_ARRAY, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    s.step()
    s.inject("ue", "table+8", 1)          # the newest entry: nothing recorded after it
    after = _machine_state(s)
    s.back()
    s.back()
    s.step()                              # → replays the step ...
    events = s.step()                     # ... and → again the injection, not a branch
    assert [e["kind"] for e in events] == ["inject"]
    assert _machine_state(s) == after
    view = s.history_view()
    assert view["position"] == view["length"]
    more = s.step()                       # nothing ahead now: a new step, nothing dropped
    assert more and not any(e["kind"] == "branch" for e in more)


def test_the_snapshot_names_the_store_worth_showing_after_steps_runs_and_back():
    from app.session import snapshot, validate_snapshot
    s = Session(SUM_ARRAY, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    snap = snapshot(s)
    validate_snapshot(snap)
    run = snap["vms"][0]["last_store"]
    assert run["by"] == "run" and run["size"] == 8
    stored = None
    while stored is None:
        stored = next((w for e in s.step() for w in e["writes"]
                       if e["vm"] == 1 and w["copy"] == 0 and w["va"] is not None), None)
    assert snapshot(s)["vms"][0]["last_store"] == {"va": stored["va"], "size": stored["size"],
                                                   "by": "step"}
    s.inject("ce", "total", 1)            # an injection stores nothing: the store stays
    assert snapshot(s)["vms"][0]["last_store"]["va"] == stored["va"]
    while s.history.position > 1:
        s.back()
    assert snapshot(s)["vms"][0]["last_store"] == run


def test_a_moment_says_which_vm_had_what():
    s = Session(SUM_ARRAY, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    s.inject("ue", "table+8", vm=1)
    s.inject("ue", "table+8", vm=2)
    while s.inspect(2).status == "running":
        s.step()
    marks = s.history_view(marks=True)["marks"]
    assert [m["by_vm"] for m in marks[:2]] == [[{"vm": 1, "kinds": ["inject"]}],
                                               [{"vm": 2, "kinds": ["inject"]}]]
    last = marks[-1]
    assert last["by_vm"] == [{"vm": 1, "kinds": ["mce", "recovered"]},
                             {"vm": 2, "kinds": ["mce", "killed"]}]
    assert last["kinds"] == ["mce", "recovered", "killed"]

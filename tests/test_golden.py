"""The examples and the lessons give the events they gave when tests/golden/traces.json
was recorded (see tests/golden.py): a refactoring that changes what a user sees fails
here, at the first command whose events changed."""

from __future__ import annotations

import json

from tests.golden import GOLDEN, differences, traces


def test_the_examples_and_lessons_give_the_recorded_events():
    assert differences(json.loads(GOLDEN.read_text()), traces()) == []


def test_a_changed_event_is_found_at_its_command():
    recorded = json.loads(GOLDEN.read_text())
    name = sorted(recorded)[0]
    changed = json.loads(json.dumps(recorded))
    changed[name]["entries"][5][1] = "0" * 16
    found = differences(recorded, changed)
    assert len(found) == 1 and found[0].startswith(f"{name}: command 5 ")

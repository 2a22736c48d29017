"""Golden traces: what the examples and the lessons do, step by step, as digests of
their events, so that a change meant to keep behaviour (a refactoring) shows the first
command whose events changed (and every event is validated against its schema).

    python -m tests.golden          # compare with tests/golden/traces.json
    python -m tests.golden --write  # record anew (only when a change of events is meant)

Each trace is a fixed script of commands on a session; each command's events are
written as canonical JSON and digested (SHA-256, 16 hex digits), with a few readable
facts of the end state beside them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from app.contracts import validate_event
from app.lessons import load, new_session, perform, verify
from app.session import Session, example_names, example_source

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden" / "traces.json"


def digest(events) -> str:
    """The events' digest, once each is found to keep its contract."""
    for event in events or ():
        validate_event(event)
    text = json.dumps(events, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _example_script(s: Session) -> list[tuple[str, object]]:
    """Steps, rewritten steps, an uncorrectable error, a run to the end, back and
    forward, a silent error and the rest: every kind of event a session gives."""
    out = []
    for n in range(30):
        out.append((f"step {n}", lambda: s.step()))
    for n in range(3):
        out.append((f"rewritten step {n}", lambda: s.step("rewritten")))
    out.append(("inject ue", lambda: s.inject("ue", "random", 1)))
    out.append(("run", lambda: s.run(max_native=3_000_000)))
    for n in range(3):
        out.append((f"back {n}", lambda: s.back()))
    for n in range(2):
        out.append((f"forward {n}", lambda: s.forward()))
    out.append(("inject silent", lambda: s.inject("silent", "random")))
    out.append(("run again", lambda: s.run(max_native=3_000_000)))
    return out


def _end(s: Session) -> dict:
    return {"result": s.result(), "history": s.history_view()}


def example_trace(name: str, mirror: str) -> dict:
    s = Session(example_source(name), mirror, compare=True)
    entries = [[label, digest(fn())] for label, fn in _example_script(s)]
    return {"entries": entries, "end": json.loads(json.dumps(_end(s)))}


def lesson_trace(path: Path) -> dict:
    lesson = load(str(path))
    s = new_session(lesson)
    entries = []
    for i, step in enumerate(lesson.steps):
        for action in step.actions:
            entries.append([f"step {i}: {action.text}", digest(perform(s, action))])
        for check in step.checks:
            entries.append([f"step {i}: check {check.text}", json.dumps(verify(s, check))])
    return {"entries": entries, "end": json.loads(json.dumps(_end(s)))}


def traces() -> dict[str, dict]:
    out = {}
    for name in example_names():
        for mirror in ("on", "nmr3", "off"):
            out[f"example {name} ({mirror})"] = example_trace(name, mirror)
    for path in sorted((ROOT / "lessons").glob("*.md")):
        out[f"lesson {path.name}"] = lesson_trace(path)
    return out


def differences(recorded: dict, now: dict) -> list[str]:
    """Where `now` departs from `recorded`: the first changed command of each trace."""
    problems = []
    for name in sorted(set(recorded) | set(now)):
        a, b = recorded.get(name), now.get(name)
        if a is None or b is None:
            problems.append(f"{name}: {'new' if a is None else 'gone'}")
            continue
        for i, (x, y) in enumerate(zip(a["entries"], b["entries"], strict=False)):
            if x != y:
                problems.append(f"{name}: command {i} ({x[0]}) gives other events: "
                                f"{x[1]} then, {y[1]} now")
                break
        else:
            if len(a["entries"]) != len(b["entries"]):
                problems.append(f"{name}: {len(a['entries'])} commands then, "
                                f"{len(b['entries'])} now")
            elif a["end"] != b["end"]:
                problems.append(f"{name}: the end state differs: {a['end']} then, "
                                f"{b['end']} now")
    return problems


def main(argv: list[str]) -> int:
    now = traces()
    if "--write" in argv:
        GOLDEN.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"recorded {len(now)} traces in {GOLDEN.relative_to(ROOT)}")
        return 0
    problems = differences(json.loads(GOLDEN.read_text()), now)
    print("\n".join(problems) or f"all {len(now)} traces as recorded")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""A session as a link and as a file: a share opens a copy at the same step (its
recorded future and marks too), an embed only moves along it, a recipe downloaded and
uploaded again rebuilds the session exactly, a trace is the documented events, and
every file or link is bounded and refused with what is wrong."""

from __future__ import annotations

import json

import pytest

from app.session import example_source, validate_event
from app.session.recipe import STEP_COST
from tests.web_helpers import Client, app_for_a_test, make_app

PROGRAM = example_source("sum_array")


@pytest.fixture(scope="module")
def app():
    yield from app_for_a_test()


def recorded(c: Client) -> dict:
    """sum_array stepped 50, a UE in VM 2, a run to the end, back to before the UE."""
    c.ok("load", {"source": PROGRAM, "compare": True})
    for _ in range(50):
        c.ok("step")
    c.ok("inject", {"kind": "ue", "target": "table+8", "vm": 2})
    c.ok("run", {"speed": "max"})
    c.wait(lambda: c.snapshots and c.last.get("stopped"))
    c.ok("seek", {"position": 50})
    return c.wait(lambda: c.snapshots and c.last["history"]["position"] == 50 and c.last)


def same_state(a: dict, b: dict) -> None:
    for key in ("source", "settings", "vms", "memory", "history", "symbols"):
        assert a[key] == b[key], key


def test_a_link_opens_a_copy_at_the_same_step_with_its_future(app):
    owner = Client(app)
    before = recorded(owner)
    ack = owner.ok("share")
    assert ack["link"] == f"/s/{ack['share']}" and ack["embed"] == f"/embed/{ack['share']}"
    guest = Client(app, hello={"share": ack["share"]})
    assert guest.welcome["role"] == "solo" and guest.workspace != owner.workspace
    same_state(before, guest.last)
    assert [m["kinds"] for m in guest.last["history"]["marks"]] == [["inject"],
                                                                    ["mce", "killed", "exit"]]
    # the copy is the guest's own: stepping it leaves the owner's alone
    guest.ok("forward")
    guest.ok("forward")
    killed = guest.wait(lambda: guest.snapshots and guest.last["history"]["position"] == 52
                        and guest.last)
    assert [v["status"] for v in killed["vms"]] == ["exited", "killed"]
    owner.drain()
    owner.ok("step")
    # → replays the owner's own recorded future from 50: the injection and the run
    assert owner.wait(lambda: owner.events)[-1]["history"]["position"] == 52


def test_an_embed_moves_along_the_history_and_changes_nothing(app):
    owner = Client(app)
    recorded(owner)
    key = owner.ok("share")["share"]
    view = Client(app, hello={"share": key, "embed": True})
    assert view.welcome["role"] == "viewer"
    for command, payload in [("step", {}), ("run", {}), ("reset", {}), ("inject", {
            "kind": "ue", "target": "table", "vm": 1}), ("load", {"source": PROGRAM}),
            ("example", {"name": "sum_array"}), ("breakpoint", {"address": 0, "on": True}),
            ("import", {"file": {}})]:
        ack = view.send(command, payload)
        assert not ack["ok"] and "read-only view" in ack["error"]["message"], command
    view.ok("forward")
    view.ok("back")
    view.ok("seek", {"position": 52})
    assert view.wait(lambda: view.snapshots and view.last["history"]["position"] == 52)
    # what was shared is unchanged: a new view starts where the link was made
    again = Client(app, hello={"share": key, "embed": True})
    assert again.last["history"]["position"] == 50
    # a reconnecting view gets its own view back, still read-only
    back = Client(app, hello={"workspace": view.workspace, "share": key, "embed": True})
    assert back.workspace == view.workspace and back.last["history"]["position"] == 52
    assert "read-only" in back.send("step")["error"]["message"]
    # one whose copy the server lost gets a new copy of the share, not the default example
    lost = Client(app, hello={"workspace": "gone-long-ago", "share": key, "embed": True})
    assert lost.welcome["role"] == "viewer" and lost.last["history"]["position"] == 50


def test_a_recipe_downloaded_and_uploaded_rebuilds_the_session_exactly(app):
    owner = Client(app)
    before = recorded(owner)
    doc = owner.ok("export", {"what": "recipe"})["file"]
    assert doc["format"] == "kmemvisor-recipe" and doc["version"] == 1
    other = Client(app)
    other.drain()
    other.ok("import", {"file": json.loads(json.dumps(doc))})
    after = other.wait(lambda: other.snapshots and other.last["source"] == PROGRAM
                       and other.last)
    same_state(before, after)


def test_a_trace_is_every_command_with_its_documented_events(app):
    owner = Client(app)
    recorded(owner)
    doc = owner.ok("export", {"what": "trace"})["file"]
    assert doc["format"] == "kmemvisor-trace" and doc["position"] == 50
    assert len(doc["entries"]) == 52
    for entry in doc["entries"]:
        for event in entry["events"]:
            validate_event(event)
    steps = [entry for entry in doc["entries"] if entry["command"] == "step:native"]
    assert len(steps) == 50 and all(len(entry["events"]) == 2 for entry in steps)  # two VMs
    assert [e["kind"] for e in doc["entries"][50]["events"]] == ["inject"]
    # a trace uploads as its recipe
    other = Client(app)
    other.ok("import", {"file": doc})
    assert other.wait(lambda: other.snapshots and other.last["history"]["position"] == 50)


@pytest.mark.parametrize(("file", "says"), [
    ({"format": "something else"}, "not a recipe this version reads"),
    ({"format": "kmemvisor-recipe", "version": 1, "source": PROGRAM, "mirror": "on",
      "offset": 0x8000000, "compare": True, "history": [["step:native", {"granularity":
                                                                        "sideways"}]],
      "undone": []}, "history/0"),
    ({"format": "kmemvisor-recipe", "version": 1, "source": PROGRAM, "mirror": "on",
      "offset": 0x8000000, "compare": True, "history": [["run", {
          "max_native": 10 ** 9, "breakpoints": [], "watchpoints": []}]], "undone": []},
     "the server replays at most"),
    ({"format": "kmemvisor-recipe", "version": 1, "source": "main: jmp nowhere",
      "mirror": "on", "offset": 0x8000000, "compare": True, "history": [], "undone": []},
     "nowhere"),
    ({"format": "kmemvisor-recipe", "version": 1, "source": PROGRAM, "mirror": "on",
      "offset": 0x8000000, "compare": True, "history": [["inject", {
          "kind": "ue", "target": "no_such_symbol"}]], "undone": []}, "no_such_symbol"),
])
def test_a_bad_upload_is_refused_with_what_and_where_and_changes_nothing(app, file, says):
    c = Client(app)
    before = c.last
    ack = c.send("import", {"file": file})
    assert not ack["ok"] and says in ack["error"]["message"], ack
    c.ok("step")
    assert c.last["source"] == before["source"]
    assert c.wait(lambda: c.events)[-1]["history"]["position"] == 1


def test_links_are_bounded_per_address_and_by_what_they_replay():
    app = make_app(SHARES_PER_HOUR=3, SHARE_NATIVE=40 * STEP_COST)
    d = Client(app)
    for _ in range(50):
        d.ok("step")
    assert "too long to replay" in d.send("share")["error"]["message"]
    c = Client(app)                    # the same address: a refusal above cost nothing
    for _ in range(30):
        c.ok("step")
    made = [c.send("share")["ok"] for _ in range(4)]
    assert made[0] is True and made[-1] is False
    assert "too many links" in c.send("share")["error"]["message"]
    assert "no shared session" in d.send("hello", {"share": "nope"})["error"]["message"]


def test_the_share_pages_are_styled_and_an_unknown_one_is_a_404(app):
    http = app.test_client()
    assert http.get("/s/unknown").status_code == 404
    assert "No such shared session" in http.get("/embed/unknown").get_data(as_text=True)
    c = Client(app)
    key = c.ok("share")["share"]
    page = http.get(f"/embed/{key}")
    assert page.status_code == 200 and "data-embed" in page.get_data(as_text=True)
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    copy = http.get(f"/s/{key}")
    assert "frame-ancestors 'self'" in copy.headers["Content-Security-Policy"]


def test_unused_links_and_sessions_expire_and_an_opened_link_lives_on(tmp_path):
    import sqlite3
    import time

    from app.engine import Engines
    from app.web.persist import Saver
    from app.web.store import Store

    path = str(tmp_path / "old.sqlite3")
    old = sqlite3.connect(path)  # a database written before links remembered an opening
    old.executescript("CREATE TABLE share (id TEXT PRIMARY KEY, recipe TEXT NOT NULL, "
                      "position INTEGER NOT NULL, created REAL NOT NULL);"
                      "INSERT INTO share VALUES ('old', '{}', 0, 1000.0);"
                      "INSERT INTO share VALUES ('used', '{}', 0, 1000.0);"
                      "PRAGMA user_version=2;")
    old.close()
    store = Store(path)
    assert store.share("used") == {}          # opened now: its time starts again
    store.add_share("new", "{}", 0)
    for sid, kind in (("solo-old", "solo"), ("fork-old", "fork"), ("held", "solo"),
                      ("CLASS2", "classroom")):
        store.save_session(sid, kind, json.dumps({"source": ""}), 0, [], False)
    store._write(("UPDATE session SET touched = 1000.0", ()))
    store.save_session("solo-new", "solo", json.dumps({"source": ""}), 0, [], False)
    saver = Saver(store, Engines())
    saver.expire(time.time() - 60, time.time() - 60, keep={"held"})
    saver.flush()
    assert not store.has_share("old") and store.has_share("used") and store.has_share("new")
    assert store.session("solo-old") is None and store.session("fork-old") is None
    assert store.session("held") is not None      # in memory: never under its feet
    assert store.session("CLASS2") is not None    # classrooms end by their own rules
    assert store.session("solo-new") is not None

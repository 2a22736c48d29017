"""Classrooms over Socket.IO: roles enforced by the server, join and leave, late join,
reconnect, fork and follow, the quiz, and a classroom that survives a restart."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.web_helpers import PROGRAM_KEYS, Client, app_for_a_test, make_app

LESSON = "01-why-mirror"


@pytest.fixture
def app():
    yield from app_for_a_test()


def open_class(app, lesson: str = LESSON) -> tuple[str, str]:
    http = app.test_client()
    r = http.post("/classrooms", data={"lesson": lesson, "csrf": csrf_of(http)})
    assert r.status_code == 302
    url = urlparse(r.headers["Location"])
    return url.path.rsplit("/", 1)[1], parse_qs(url.query)["key"][0]


def csrf_of(http) -> str:
    """The form token the lessons page gives this browser (and sets as its cookie)."""
    page = http.get("/lessons").data.decode()
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def teacher(app, code, key) -> Client:
    c = Client(app, hello={"classroom": code, "key": key})
    assert c.welcome["role"] == "instructor"
    return c


def student(app, code, name="Ada", **kw) -> Client:
    c = Client(app, hello={"classroom": code, "name": name, **kw})
    assert c.welcome["role"] == "student"
    return c


def test_a_broken_lesson_is_listed_with_its_problem(tmp_path):
    good = (tmp_path / "01-good.md")
    good.write_text((__import__("pathlib").Path(__file__).parents[1] / "lessons" /
                     "01-why-mirror.md").read_text())
    (tmp_path / "02-bad.md").write_text("---\ntitle: x\ngoals: [a]\nexmple: sum_array\n---\n")
    page = make_app(LESSONS_DIR=str(tmp_path)).test_client().get("/lessons").data.decode()
    assert "Why memory errors matter" in page
    assert "02-bad.md:4: unknown key" in page


def test_pages(app):
    http = app.test_client()
    assert b"Open a classroom" in http.get("/lessons").data
    code, key = open_class(app)
    assert len(code) == 6 and len(key) >= 32
    page = http.get(f"/class/{code}").data
    assert f'data-classroom="{code}"'.encode() in page
    assert http.get(f"/join?code={code.lower()}").status_code == 302
    assert http.get("/join?code=NOPE99").status_code == 404
    assert http.get("/class/NOPE99").status_code == 404
    token = csrf_of(http)
    assert http.post("/classrooms", data={"lesson": "../etc", "csrf": token}).status_code == 404
    assert http.post("/classrooms", data={"lesson": "x" * 5000, "csrf": token}).status_code \
        == 404
    # another site's form: no token, or a foreign Origin
    assert http.post("/classrooms", data={"lesson": LESSON}).status_code == 403
    assert http.post("/classrooms", data={"lesson": LESSON, "csrf": token},
                     headers={"Origin": "http://evil.example"}).status_code == 403


def test_only_the_instructor_changes_the_shared_session(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    s = student(app, code)
    before = s.last["seq"]
    store = app.extensions["kmemvisor.hub"].store
    for name, payload in [("step", {}), ("run", {}), ("inject", {"kind": "ue", "target": "x"}),
                          ("load", {"source": "main: ret"}), ("reset", {}), ("back", {}),
                          ("breakpoint", {"address": 0, "on": True}), ("advance", {}),
                          ("quiz_open", {}), ("goto", {"position": 0})]:
        ack = s.send(name, payload)
        assert ack["ok"] is False and "instructor" in ack["error"]["message"], (name, ack)
    assert len(store.refusals(code)) == 10
    t.ok("step")
    s.wait(lambda: len([e for e in s.events if e["kind"] == "step"]) == 2)
    assert s.events[0]["seq"] > before
    assert s.send("frame", {"frame": 0})["ok"]       # reading is fine
    wrong = make_client_raw(app).emit("hello", {"classroom": code, "key": "guess"},
                                      callback=True)
    assert wrong["ok"] is False


def make_client_raw(app):
    from app.web import socketio_of
    return socketio_of(app).test_client(app)


def test_late_join_reconnect_and_roster(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    for _ in range(7):
        t.ok("step")
    late = student(app, code, "Grace")
    assert late.last["history"]["position"] == 7
    assert "students" not in late.classroom[-1]  # a count is the roster's, kept current
    t.wait(lambda: t.rosters and t.rosters[-1]["names"] == ["Grace"])
    ident = late.welcome["student"]
    late.sio.disconnect()
    t.wait(lambda: t.rosters[-1]["names"] == [])
    t.ok("step")
    back = Client(app, hello={"classroom": code, "student": ident})
    assert back.welcome["name"] == "Grace" and back.welcome["student"] == ident
    assert back.last["history"]["position"] == 8
    t.wait(lambda: t.rosters[-1]["names"] == ["Grace"])


def test_advance_runs_the_lesson_and_checks_with_the_engine(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    s = student(app, code)
    t.ok("advance")
    state = s.wait(lambda: s.classroom and s.classroom[-1]["position"] == 0 and s.classroom[-1])
    assert state["checks"] and all(c["ok"] for c in state["checks"]), state["checks"]
    assert s.wait(lambda: any(e["kind"] == "run" for e in s.events))
    t.ok("goto", {"position": -1})
    s.wait(lambda: s.classroom[-1]["position"] == -1)


def test_quiz_open_answer_tally_reveal(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    a, b = student(app, code, "Ada"), student(app, code, "Bob")
    assert a.send("answer", {"choice": 0})["error"]["message"] == "no quiz is open"
    t.ok("advance")
    t.ok("advance")         # step 2 has the quiz
    t.ok("quiz_open")
    q = a.wait(lambda: a.classroom and a.classroom[-1]["quiz"] and a.classroom[-1]["quiz"])
    assert q["open"] and "answer" not in q and "tally" not in q
    a.ok("answer", {"choice": 0})
    b.ok("answer", {"choice": 2})
    b.ok("answer", {"choice": 1})           # changing one's mind replaces the answer
    assert a.send("answer", {"choice": 9})["ok"] is False
    assert t.send("answer", {"choice": 0})["ok"] is False
    t.wait(lambda: t.rosters and t.rosters[-1]["tally"] == [1, 1, 0])
    a.pump()
    assert a.rosters == []                  # students never see the live tally
    t.ok("quiz_close")
    q = b.wait(lambda: b.classroom[-1]["quiz"] and not b.classroom[-1]["quiz"]["open"]
               and b.classroom[-1]["quiz"])
    assert q["answer"] == 2 and q["tally"] == [1, 1, 0]


def the_fork(app):
    """The one fork a tab is on."""
    hub = app.extensions["kmemvisor.hub"]
    (fork,) = [w for w in hub.workspaces.all() if w.kind == "fork" and w.clients]
    return fork


def test_fork_is_private_and_follow_returns(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    s = student(app, code)
    for _ in range(5):
        t.ok("step")
    s.drain()
    ack = s.ok("fork")
    assert ack["following"] is False
    mine = s.wait(lambda: s.snapshots and s.last)
    assert mine["history"]["position"] == 5
    # drawn from the class's state, as the fork's own engine would draw it
    fork = the_fork(app)
    own = fork.session.snapshot(fork.snapshot_extra(running=False))
    assert s.snapshots[-1] == {**own, **{k: s.programs[-1][k] for k in PROGRAM_KEYS}}
    assert s.programs[-1] == fork.session.program()
    s.ok("step")                                   # the fork is the student's own
    s.ok("inject", {"kind": "ue", "target": "table"})
    t.pump()
    assert not any(e["kind"] == "inject" for e in t.events)
    s.drain()
    t.ok("step")
    s.pump()
    assert s.events == []                          # not following
    t.wait(lambda: t.rosters and t.rosters[-1]["forked"] == ["Ada"])
    s.ok("follow")
    back = s.wait(lambda: s.snapshots and s.last)
    assert back["history"]["position"] == 6
    assert s.send("step")["ok"] is False           # following again: read-only


def test_a_classroom_survives_a_restart(tmp_path):
    db = str(tmp_path / "class.sqlite3")
    first = make_app(DATABASE=db)
    code, key = open_class(first)
    t = teacher(first, code, key)
    s = student(first, code, "Ada")
    for _ in range(12):
        t.ok("step")
    t.ok("inject", {"kind": "ue", "target": "table+8"})
    t.ok("advance")
    before = t.wait(lambda: t.snapshots and t.last)
    second = make_app(DATABASE=db)     # a new server process, the same database
    t2 = teacher(second, code, key)
    after = t2.last
    for k in ("vms", "machine", "memory"):
        assert after[k] == before[k], k
    assert t2.classroom[-1]["position"] == 0
    s2 = Client(second, hello={"classroom": code, "student": s.welcome["student"]})
    assert s2.welcome["name"] == "Ada"


def test_restart_keeps_runs_the_introduction_and_survives_a_changed_lesson(tmp_path):
    import shutil
    from pathlib import Path
    lessons = tmp_path / "lessons"
    lessons.mkdir()
    shutil.copy(Path(__file__).parents[1] / "lessons" / f"{LESSON}.md", lessons)
    db = str(tmp_path / "db.sqlite3")
    first = make_app(DATABASE=db, LESSONS_DIR=str(lessons))
    code, key = open_class(first)
    t = teacher(first, code, key)
    t.ok("run")
    t.wait(lambda: t.snapshots and not t.last["running"] and t.last.get("stopped"))
    second = make_app(DATABASE=db, LESSONS_DIR=str(lessons))
    t2 = teacher(second, code, key)
    assert [v["status"] for v in t2.last["vms"]] == ["exited", "exited"]
    assert t2.classroom[-1]["position"] == -1            # still the introduction
    (lessons / f"{LESSON}.md").unlink()
    third = make_app(DATABASE=db, LESSONS_DIR=str(lessons))
    ack = make_client_raw(third).emit("hello", {"classroom": code, "key": key}, callback=True)
    assert ack["ok"] is False and "no lesson" in ack["error"]["message"]


def test_a_new_fork_leaves_the_old_one_and_a_reopened_quiz_starts_afresh(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    s = student(app, code)
    s.ok("fork")
    s.ok("run", {"speed": 2})                     # a slow run on the first fork
    s.ok("fork")                                  # a second fork: the first one stops
    s.drain()
    import time
    time.sleep(1.2)
    s.pump()
    assert not any(e["kind"] == "step" for e in s.events)
    t.ok("goto", {"position": 1.0})                # whole floats are integers
    t.ok("quiz_open")
    s.ok("answer", {"choice": 0})
    t.ok("quiz_close")
    t.ok("quiz_open")
    t.wait(lambda: t.rosters and t.rosters[-1]["tally"] == [0, 0, 0])


def test_saved_commands_follow_steps_backs_and_reloads(tmp_path):
    db = str(tmp_path / "db.sqlite3")
    app = make_app(DATABASE=db)
    code, key = open_class(app)
    t = teacher(app, code, key)
    for _ in range(6):
        t.ok("step")
    t.ok("back")
    t.ok("back")
    t.ok("step", {"granularity": "rewritten"})     # replaces the two undone entries
    hub = app.extensions["kmemvisor.hub"]
    hub.saver.flush()                              # (the writer thread writes it)
    rows = hub.store.session(code)["recipe"]["history"]
    assert [c for c, _a in rows] == ["step:native"] * 4 + ["step:rewritten"]
    before = t.wait(lambda: t.snapshots and t.last)
    again = teacher(make_app(DATABASE=db), code, key).last
    for k in ("vms", "machine", "memory", "history"):
        assert again[k] == before[k], k
    t.ok("reset")
    hub.saver.flush()
    assert hub.store.session(code)["recipe"]["history"] == []


def test_a_forked_students_checkpoints_describe_the_fork(app):
    code, key = open_class(app)
    t = teacher(app, code, key)
    s = student(app, code)
    assert s.send("checks")["error"]["message"].startswith("you follow the class")
    t.ok("advance")                       # step 0: run to fill; checks "at line 5", PTEs
    s.wait(lambda: s.classroom and s.classroom[-1]["position"] == 0)
    class_checks = s.classroom[-1]["checks"]
    assert [c["text"] for c in class_checks] == [
        "VM 1 is at line 5", "the page of table has a mirror PTE in VM 1",
        "the page of table has no mirror PTE in VM 2"]
    s.ok("fork")
    same = s.ok("checks")
    assert same["position"] == 0 and same["checks"] == class_checks
    s.ok("step")                          # the fork moves on: "at line 5" is no longer true
    mine = s.ok("checks")["checks"]
    assert mine[0]["ok"] is False and mine[0]["seen"].startswith("VM 1 is at line ")
    assert [c["ok"] for c in mine[1:]] == [True, True]
    assert t.classroom[-1]["checks"] == class_checks   # the class's are the class's


def test_an_ipv6_client_is_its_slash_64_for_the_limits_per_address():
    from app.web.security import client_of
    assert client_of("2001:db8:1:2::1") == client_of("2001:db8:1:2:ffff::9") == \
        "2001:db8:1:2::/64" != client_of("2001:db8:1:3::1")
    assert client_of("::ffff:10.0.0.7") == "10.0.0.7" == client_of("10.0.0.7")
    assert client_of("::1") == "::1"
    app = make_app(CLASSROOMS_PER_ADDRESS=1)

    def opened(address: str) -> int:
        http = app.test_client()
        env = {"REMOTE_ADDR": address}
        page = http.get("/lessons", environ_base=env).data.decode()
        token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
        return http.post("/classrooms", data={"lesson": LESSON, "csrf": token},
                         environ_base=env).status_code
    assert opened("2001:db8:1:2::1") == 302
    assert opened("2001:db8:1:2::beef") == 503      # the same /64: the same client
    assert opened("2001:db8:1:3::1") == 302

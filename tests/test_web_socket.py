"""The Socket.IO API, through Flask-SocketIO's test client; every push is validated
against the step-event or snapshot schema as it arrives."""

from __future__ import annotations

import time

import pytest

from app.session import example_source
from tests.web_helpers import Client, app_for_a_test, make_app

PROGRAM = example_source("sum_array")
RUNAWAY = "    .text\n    .globl main\nmain:\n1:  incq %rax\n    movq %rax, x(%rip)\n" \
          "    jmp 1b\n    .data\nx: .quad 0\n"


@pytest.fixture(scope="module")
def app():
    yield from app_for_a_test()


def load(c: Client, source: str = PROGRAM, **kw) -> dict:
    c.drain()
    c.ok("load", {"source": source, **kw})
    return c.wait(lambda: c.snapshots and c.snapshots[-1])


def native_address(snap: dict, text_start: str) -> int:
    return next(g["address"] for g in snap["listing"]
                if g["origin"] == "program" and g["text"].startswith(text_start))


def test_hello_gives_a_snapshot_of_the_default_example(app):
    c = Client(app)
    snap = c.last
    assert snap["source"] == PROGRAM
    assert [v["mode"] for v in snap["vms"]] == ["on", "off"]
    assert snap["history"]["position"] == snap["history"]["length"] == 0
    assert {"total", "table", "runs", "main"} <= set(snap["symbols"])


def test_step_pushes_one_event_per_vm_with_the_history(app):
    c = Client(app)
    c.drain()
    c.ok("step")
    c.wait(lambda: len(c.events) == 2)
    assert [e["vm"] for e in c.events] == [1, 2]
    assert c.events[0]["history"] == {"position": 1, "length": 1, "native": 1,
                                      "start_native": 0, "end_native": 1}
    c.ok("step", {"granularity": "rewritten"})
    c.wait(lambda: len(c.events) == 4)


def test_stepping_into_main_shows_the_entry_mirror_of_the_return_address(app):
    c = Client(app)
    snap = load(c, mirror="on", compare=False)
    call = native_address(snap, "call")
    c.ok("breakpoint", {"address": call, "on": True})
    c.ok("run", {"speed": "max"})
    c.wait(lambda: c.snapshots and c.last.get("stopped") == "break")
    c.drain()
    c.ok("step")
    c.ok("step")  # the callee's first instruction: its group mirrors the return address
    ev = c.wait(lambda: len(c.events) == 2 and c.events[1])
    roles = [m["role"] for m in ev["rewritten"]]
    assert "entry-mirror" in roles
    assert any(w["copy"] == 1 and w["role"] == "entry-mirror" for w in ev["writes"])


def test_back_restores_the_state_exactly(app):
    c = Client(app)
    before = load(c)
    for _ in range(15):
        c.ok("step")
    c.drain()
    for _ in range(15):
        c.ok("back")
    after = c.wait(lambda: len(c.snapshots) == 15 and c.last)
    assert {e["kind"] for e in c.events} == {"back"}
    for key in ("vms", "machine", "memory", "log"):
        assert after[key] == before[key], key
    h = after["history"]
    assert (h["position"], h["length"], h["native"], h["end_native"]) == (0, 15, 0, 15)
    c.ok("seek", {"position": 15})
    c.wait(lambda: c.last["history"]["position"] == 15)
    assert c.last["vms"][0]["counters"]["native_instructions"] == 15 + \
        before["vms"][0]["counters"]["native_instructions"]


def test_run_stops_at_a_breakpoint_then_at_exit(app):
    c = Client(app)
    snap = load(c)
    target = native_address(snap, "movl\t%eax, total") if any(
        g["text"].startswith("movl\t%eax, total") for g in snap["listing"]) else \
        next(g["address"] for g in snap["listing"] if "total" in g["text"])
    c.ok("breakpoint", {"address": target, "on": True})
    assert c.wait(lambda: c.last["breakpoints"] == [target])
    c.drain()
    c.ok("run")
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "break"
    assert [v["native"] for v in end["vms"]] == [target, target]
    assert any(e["kind"] == "run" for e in c.events)
    c.drain()
    c.ok("run")
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "exited"
    assert [v["exit_code"] for v in end["vms"]] == [1240, 1240]


def test_paced_run_streams_traced_steps_and_stops_at_a_watchpoint(app):
    c = Client(app)
    load(c)
    ack = c.ok("watchpoint", {"target": "total", "size": 4, "on": True})
    assert ack["va"] == c.last["symbols"]["total"]
    c.drain()
    c.ok("run", {"speed": 200})
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "watch"
    steps = [e for e in c.events if e["kind"] == "step" and e["vm"] == 1]
    assert len(steps) > 50
    assert any(w["va"] == ack["va"] for w in steps[-1]["writes"])


def test_pause_stops_a_runaway_and_a_budget_ends_it(app):
    c = Client(app)
    load(c, RUNAWAY, compare=False)
    c.drain()
    c.ok("run", {"budget": 100_000_000})  # seconds of running, however fast the machine
    c.wait(lambda: any(e["kind"] == "run" for e in c.events))
    ack = c.send("step")
    assert ack.get("error", {}).get("message", "").startswith("the VMs are running"), ack
    c.ok("pause")
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "paused" and end["vms"][0]["status"] == "running"
    c.drain()
    c.ok("run", {"budget": 5000})
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "limit"


def test_a_slow_paced_run_pauses_at_once_not_a_step_later(app):
    c = Client(app)
    load(c, RUNAWAY, compare=False)
    c.drain()
    c.ok("run", {"speed": 0.5})                  # a step every two seconds
    c.wait(lambda: any(e["kind"] == "step" for e in c.events))
    started = time.monotonic()
    c.ok("pause")
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "paused" and time.monotonic() - started < 1.2


def test_a_long_full_speed_run_sends_snapshots_as_it_goes():
    c = Client(make_app(RUN_SNAPSHOT_EVERY=0.0))   # one after every turn
    load(c, RUNAWAY, compare=False)
    c.drain()
    c.ok("run", {"budget": 20_000})
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    assert end["stopped"] == "limit"
    during = [s for s in c.snapshots[:-1] if s["running"]]
    assert len(during) >= 3   # the run's first snapshot, then turns of 2,000 instructions
    counts = [s["vms"][0]["counters"]["native_instructions"] for s in during]
    assert counts == sorted(counts) and counts[-1] > counts[0]
    assert len({tuple(s["memory"].items()) for s in during}) >= 2   # x keeps changing


def test_ue_recovered_in_the_mirrored_vm_and_fatal_in_the_unmirrored(app):
    c = Client(app)
    load(c)
    for _ in range(40):   # past fill: the table is written
        c.ok("step")
    c.drain()
    c.ok("inject", {"kind": "ue", "target": "table+8", "vm": 1})
    c.ok("inject", {"kind": "ue", "target": "table+8", "vm": 2})
    snap = c.wait(lambda: len(c.snapshots) == 2 and c.last)
    assert len(snap["machine"]["errors"]) == 2
    c.drain()
    c.ok("run")
    end = c.wait(lambda: c.snapshots and not c.last["running"] and c.last)
    kinds = [n["kind"] for n in end["log"]]
    assert "recovered" in kinds and "killed" in kinds
    assert end["vms"][0]["status"] == "exited" and end["vms"][0]["exit_code"] == 1240
    assert end["vms"][1]["status"] == "killed"
    assert end["stopped"] in ("exited", "killed")


def test_bad_input_is_refused_with_a_message_and_changes_nothing(app):
    c = Client(app)
    before = load(c)
    bad = [("step", {"granularity": "sideways"}), ("step", "not an object"),
           ("load", {"source": 5}), ("inject", {"kind": "meteor", "target": "x"}),
           ("breakpoint", {"address": 3, "on": True}), ("seek", {"position": -1}),
           ("watchpoint", {"target": "nosuchsymbol", "on": True}),
           ("inject", {"kind": "ue", "target": "nosuchsymbol"}),
           ("frame", {"frame": 10 ** 9}), ("load", {"source": PROGRAM, "offset": "zz"}),
           ("no-such-command", {})]
    for name, payload in bad:
        ack = c.send(name, payload)
        assert ack["ok"] is False and ack["error"]["message"], (name, ack)
    ack = c.send("load", {"source": "main:\n  movq %rax, (%rbx\n"})
    assert ack["error"]["line"] == 2
    ack = c.send("load", {"source": "main:\n  frobnicate %rax\n  ret\n"})
    assert ack["error"]["line"] == 2 and "frobnicate" in ack["error"]["message"]
    c.pump()
    assert c.last["seq"] == before["seq"] and c.last["source"] == PROGRAM
    c.ok("step")   # still works


def test_a_reconnecting_tab_gets_its_workspace_back_and_tabs_share_it(app):
    first = Client(app)
    load(first)
    for _ in range(5):
        first.ok("step")
    second = Client(app, workspace=first.workspace)
    assert second.workspace == first.workspace
    assert second.last["history"]["position"] == 5
    second.drain()
    first.ok("step")
    second.wait(lambda: len(second.events) == 2)
    stranger = Client(app, workspace="no-such-workspace")
    assert stranger.workspace != first.workspace
    stranger.drain()
    first.ok("step")
    first.wait(lambda: len(first.events) >= 2)
    stranger.pump()
    assert stranger.events == []


def test_nmr3_and_frames_on_request(app):
    c = Client(app)
    snap = load(c, mirror="nmr3", offset="0x8081000", compare=False)
    assert snap["settings"] == {"mirror": "nmr3", "offset": 0x8081000, "compare": False}
    for _ in range(30):
        c.ok("step")
    frame = int(next(iter(c.last["memory"])) if c.last["memory"] else 0)
    ack = c.ok("frame", {"frame": frame})
    assert len(ack["hex"]) == 8192


def test_the_workspace_limit_is_a_clear_refusal():
    app = make_app(MAX_WORKSPACES=1)
    Client(app)
    c2 = __import__("app.web", fromlist=["socketio_of"]).socketio_of(app).test_client(app)
    ack = c2.emit("hello", {}, callback=True)
    assert ack["ok"] is False and "sessions" in ack["error"]["message"]


def test_a_second_hello_leaves_the_old_workspace(app):
    first = Client(app)
    other = Client(app)
    assert other.workspace != first.workspace
    assert other.send("hello", {"workspace": first.workspace})["ok"]
    other.drain()
    first.ok("step")
    other.wait(lambda: len(other.events) == 2)
    mine = Client(app)
    mine.drain()
    other.drain()
    mine.ok("step")          # other left its own first workspace: nothing from it
    other.pump()
    assert other.events == []


def test_extra_arguments_still_get_an_answer(app):
    c = Client(app)
    ack = c.sio.emit("step", {}, "unexpected", callback=True)
    assert ack["ok"] is True


def test_a_crashed_engine_ends_its_session_only_and_it_comes_back_from_the_database(app):
    """Each session is a process of its own: killing one (as an emulator crash would)
    leaves every other session running; its tab is told to reload, and reloading
    rebuilds it from what was saved."""
    import os
    import signal
    victim, bystander = Client(app), Client(app)
    for _ in range(3):
        victim.ok("step")
        bystander.ok("step")
    hub = app.extensions["kmemvisor.hub"]
    engine = hub.workspaces.get(victim.workspace).session
    assert engine.pid != hub.workspaces.get(bystander.workspace).session.pid != os.getpid()
    hub.saver.flush()
    os.kill(engine.pid, signal.SIGKILL)
    ack = victim.send("step")
    assert not ack["ok"] and "reload the page" in ack["error"]["message"]
    bystander.ok("step")
    assert bystander.events[-1]["history"]["position"] == 4
    again = Client(app, workspace=victim.workspace)
    assert again.workspace == victim.workspace
    assert again.last["history"]["position"] == 3
    again.ok("step")
    assert again.events[-1]["history"]["position"] == 4


def test_a_program_is_sent_once_and_snapshots_name_it(app):
    """A snapshot goes to every tab after a seek, a reset or an injection: the listing,
    source and labels travel once per program, before the first snapshot naming it."""
    c = Client(app)
    assert len(c.programs) == 1 and c.programs[0]["id"] == c.snapshots[0]["program"]
    before = c.programs[0]
    for command in ("step", "back", "forward", "reset"):
        c.ok(command)
    c.wait(lambda: len(c.snapshots) >= 4)
    assert len(c.programs) == 1        # the same program: never sent again
    second = Client(app, workspace=c.workspace)   # a tab that joins gets it as it joins
    assert second.programs == [before]
    load(c, RUNAWAY)
    assert len(c.programs) == 2 and c.programs[1]["source"] == RUNAWAY
    assert c.programs[1]["id"] == c.last["program"] != before["id"]
    second.wait(lambda: len(second.programs) == 2)
    # a tab whose snapshot names a program it has not got asks for it
    ack = c.ok("program")
    assert {k: ack[k] for k in ("id", "source", "listing", "symbols")} == \
        {k: c.programs[1][k] for k in ("id", "source", "listing", "symbols")}
    load(c, RUNAWAY, mirror="off")      # the listing is the first VM's: a new program
    assert len(c.programs) == 3 and c.programs[2]["id"] != c.programs[1]["id"]


@pytest.mark.parametrize("speed", ["max", 50])
def test_the_snapshot_a_run_ends_with_is_the_state_after_it(app, speed):
    """The turn that ends a run brings the snapshot after it (no call of its own): a
    tab that joins afterwards is sent the same state."""
    c = Client(app)
    load(c, "    .text\n    .globl main\nmain:\n    movq $5, x(%rip)\n    movq x(%rip), %rax"
            "\n    ret\nnever:\n    nop\n    .data\nx: .quad 0\n")
    never = native_address(c.last, "nop")
    c.ok("breakpoint", {"address": never, "on": True})
    c.ok("run", {"speed": speed})
    c.wait(lambda: c.snapshots and c.last.get("stopped") == "exited")
    ended = {k: v for k, v in c.last.items() if k != "stopped"}
    assert not ended["running"] and ended["breakpoints"] == [never]
    assert [v["status"] for v in ended["vms"]] == ["exited", "exited"]
    assert Client(app, workspace=c.workspace).last == ended


def test_one_connection_holds_one_session_however_often_it_says_hello():
    gen = app_for_a_test(WORKSPACES_PER_ADDRESS=3)
    app = next(gen)
    workspaces = app.extensions["kmemvisor.hub"].workspaces
    c = Client(app)
    again = [c.send("hello", {}) for _ in range(10)]
    assert {a["workspace"] for a in again} == {c.workspace} and len(workspaces) == 1
    gen.close()



def test_the_status_names_the_database_file_only_to_the_machine_itself(app):
    http = app.test_client()
    near = http.get("/status", environ_base={"REMOTE_ADDR": "127.0.0.1"}).get_json()
    far = http.get("/status", environ_base={"REMOTE_ADDR": "10.1.2.3"}).get_json()
    assert near["store"]["path"] == ":memory:" and "path" not in far["store"]
    assert far["store"]["ok"] is True


def test_socket_io_s_own_refusals_say_what_every_response_says(app):
    r = app.test_client().get("/socket.io/?EIO=4&transport=polling")
    assert r.status_code == 400
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"


def test_a_tab_s_command_rate_is_a_setting():
    gen = app_for_a_test(COMMANDS_PER_SECOND=2)
    c = Client(next(gen))
    answers = [c.send("step") for _ in range(6)]   # a burst of twice the rate, then no more
    assert [a["ok"] for a in answers[:3]] == [True] * 3
    assert "too many commands from this tab" in answers[-1]["error"]["message"]
    gen.close()

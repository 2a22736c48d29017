"""The plumbing of the overhead table's timing and of the web-run benchmark, at small
sizes. Nothing here asserts a time: the machine is shared."""

from __future__ import annotations

import pytest

from app.abi import HC_EXIT
from app.bench import overhead, webrun
from app.hypervisor import runner
from app.rewriter.build import build
from tests.conftest import needs_gcc


@needs_gcc
def test_the_boot_ends_just_before_main_and_the_program_runs_on(tmp_path):
    b = build(overhead.compile_workload("cpu_bound", tmp_path), "on", also=("off",))
    for mode in ("off", "on"):
        whole = overhead.counted(b, mode)
        hv, vm = overhead._vm(b, mode)
        overhead.boot(hv, vm)
        assert vm.status == "running" and vm.pages  # the page-table hypercall was served
        runner.run(hv, vm)
        assert (vm.status, vm.exit_code) == ("exited", whole["exit_code"])
        # what the boot ran: five kernel instructions and its hypercall, before the
        # eleven in front of main
        assert whole["native_instructions"] - vm.counters.native_instructions == 5
        hv, vm = overhead._vm(b, mode)
        overhead.boot(hv, vm)
        overhead.to_exit(hv, vm)
        assert vm.status == "running" and vm.cpu.reg("rax") == HC_EXIT
        hv.hypercall(vm)
        assert vm.exit_code == whole["exit_code"]


@needs_gcc
def test_the_overhead_row_has_the_boot_and_the_exit_apart(tmp_path, monkeypatch):
    monkeypatch.setattr(overhead, "REPEATS", 1)
    monkeypatch.setattr(overhead, "MIN_SECONDS", 0)
    row = overhead.measure("cpu_bound", overhead.compile_workload("cpu_bound", tmp_path))
    assert row["timed_runs"] == 1
    for key in ("time_native_s", "time_mirrored_s", "boot_native_s", "boot_mirrored_s",
                "exit_native_s", "exit_mirrored_s", "whole_native_s", "whole_mirrored_s"):
        assert row[key] > 0
    assert row["whole_mirrored_s"] >= row["time_mirrored_s"] + row["boot_mirrored_s"]
    text = overhead.table([row])
    assert all(h in text.splitlines()[0] for h, _, _ in overhead.TIMES)


def test_the_web_run_and_the_cli_run_the_same_instructions():
    result = webrun.measure(budget=30_000, rounds=1,
                            programs={"store loop": webrun.STORE_LOOP})
    assert [(r["mirror"], r["cli"]["stopped"], r["web"]["stopped"])
            for r in result["rows"]] == [("off", "limit", "limit"), ("on", "limit", "limit")]
    for r in result["rows"]:
        assert r["cli"]["native_instructions"] == r["web"]["native_instructions"] >= 30_000
    assert [q["path"] for q in result["ratios"]] == ["cli", "web"]
    # a store and a push in five instructions (the boot, without, is a few more)
    assert abs(result["ratios"][0]["floor"] - 0.4) < 0.001
    assert "web/CLI" in webrun.table(result)


def test_a_load_is_measured_beside_gnu_as(tmp_path):
    """`kmemvisor bench assemble`'s row for one program: the load it times is a real one
    (its instructions counted from the session), cold and warm."""
    from app.bench.assemble import measure
    from app.session import Session, example_source
    text = example_source("sum_array")
    row = measure("sum_array", text, tmp_path)
    assert row["instructions"] == len(Session(text, "on", compare=True).native_addresses())
    assert row["warm_s"] > 0 and row["cold_s"] > 0
    if row["gnu_as_s"] is not None:
        assert row["ratio"] == pytest.approx(row["warm_s"] / row["gnu_as_s"])


def test_a_step_drawn_by_the_page_is_measured_beside_its_bare_round_trip():
    """`kmemvisor bench draw`: a real page in Chromium and a bare Socket.IO client step
    side by side; the page's steps cost more than the bare ones (it draws them)."""
    from app.bench import draw
    from tests.browser_helpers import need_chromium
    need_chromium()
    rows = draw.measure(steps=4)
    assert [r["size"] for r in rows] == ["1366x768", "1920x1080"]
    for r in rows:
        assert r["steps"] == 4 and r["page_p50_ms"] > r["socket_p50_ms"] > 0
    assert "drawing ms" in draw.table(rows)


def test_a_wave_of_forks_is_measured_beside_the_instructor_alone(capsys):
    """`kmemvisor bench forks` on a real server: every student of the wave gets a fork
    and the instructor's steps are timed alone and during it."""
    from app.bench import forks
    assert forks.main(json_output=True, students=2) == 0
    row = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert row["students"] == 2 and row["refused"] == 0
    assert row["alone"]["n"] == 40 and row["during"]["n"] >= 1

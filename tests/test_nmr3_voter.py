"""NMR-3's voter in C (voteread.c) gives exactly what the Python voter gives: the same
votes, repairs, notes, counters and memory, on every bench workload and on the
injection stories, stepping and running."""

from __future__ import annotations

import pytest

from app.bench.overhead import ORDER, compile_workload
from app.hypervisor import Hypervisor, native_counter, runner, voting
from app.rewriter.build import build
from app.session import Session
from tests.conftest import AFTER_FILL, SUM_ARRAY, needs_gcc


@pytest.fixture
def python_voter(monkeypatch):
    """Switch the C voter off (as on a machine without a compiler)."""
    built = native_counter.library

    def without(name: str = "blockcount"):
        return None if name == "voteread" else built(name)
    return lambda: monkeypatch.setattr(voting.nc, "library", without)


def _end(hv, vm) -> tuple:
    return (vm.status, vm.exit_code, vm.counters.to_json(), list(hv.log), bytes(vm.mem.view))


def test_the_c_voter_is_in_use_where_it_can_be_built():
    s = Session(SUM_ARRAY, "nmr3")
    assert native_counter.library("voteread") is None or s.vms[0].voter is not None


@needs_gcc
@pytest.mark.parametrize("name", ORDER)
def test_a_workload_runs_alike_with_either_voter(name, tmp_path, python_voter):
    b = build(compile_workload(name, tmp_path), "nmr3")
    hv = Hypervisor(16 << 20)
    vm = hv.create_vm(b, "nmr3")
    runner.run(hv, vm)
    fast = _end(hv, vm)
    python_voter()
    hv = Hypervisor(16 << 20)
    vm = hv.create_vm(b, "nmr3")
    assert vm.voter is None
    runner.run(hv, vm)
    assert fast[0] == "exited" and _end(hv, vm) == fast


STORIES = [("silent", "table+8", 1), ("silent", "table+8", 2), ("silent", "table", 0),
           ("ue", "table+8", 0), ("ue", "table+8", 1), ("ce", "table+4", 2),
           ("ue", "total", 0), ("dimm", "table", 0)]


def _story(kind: str, target: str, copy: int, steps: int) -> tuple:
    s = Session(SUM_ARRAY, "nmr3")
    s.run(max_native=AFTER_FILL)
    s.inject(kind, target, copy=copy)
    for _ in range(steps):
        s.step()
    s.run()
    vm = s.vms[0]
    return _end(s.hv, vm) + (s.history_view()["position"],)


@pytest.mark.parametrize("kind, target, copy", STORIES)
def test_an_injection_story_goes_alike_with_either_voter(kind, target, copy, python_voter):
    fast = _story(kind, target, copy, steps=25)
    python_voter()
    assert _story(kind, target, copy, steps=25) == fast

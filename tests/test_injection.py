"""Memory errors of every kind against mirrored, unmirrored and NMR-3 VMs."""

from __future__ import annotations

import pytest

from app.examples import source
from app.session import Session
from tests.conftest import run

PROGRAM = source("sum_array")   # fills `table`, sums it, returns the sum (1240)
EXPECTED = 1240
AFTER_FILL = 117                # native instructions: `table` is filled, not yet summed


def test_baseline():
    for mode in ("off", "on", "nmr3"):
        r = run(PROGRAM, mode)
        assert (r["status"], r["exit_code"]) == ("exited", EXPECTED)


@pytest.mark.parametrize("mode", ["off", "on", "nmr3"])
def test_correctable_error_is_corrected_everywhere(mode):
    r = run(PROGRAM, mode, inject=[("ce", "table+8", AFTER_FILL)])
    assert (r["status"], r["exit_code"]) == ("exited", EXPECTED)
    kinds = [e["kind"] for e in r["events"]]
    assert "ce" in kinds and "mce" not in kinds


def test_uncorrectable_error_kills_the_unmirrored_vm():
    r = run(PROGRAM, "off", inject=[("ue", "table+8", AFTER_FILL)])
    assert r["status"] == "killed"
    assert r["exit_code"] is None
    assert "uncorrectable" in r["error"]["message"]
    assert r["error"]["line"] == 19   # `addl table(,%rbx,4), %eax` in sum_array.s
    assert "addl" in r["error"]["message"]
    assert [e["kind"] for e in r["events"]][-2:] == ["mce", "killed"]


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_uncorrectable_error_is_recovered_from_the_mirror(mode):
    r = run(PROGRAM, mode, inject=[("ue", "table+8", AFTER_FILL)])
    assert (r["status"], r["exit_code"]) == ("exited", EXPECTED)
    assert r["mirror_consistent"] is True
    kinds = [e["kind"] for e in r["events"]]
    assert kinds.index("mce") < kinds.index("recovered")
    recovered = next(e for e in r["events"] if e["kind"] == "recovered")
    assert len(recovered["steps"]) == 6
    assert recovered["new_frame"] != recovered["old_frame"]


def test_silent_error_changes_the_unmirrored_result():
    r = run(PROGRAM, "off", inject=[("silent", "table+8", AFTER_FILL)])
    assert r["status"] == "exited"
    assert r["exit_code"] != EXPECTED


def test_silent_error_with_one_mirror_is_detected_not_corrected():
    r = run(PROGRAM, "on", inject=[("silent", "table+8", AFTER_FILL)])
    assert r["status"] == "exited"
    assert r["exit_code"] != EXPECTED          # the program read the flipped value
    assert r["mirror_consistent"] is False     # and the scrub saw the copies differ
    assert any(e["kind"] == "scrub" for e in r["events"])


def test_silent_error_is_outvoted_by_nmr3():
    r = run(PROGRAM, "nmr3", inject=[("silent", "table+8", AFTER_FILL)])
    assert (r["status"], r["exit_code"]) == ("exited", EXPECTED)
    assert r["mirror_consistent"] is True
    votes = [e for e in r["events"] if e["kind"] == "vote"]
    assert votes and votes[0]["outcome"] == "repaired" and votes[0]["copy"] == 0


@pytest.mark.parametrize("copy", [1, 2])
def test_silent_error_in_a_mirror_copy_is_repaired_by_nmr3(copy):
    s = Session(PROGRAM, "nmr3")
    s.run(max_native=AFTER_FILL)
    s.inject("silent", "table+8", copy=copy)
    s.run()
    r = s.result()
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", EXPECTED, True)


@pytest.mark.parametrize("mode,status", [("off", "killed"), ("on", "exited"),
                                         ("nmr3", "exited")])
def test_dimm_failure(mode, status):
    r = run(PROGRAM, mode, inject=[("dimm", "table", AFTER_FILL)])
    assert r["status"] == status
    if status == "exited":
        assert r["exit_code"] == EXPECTED
        assert r["mirror_consistent"] is True


def test_unmirrored_vm_dies_while_the_mirrored_one_runs_on():
    s = Session(PROGRAM, "on", compare=True)
    s.run(max_native=AFTER_FILL)
    mirrored, plain = s.vms
    for vm in s.vms:
        s.inject("ue", "table+8", vm=vm.id)
    s.run()
    assert (mirrored.status, mirrored.exit_code) == ("exited", EXPECTED)
    assert plain.status == "killed"


def test_error_between_native_store_and_mirror_store():
    """A native word fails after its store and before the mirror store: the mirror store
    completes, the next read raises the machine check, the page is rebuilt from the
    mirror (which holds the new value), and the result is right."""
    s = Session(PROGRAM, "on")
    while True:
        ev = s.step("rewritten")[0]
        if ev["writes"] and ev["writes"][0]["role"] == "native" and ev["native"]["origin"] \
                == "program" and ev["writes"][0]["va"] >= s.build.image.symbols["table"] + 8:
            break
    va = ev["writes"][0]["va"]
    s.inject("ue", hex(va))
    nxt = s.step("rewritten")[0]
    assert nxt["writes"][0]["role"] == "mirror"
    s.run()
    r = s.result()
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", EXPECTED, True)
    assert any(e["kind"] == "recovered" for e in s.hv.log)


def test_error_in_the_mirror_copy_is_rebuilt_from_native():
    s = Session(PROGRAM, "on")
    s.run(max_native=AFTER_FILL)
    s.inject("ue", "table+8", copy=1)
    s.run()
    r = s.result()
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", EXPECTED, True)
    rec = next(e for e in s.hv.log if e["kind"] == "recovered")
    assert rec["copy"] == 1


def test_bad_injection_target_is_a_clear_error():
    r = run(PROGRAM, "on", inject=[("ue", "no_such_symbol", 5)])
    assert r["status"] == "error"
    assert "no_such_symbol" in r["error"]["message"]


# `total` and `table` share one 8-byte word: an address names a byte, and `:N` its bit
SHARED_WORD = """
    .data
total: .long 100
table: .long 1
    .text
main:
    movl table(%rip), %eax
    imull $1000, %eax
    addl total(%rip), %eax
    ret
"""
BEFORE_LOADS = 10  # native instructions: the kernel has mapped the program, main not begun


@pytest.mark.parametrize(("target", "exit_code", "bit"), [
    ("table", 0 * 1000 + 100, 32),          # bit 0 of table's first byte, not total's
    ("table:3", 9 * 1000 + 100, 35),
    ("table+1:0", 257 * 1000 + 100, 40),
    ("total:1", 1 * 1000 + 102, 1),
    ("total+4", 0 * 1000 + 100, 32),        # the same byte as `table`
])
def test_a_silent_error_hits_the_byte_and_bit_named(target, exit_code, bit):
    r = run(SHARED_WORD, "off", inject=[("silent", target, BEFORE_LOADS)])
    assert (r["status"], r["exit_code"]) == ("exited", exit_code)
    note = next(e for e in r["events"] if e["kind"] == "inject")
    assert note["bit"] == bit and note["pa"] % 8 == 0


def test_a_frame_target_names_a_byte_too():
    s = Session(SHARED_WORD, "off")
    for _ in range(BEFORE_LOADS):
        s.step()
    page = s.address_of("table") & ~0xFFF
    frame = next(t for t in s.vms[0].pages.items() if t[0] == page)[1].frame
    s.inject("silent", f"frame:{frame:#x}+{s.address_of('table') & 0xFFF:#x}:3")
    assert s.run()[-1]["status"] == "exited"
    assert s.result()["exit_code"] == 9100


def test_an_uncorrectable_error_flips_the_named_bit_and_the_next():
    s = Session(SHARED_WORD, "off")
    for _ in range(BEFORE_LOADS):
        s.step()
    event = s.inject("ue", "table:6")[0]
    note = next(n for n in event["notes"] if n["kind"] == "inject")
    assert note["bit"] == 38
    assert int(note["old"], 16) ^ int(note["new"], 16) == 0b11 << 38


@pytest.mark.parametrize(("target", "says"), [
    ("table:8", "bit 8 is not a bit of a byte"),
    ("dimm:1:3", "a DIMM has no bit"),
    ("frame:0x300+0x1000", "an offset in a frame is 0 to 0xfff"),
])
def test_a_bad_bit_or_offset_is_refused_with_what_is_wrong(target, says):
    r = run(SHARED_WORD, "off", inject=[("silent", target, BEFORE_LOADS)])
    assert r["status"] == "error" and says in r["error"]["message"]


STORES = """\
    .text
    .globl main
main:
    leaq table(%rip), %rdi
    movq $5, (%rdi)
    movq (%rdi), %rax
    ret
    .data
table: .zero 128
"""


def _at_main(mode: str) -> Session:
    s = Session(STORES, mode)
    while s.inspect().line != 4:
        s.step()
    return s


def _step_to_the_store(s: Session) -> list[dict]:
    while s.inspect().line != 5:
        s.step()
    return [w for e in s.step() for w in e["writes"]]


@pytest.mark.parametrize("mode", ["off", "on"])
def test_a_store_beside_a_pending_error_is_shown_once(mode):
    # the frame is out of the CPU's map: the first try of the store stops, the retry
    # makes it (the try's store is not one the step made)
    s = _at_main(mode)
    s.inject("ue", "table+64")
    writes = _step_to_the_store(s)
    table = s.address_of("table")
    natives = [w for w in writes if w["role"] == "native"]
    assert [(w["va"], w["new"]) for w in natives] == [(table, "0500000000000000")]
    assert len(writes) == (2 if mode == "on" else 1)


def test_a_store_that_kills_its_vm_is_not_shown_as_made():
    s = _at_main("off")
    s.inject("ue", "table")
    assert _step_to_the_store(s) == [] and s.inspect().status == "killed"
    s.back()
    assert s.inspect().line == 5 and s.inspect().status == "running"


def test_a_vm_killed_by_a_store_says_the_line_wrote():
    s = _at_main("off")
    s.inject("ue", "table")
    _step_to_the_store(s)
    error = s.result()["error"]
    assert error["message"].endswith("(written by line 5: movq $5, (%rdi))"), error

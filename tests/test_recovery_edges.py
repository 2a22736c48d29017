"""Machine checks at the edges: the whole of an access is checked (an instruction
fetch, a 16-byte read), a failed text page is no lost store, and going back leaves
the voter looking at the errors pending now."""

from __future__ import annotations

import pytest

from app.examples import source
from app.session import Session


@pytest.mark.parametrize("kind", ["ce", "ue"])
def test_an_error_after_going_back_is_met_as_without_going_back(kind):
    # the voter must look at the errors pending now, not at those of before the undo
    src = "main:\n    movl $1, %eax\n    addl x(%rip), %eax\n    addl x(%rip), %eax\n" \
          "    ret\n    .data\nx:  .quad 20\n"

    def story(back: bool):
        s = Session(src, "nmr3")
        s.run(max_native=11)
        if back:
            s.step("native")
            s.back()
        s.inject(kind, "x", copy=1)
        s.run()
        notes = [n["kind"] for n in s.hv.log if n["kind"] in ("ce", "mce", "recovered",
                                                               "vote", "killed")]
        return s.result()["exit_code"], s.result()["mirror_consistent"], notes

    plain = story(False)
    assert plain[:2] == (41, True) and "vote" not in plain[2]
    assert story(True) == plain


@pytest.mark.parametrize("name, code", [("sum_array", 1240), ("calls_and_stack", 628791)])
def test_a_machine_check_fetching_code_is_recovered_from_the_mirror(name, code):
    # the failed word is code the callee's entry sequence runs: fetching it is no loss,
    # and no instruction runs with a corrupted byte (the fetch is checked whole)
    s = Session(source(name), "on")
    s.run(max_native=5)
    s.inject("ue", "main+8")
    s.run()
    r = s.result()
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", code, True)
    assert [n["kind"] for n in s.hv.log if n["kind"] in ("mce", "recovered")] == \
        ["mce", "recovered"]


WIDE = """
main:
    movdqu buf(%rip), %xmm0
    movq %xmm0, %rax
    pextrq $1, %xmm0, %rdx
    addq %rdx, %rax
    ret
    .data
    .p2align 4
buf: .quad 1, 2
"""


@pytest.mark.parametrize("mode, outcome", [("off", ("killed", None)), ("on", ("exited", 3)),
                                           ("nmr3", ("exited", 3))])
def test_a_wide_read_meets_an_error_in_its_second_half(mode, outcome):
    s = Session(WIDE, mode)
    vm = s.vms[0]
    while vm.cpu.reg("rip") != vm.image.symbols["main"]:
        s.step("rewritten")
    s.inject("ue", "buf+8")
    s.run()
    r = s.result()
    assert (r["status"], r["exit_code"]) == outcome
    assert "mce" in [n["kind"] for n in s.hv.log]

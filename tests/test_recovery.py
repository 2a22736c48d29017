"""Recovery at the awkward moments: an error in a voted mirror copy, an error inside an
instruction group (between a native store and its mirror stores), and rep string reads
under NMR-3."""

from __future__ import annotations

import pytest

from app.session import Session
from tests.conftest import AFTER_FILL, SUM_ARRAY, finish, notes_of, run


def _step_to(s: Session, address: int) -> None:
    vm = s.vms[0]
    for _ in range(100_000):
        if vm.cpu.reg("rip") == address:
            return
        s.step("rewritten")
    raise AssertionError(f"never reached {address:#x}")


def _group(s: Session, text: str):
    return next(g for g in s.vms[0].groups if g.origin == "program" and
                g.native_text.startswith(text))


# -- an error in a mirror copy while NMR-3 votes reads of the word

@pytest.mark.parametrize("kind", ["ue", "ce"])
@pytest.mark.parametrize("mode,copy", [("nmr3", 1), ("nmr3", 2), ("on", 1)])
def test_error_in_a_mirror_copy_of_a_voted_word(kind, mode, copy):
    s = Session(SUM_ARRAY, mode)
    s.run(max_native=AFTER_FILL)
    s.inject(kind, "table+8", copy=copy)
    r = finish(s)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", 1240, True)
    vm = s.vms[0]
    if kind == "ue":
        rec = notes_of(s, "recovered")
        assert [n["copy"] for n in rec] == [copy]
        assert vm.counters.corrected_errors == 0
        # the story the page tells counts the copies this mode keeps
        told = {"on": "every store went to both copies",
                "nmr3": "every store went to all three copies"}[mode]
        assert told in rec[0]["steps"]
    else:
        assert not notes_of(s, "mce") and not notes_of(s, "recovered")
        assert len(notes_of(s, "ce")) == 1 and vm.counters.corrected_errors == 1


@pytest.mark.parametrize("kind", ["ue", "ce"])
def test_error_at_a_mirror_address_from_the_command_line(kind):
    r = run(SUM_ARRAY, "nmr3", inject=[(kind, "0x8a00008", AFTER_FILL)])
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", 1240, True)


def test_silent_error_in_a_mirror_copy_then_a_machine_check():
    # a vote that repairs a mirror copy must leave no trace that turns the next real
    # fault into a double fault
    s = Session(SUM_ARRAY, "nmr3")
    s.run(max_native=AFTER_FILL)
    s.inject("silent", "table+8", copy=2)
    s.run(max_native=30)                 # the sum reads table[2]: voted, copy 2 repaired
    assert notes_of(s, "vote")
    s.inject("ue", "total", copy=2)      # met by the mirror store of the sum
    r = finish(s)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", 1240, True)
    assert [n["copy"] for n in notes_of(s, "recovered")] == [2]


# -- an error inside an instruction group

RMW = """
    .text
    .globl main
main:
    movl $3, %ecx
    nop
    {op} counter(%rip)
    nop
    movl counter(%rip), %eax
    ret
    .data
    .zero {pad}
counter: .quad 0x12345678fffffff0
"""
RMW_OPS = ["addl $10,", "incl", "negl", "xorl $0x55,", "shll $3,", "addq $77,"]


def _window_cases(src: str, mode: str, offset: int, text: str):
    """(position, copy) for every rewritten instruction after the native one in the
    group of `text`, and every copy of the machine."""
    s = Session(src, mode, offset)
    g = _group(s, text)
    native = next(i for i, m in enumerate(g.members) if m.role == "native")
    copies = s.vms[0].copies
    return [(m.address, k) for m in g.members[native + 1:] for k in range(copies + 1)]


def _inject_in_window(src, mode, offset, position, k, target):
    s = Session(src, mode, offset)
    _step_to(s, position)
    s.inject("ue", target, copy=k)
    return s, finish(s)


@pytest.mark.parametrize("op", RMW_OPS)
@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_read_modify_write_with_an_error_inside_its_group(op, mode):
    src = RMW.format(op=op, pad=0)
    expected = run(src, "off")["exit_code"]
    cases = _window_cases(src, mode, 0x8000000, op.split()[0])
    assert len(cases) == {"on": 2, "nmr3": 6}[mode]
    for position, k in cases:
        s, r = _inject_in_window(src, mode, 0x8000000, position, k, "counter")
        assert (r["status"], r["exit_code"], r["mirror_consistent"]) == (
            "exited", expected, True), (position, k)
        assert notes_of(s, "recovered")
        assert not notes_of(s, "vote"), (position, k)   # no copy was left behind


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_read_modify_write_through_scratch_registers(mode):
    # an offset beyond a 32-bit displacement: lea + movabs + the store on (base,index)
    src = RMW.format(op="addl $10,", pad=0)
    expected = run(src, "off")["exit_code"]
    offset = 1 << 32
    s = Session(src, mode, offset)
    texts = [m.text for m in _group(s, "addl").members]
    assert any(t.startswith("movabs") for t in texts), texts
    for position, k in _window_cases(src, mode, offset, "addl"):
        s, r = _inject_in_window(src, mode, offset, position, k, "counter")
        assert (r["status"], r["exit_code"], r["mirror_consistent"]) == (
            "exited", expected, True), (position, k, texts)
        assert not notes_of(s, "vote"), (position, k, texts)


@pytest.mark.parametrize("word", ["counter", "counter+4"])
def test_read_modify_write_across_a_page_boundary(word):
    src = RMW.format(op="addq $77,", pad=4092)   # counter spans two pages
    expected = run(src, "off")["exit_code"]
    for position, k in _window_cases(src, "on", 0x8000000, "addq"):
        s, r = _inject_in_window(src, "on", 0x8000000, position, k, word)
        assert (r["status"], r["exit_code"], r["mirror_consistent"]) == (
            "exited", expected, True), (position, k)


COPY_CLASS = """
    .text
    .globl main
main:
    movl $5, %eax
    nop
    xaddl %eax, counter(%rip)
    nop
    movl counter(%rip), %eax
    ret
    .data
counter: .long 100
"""


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_error_in_the_native_copy_before_a_copy_mirror_reads_it(mode):
    """xadd is mirrored by copying its memory result from the native copy: a ue on that
    word after the native store leaves no copy holding the new value. The VM is killed
    with a report rather than run on with the old value."""
    s = Session(COPY_CLASS, mode)
    g = _group(s, "xaddl")
    native = next(i for i, m in enumerate(g.members) if m.role == "native")
    _step_to(s, g.members[native + 1].address)
    s.inject("ue", "counter")
    r = finish(s)
    assert r["status"] == "killed"
    assert "only in the native copy" in r["error"]["message"]
    assert r["error"]["line"] == 7


@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_copy_mirror_with_an_error_in_a_mirror_copy(mode):
    s = Session(COPY_CLASS, mode)
    expected = run(COPY_CLASS, "off")["exit_code"]
    for position, k in _window_cases(COPY_CLASS, mode, s.offset, "xaddl"):
        if k == 0:
            continue
        s, r = _inject_in_window(COPY_CLASS, mode, s.offset, position, k, "counter")
        assert (r["status"], r["exit_code"], r["mirror_consistent"]) == (
            "exited", expected, True), (position, k)


STOS = """
    .text
    .globl main
main:
    leaq buf(%rip), %rdi
    movl $0x41, %eax
    movl $200, %ecx
    {std}
    rep stosb
    cld
    movzbl buf+199(%rip), %eax
    addb buf(%rip), %al
    addb buf+130(%rip), %al
    addb buf+200(%rip), %al
    ret
    .data
    .zero 4000
buf: .ascii "0123456789"
    .zero 400
"""
# a copy down onto itself (source above the destination, overlapping): each element
# reads a byte that a later element overwrites
MOVS = """
    .text
    .globl main
main:
    leaq buf+100(%rip), %rsi
    leaq buf(%rip), %rdi
    movl $150, %ecx
    rep movsb
    movzbl buf+20(%rip), %eax
    movzbl buf+45(%rip), %edx
    shll $8, %edx
    addl %edx, %eax
    movzbl buf+140(%rip), %edx
    shll $16, %edx
    addl %edx, %eax
    ret
    .data
    .zero 4000
buf: .byte """ + ", ".join(str(i * 7 % 251) for i in range(260)) + "\n"


def _string_case(kind: str, backwards: bool = False) -> str:
    if kind == "movs":
        return MOVS
    return STOS.format(std="std\n    leaq 199(%rdi), %rdi" if backwards else "")


@pytest.mark.parametrize("case,elements,target", [
    ("stos", 150, "buf+160"), ("stos-backwards", 150, "buf+8"), ("movs", 10, "buf+40")])
@pytest.mark.parametrize("mode", ["on", "nmr3"])
def test_error_in_the_native_copy_during_a_rep_store(mode, case, elements, target):
    """The native rep instruction has stored part of a page when a ue strikes ahead of
    it: the page rebuilt from the mirror lacks that part, so the instance starts over."""
    src = _string_case(case[:4], case.endswith("backwards"))
    expected = run(src, "off")["exit_code"]
    s = Session(src, mode)
    text = f"rep {case[:4]}b"
    rep = next(m for m in _group(s, text).members if m.role == "native")
    _step_to(s, rep.address)
    for _ in range(elements):
        s.step("rewritten")
    s.inject("ue", target)
    r = finish(s)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == (
        "exited", expected, True)
    assert [n["copy"] for n in notes_of(s, "recovered")] == [0]
    assert not notes_of(s, "vote")


@pytest.mark.parametrize("kind,target", [("stos", "buf+160"), ("movs", "buf+120")])
@pytest.mark.parametrize("mode,copy", [("on", 1), ("nmr3", 1), ("nmr3", 2)])
def test_error_in_a_mirror_copy_during_its_rep_store(kind, target, mode, copy):
    """Copy k's rep instruction is part-way when a ue strikes ahead of it in copy k:
    the page is rebuilt from the native copy, which holds the whole result already."""
    src = _string_case(kind)
    expected = run(src, "off")["exit_code"]
    s = Session(src, mode)
    text = f"rep {kind}b"
    reps = [m for m in _group(s, text).members if m.text == text]
    _step_to(s, reps[copy].address)    # reps[0] is the native one
    for _ in range(10):
        s.step("rewritten")
    s.inject("ue", target, copy=copy)
    r = finish(s)
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", expected, True)
    assert [n["copy"] for n in notes_of(s, "recovered")] == [copy]
    assert not notes_of(s, "vote")


def test_error_in_the_native_stack_before_the_return_address_is_mirrored():
    src = """
    .text
    .globl main
f:  movl $7, %eax
    ret
main:
    call f
    ret
"""
    s = Session(src, "on")
    g = _group(s, "movl $7")
    _step_to(s, g.start)                 # the call has run, the entry mirror has not
    assert g.members[0].role == "entry-mirror"
    s.inject("ue", hex(s.vms[0].cpu.reg("rsp")))
    r = finish(s)
    assert r["status"] == "killed"
    assert "only in the native copy" in r["error"]["message"]


# -- NMR-3 votes what rep string instructions read

REP_READS = {
    "cmps": ("leaq a(%rip), %rsi\n leaq b(%rip), %rdi\n movl $8, %ecx\n repe cmpsb\n"
             " setne %al\n movzbl %al, %eax", 0),
    "scas": ("leaq a(%rip), %rdi\n movb $0x61, %al\n movl $8, %ecx\n repne scasb\n"
             " movl %ecx, %eax", 0),
    "lods": ("leaq a+7(%rip), %rsi\n movl $8, %ecx\n std\n rep lodsb\n cld\n"
             " movzbl %al, %eax", 0),
    "movs": ("leaq a(%rip), %rsi\n leaq c(%rip), %rdi\n movl $8, %ecx\n rep movsb\n"
             " movzbl c(%rip), %eax\n movzbl c+7(%rip), %edx\n addl %edx, %eax", 0),
}


@pytest.mark.parametrize("name", sorted(REP_READS))
def test_rep_string_reads_are_voted(name):
    body, byte = REP_READS[name]
    src = (f"    .text\n    .globl main\nmain:\n nop\n nop\n {body}\n ret\n    .data\n"
           "a: .ascii \"abcdefgh\"\nb: .ascii \"abcdefgh\"\nc: .zero 8\n")
    expected = run(src, "off")["exit_code"]
    r = run(src, "nmr3", inject=[("silent", f"a+{byte}", 8)])
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", expected, True)
    # voted where the rep instruction read it, not later where its result was read
    a = Session(src, "nmr3").build.image.symbols["a"]
    assert [(e["va"], e["copy"]) for e in r["events"] if e["kind"] == "vote"] == [(a, 0)]
    assert run(src, "off", inject=[("silent", f"a+{byte}", 8)])["exit_code"] != expected


OVERLAP = """
    .text
    .globl main
main:
    nop
    nop
    leaq buf(%rip), %rsi
    leaq {gap}(%rsi), %rdi
    movl $40, %ecx
    rep movsb
    movzbl buf+43(%rip), %eax
    movzbl buf+20(%rip), %edx
    shll $8, %edx
    addl %edx, %eax
    movzbl buf+2(%rip), %edx
    shll $16, %edx
    addl %edx, %eax
    ret
    .data
buf: .ascii "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
"""


@pytest.mark.parametrize("gap", [1, 3, 12])
def test_overlapping_rep_movs_reads_what_it_wrote_without_a_vote(gap):
    src = OVERLAP.format(gap=gap)
    expected = run(src, "off")["exit_code"]
    clean = run(src, "nmr3")
    assert (clean["exit_code"], clean["mirror_consistent"]) == (expected, True)
    assert not any(e["kind"] == "vote" for e in clean["events"])
    r = run(src, "nmr3", inject=[("silent", "buf", 8)])
    assert (r["status"], r["exit_code"], r["mirror_consistent"]) == ("exited", expected, True)
    assert [e["copy"] for e in r["events"] if e["kind"] == "vote"] == [0]

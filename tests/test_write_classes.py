"""Every class of memory write, checked against ground truth.

For each snippet: the unmirrored run, traced by Unicorn's own write hook, says which
instructions write memory; the classifier must agree. Then the mirrored (and NMR-3)
runs must end with every mirror equal to its native page and the same result.
"""

from __future__ import annotations

import pytest

from app.session import Session

PROLOGUE = """
    .text
    .globl main
main:
    pushq %rbx
    pushq %rbp
    pushq %r12
    pushq %r14
    pushq %r15
    movq %rsp, %r15
    movq %rbp, %r14
    leaq buf+256(%rip), %rdi
    leaq buf+1024(%rip), %rsi
    leaq buf+2048(%rip), %rbx
    leaq buf+3072(%rip), %rbp
    movl $3, %ecx
    movl $0x11223344, %eax
    movl $7, %edx
    movq $0x55, %r8
    fld1
    fldpi
"""
EPILOGUE = """
    cld
    movq %r15, %rsp
    movq %r14, %rbp
    xorl %edx, %edx
    addl buf+256(%rip), %eax
    popq %r15
    popq %r14
    popq %r12
    popq %rbp
    popq %rbx
    ret
f:  ret
    .bss
    .p2align 6
buf: .zero 4096
"""

SNIPPETS = [
    # explicit stores
    "movb $1, (%rdi)", "movw $2, 2(%rdi)", "movl $3, 4(%rdi)", "movq $-4, 8(%rdi)",
    "movl %eax, buf+16(%rip)", "movq %rax, (%rdi,%rcx,8)", "movabsq $0x1122334455667788, %r9\n"
    "    movq %r9, 24(%rdi)", "movl %eax, buf+32", "sete (%rdi)", "setne 1(%rdi)",
    "movbe %eax, (%rdi)", "movnti %eax, (%rdi)", "movnti %rax, 8(%rdi)",
    # SSE stores
    "movaps %xmm0, (%rbx)", "movups %xmm0, 1(%rdi)", "movdqa %xmm0, (%rbx)",
    "movdqu %xmm0, 3(%rdi)", "movq %xmm0, (%rdi)", "movd %xmm0, (%rdi)", "movss %xmm0, (%rdi)",
    "movsd %xmm0, (%rdi)", "movhps %xmm0, (%rdi)", "movlps %xmm0, (%rdi)",
    "pextrb $1, %xmm0, (%rdi)", "pextrw $1, %xmm0, (%rdi)", "pextrd $1, %xmm0, (%rdi)",
    "pextrq $1, %xmm0, (%rdi)", "extractps $1, %xmm0, (%rdi)", "movntdq %xmm0, (%rbx)",
    "stmxcsr (%rdi)", "fnstcw (%rdi)", "fnstsw (%rdi)", "fxsave (%rbx)",
    # x87 stores
    "fstps (%rdi)", "fstpl (%rdi)", "fstpt (%rdi)", "fsts (%rdi)", "fstl (%rdi)",
    "fistl (%rdi)", "fistpl (%rdi)", "fistpll (%rdi)", "fisttpl (%rdi)",
    # read-modify-write
    "addl $5, (%rdi)", "subq %rax, 8(%rdi)", "andb $0x0f, (%rdi)", "orw $0x100, 2(%rdi)",
    "xorl %eax, (%rdi)", "incl (%rdi)", "decq 8(%rdi)", "negl (%rdi)", "notq (%rdi)",
    "shll $3, (%rdi)", "shrl %cl, (%rdi)", "sarl (%rdi)", "roll $5, (%rdi)", "rorq %cl, (%rdi)",
    "stc\n    rcll $1, (%rdi)", "stc\n    rcrl %cl, (%rdi)", "stc\n    adcl $1, (%rdi)",
    "stc\n    sbbq %rax, (%rdi)", "shldl $4, %eax, (%rdi)", "shrdl %cl, %eax, (%rdi)",
    "btsl $3, (%rdi)", "btrl %ecx, (%rdi)", "btcq $63, (%rdi)", "btsl %r8d, (%rdi)",
    "lock addl $1, (%rdi)", "lock incq (%rdi)", "lock orl %eax, (%rdi)",
    # atomics: the memory result is copied
    "xchgl %eax, (%rdi)", "xchgq (%rdi), %rax", "xaddl %eax, (%rdi)", "lock xaddq %rax, (%rdi)",
    "cmpxchgl %edx, (%rdi)", "movl (%rdi), %eax\n    cmpxchgl %edx, (%rdi)",
    "lock cmpxchgq %rdx, 8(%rdi)", "cmpxchg8b (%rdi)", "cmpxchg16b (%rbx)",
    "xchgq %rdi, (%rdi)", "movq %rdi, (%rdi)\n    xchgq %rdi, (%rdi)",
    # string operations
    "stosb", "stosw", "stosl", "stosq", "rep stosb", "rep stosq", "movsb", "movsl", "movsq",
    "rep movsb", "rep movsq", "std\n    rep stosl", "std\n    rep movsb", "xorl %ecx, %ecx\n"
    "    rep stosq",
    # implicit stores
    "pushq %rax\n    popq %rax", "pushq $-7\n    popq %r9", "pushq (%rdi)\n    popq %r9",
    "pushq %rsp\n    popq %r9", "pushfq\n    popfq", "pushq $9\n    popq 8(%rdi)",
    "pushq $9\n    popq (%rsp)\n    popq %r9", "call f", "enter $16, $0\n    leave",
    "pushw $5\n    popw %r9w",
    # no writes at all
    "movl (%rdi), %r9d", "addl (%rdi), %r9d", "cmpl $1, (%rdi)", "testb $1, (%rdi)",
    "btl $2, (%rdi)", "lodsb", "scasb", "cmpsb", "rep cmpsb", "leaq 8(%rdi), %r9",
    "prefetcht0 (%rdi)", "fxrstor (%rbx)", "ldmxcsr buf+256(%rip)",
]


def _snippet_groups(session: Session, mode: str):
    """Step the VM, yielding each program event of the snippet (between prologue and
    epilogue markers)."""
    events = []
    while True:
        evs = session.step()
        if not evs:
            break
        events += evs
    return events


def _body_events(events, snippet: str):
    body = {line.strip() for line in snippet.split("\n")}
    out = []
    for e in events:
        n = e.get("native")
        if n and n["origin"] == "program" and " ".join(n["text"].split()) in {
                " ".join(b.split()) for b in body}:
            out.append(e)
    return out


@pytest.mark.parametrize("snippet", SNIPPETS)
def test_classification_matches_unicorn_and_mirror_holds(snippet):
    src = PROLOGUE + "    " + snippet + "\n" + EPILOGUE
    native = Session(src, "off")
    events = _body_events(_snippet_groups(native, "off"), snippet)
    assert events, "snippet did not run"
    for e in events:
        wrote = any(w["copy"] == 0 and w["owner"] == "native" for w in e["writes"])
        cls = e["native"]["class"]
        text = e["native"]["text"]
        may_skip = text.startswith("rep")  # a rep with %rcx == 0 writes nothing
        assert wrote == (cls != "none") or (may_skip and not wrote), \
            f"{text}: class {cls}, wrote {wrote}"
    expected = native.result()
    assert expected["status"] == "exited"
    for mode in ("on", "nmr3"):
        mirrored = Session(src, mode)
        mirrored.run()
        result = mirrored.result()
        assert result["status"] == "exited", result
        assert result["exit_code"] == expected["exit_code"]
        assert result["mirror_consistent"] is True, mirrored.vms[0].mirror_mismatches()


@pytest.mark.parametrize("snippet,reason", [
    ("vmovdqu %ymm0, (%rdi)", "AVX"),
    ("enter $16, $1", "nesting"),
    ("movl %eax, %fs:8", "thread-local"),
    ("maskmovdqu %xmm1, %xmm0", "masked"),
])
def test_unmirrorable_writes_are_refused(snippet, reason):
    from app.asm.errors import AsmError
    from app.rewriter.build import build
    with pytest.raises(AsmError, match=reason) as err:
        build(PROLOGUE + "    " + snippet + "\n" + EPILOGUE)
    assert err.value.line == PROLOGUE.count("\n") + 1

"""Property: for random programs with stores of every class, loops and calls, the
mirrored and NMR-3 runs compute what the plain run computes and end consistent."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import run

OFF = st.integers(0, 30).map(lambda k: 8 * k)
IMM = st.integers(-(1 << 31), (1 << 31) - 1)
SMALL = st.integers(0, 255)

STORE = st.one_of(
    st.builds("movq ${}, {}(%rdi)".format, IMM, OFF),
    st.builds("movl ${}, {}(%rdi)".format, IMM, OFF),
    st.builds("movw ${}, {}(%rdi)".format, SMALL, OFF),
    st.builds("movb ${}, {}(%rdi)".format, SMALL, OFF),
    st.builds("movq %rax, {}(%rdi)".format, OFF),
    st.builds("addl ${}, {}(%rdi)".format, IMM, OFF),
    st.builds("xorq %rax, {}(%rdi)".format, OFF),
    st.builds("incl {}(%rdi)".format, OFF),
    st.builds("negq {}(%rdi)".format, OFF),
    st.builds("notb {}(%rdi)".format, OFF),
    st.builds("shlq ${}, {}(%rdi)".format, st.integers(0, 63), OFF),
    st.builds("stc\n    adcl ${}, {}(%rdi)".format, SMALL, OFF),
    st.builds("pushq ${}\n    popq {}(%rdi)".format, IMM, OFF),
    st.builds("xchgq %rax, {}(%rdi)".format, OFF),
    st.builds("cmpxchgq %rdx, {}(%rdi)".format, OFF),
    st.builds("cmpq ${}, %rax\n    setl {}(%rdi)".format, IMM, OFF),
    st.builds("movq {}(%rdi), %rax".format, OFF),
    st.builds("addq {}(%rdi), %rdx".format, OFF),
    st.builds("imulq $7, %rax, %rax\n    addq ${}, %rax".format, IMM),
    st.builds("pushq %rdi\n    leaq buf+{}(%rip), %rdi\n    movl ${}, %ecx\n"
              "    rep stosb\n    popq %rdi".format, OFF, st.integers(0, 8)),
    st.builds("pushq %rsi\n    pushq %rdi\n    leaq buf+{}(%rip), %rsi\n"
              "    leaq buf+{}(%rip), %rdi\n    movl $8, %ecx\n    rep movsb\n"
              "    popq %rdi\n    popq %rsi".format, OFF, OFF),
)
BODY = st.lists(STORE, min_size=1, max_size=6).map("\n    ".join)
BLOCK = st.one_of(
    BODY,
    st.builds("movl ${}, %ecx\n1:\n    pushq %rcx\n    {}\n    popq %rcx\n    decl %ecx\n"
              "    jnz 1b".format, st.integers(1, 5), BODY),
    st.integers(0, 2).map("call helper{}".format),
    st.integers(0, 2).map("leaq helper{}(%rip), %rcx\n    call *%rcx".format),
)


def _program(main_blocks, helpers) -> str:
    out = ["    .text", "    .globl main", "main:", "    pushq %rbx",
           "    leaq buf(%rip), %rdi", "    movq $0x1234567, %rax", "    movl $5, %edx",
           # live through the whole program: a scratch register taken from here shows
           "    movq $0x1111, %r8", "    movq $0x2222, %r9", "    movq $0x3333, %r10",
           "    movq $0x4444, %r11"]
    out += ["    " + b for b in main_blocks]
    out += ["    leaq buf(%rip), %rdi", "    xorl %eax, %eax", "    movl $32, %ecx",
            "2:  imulq $31, %rax, %rax", "    addq (%rdi), %rax", "    addq $8, %rdi",
            "    decl %ecx", "    jnz 2b", "    addq %r8, %rax", "    addq %r9, %rax",
            "    imulq %r10, %rax", "    xorq %r11, %rax",
            "    movq %rax, %rdx", "    shrq $32, %rdx",
            "    xorl %edx, %eax", "    popq %rbx", "    ret"]
    for i, body in enumerate(helpers):
        out += [f"helper{i}:", "    pushq %rbx", "    " + body, "    popq %rbx", "    ret"]
    out += ["    .bss", "    .p2align 4", "buf: .zero 256"]
    return "\n".join(out) + "\n"


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(BLOCK, min_size=1, max_size=5), st.lists(BODY, min_size=3, max_size=3))
def test_random_programs_mirror_exactly(blocks, helpers):
    src = _program(blocks, helpers)
    plain = run(src, "off")
    assert plain["status"] == "exited", (plain["error"], src)
    for mode in ("on", "nmr3"):
        r = run(src, mode)
        assert r["status"] == "exited", (r["error"], src)
        assert r["exit_code"] == plain["exit_code"], src
        assert r["mirror_consistent"] is True, src

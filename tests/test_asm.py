"""The assembly front end: GNU-as syntax, decimal stays decimal, errors name the line."""

from __future__ import annotations

import pytest

from app.asm import AsmError, assemble, parse
from app.asm.decoder import OP_IMM, OP_MEM, decoder, first
from app.rewriter.build import build


def _decode(img, index=0):
    p = img.insns[index]
    return first(p.encoding, p.address)


def test_decimal_displacement_stays_decimal():
    img = assemble(parse("main:\n movq $4, 144(%rdi)\n"))
    insn = _decode(img)
    mem = next(op for op in insn.operands if op.type == OP_MEM)
    imm = next(op for op in insn.operands if op.type == OP_IMM)
    assert mem.mem.disp == 144
    assert imm.imm == 4


@pytest.mark.parametrize("text,disp,imm", [
    ("movl $-16, -8(%rbp)", -8, -16),
    ("addq $100, 1000(%rsp)", 1000, 100),
    ("movb $0x7f, 0x10(%rax)", 16, 127),
    ("movl $010, 010(%rbx)", 8, 8),            # leading zero: octal, as in GNU as
    ("movw $'A', 2*3+1(%rcx)", 7, 65),
])
def test_numbers_round_trip_through_capstone(text, disp, imm):
    insn = _decode(assemble(parse(f"main:\n {text}\n")))
    mem = next(op for op in insn.operands if op.type == OP_MEM)
    got = next(op for op in insn.operands if op.type == OP_IMM)
    assert mem.mem.disp == disp
    assert got.imm & 0xFFFF == imm & 0xFFFF


def test_sections_labels_and_data():
    src = """
        .file "x.c"
        .text
        .globl main
        .type main, @function
    main:
        leaq msg(%rip), %rax
        movl $big, %ecx
    1:  decl %ecx
        jne 1b
        jmp 2f
    2:  ret
        .size main, .-main
        .section .rodata.str1.1,"aMS",@progbits,1
    msg: .string "a\\tb"
        .section .data.rel.local,"aw"
        .p2align 3
    ptrs: .quad main, msg+1
        .byte 1, -1, 'z'
        .value 513
        .long 70000
        .local big
        .comm big,100,32
        .section .note.GNU-stack,"",@progbits
        .ident "GCC"
    """
    img = assemble(parse(src))
    rodata = bytes(img.sections["rodata"].data)
    data = bytes(img.sections["data"].data)
    assert rodata == b"a\tb\0"
    assert int.from_bytes(data[0:8], "little") == img.symbols["main"]
    assert int.from_bytes(data[8:16], "little") == img.symbols["msg"] + 1
    assert data[16:19] == bytes([1, 255, ord("z")])
    assert int.from_bytes(data[19:21], "little") == 513
    assert int.from_bytes(data[21:25], "little") == 70000
    assert img.symbols["big"] % 32 == 0
    lea = _decode(img, 0)
    mem = next(op for op in lea.operands if op.type == OP_MEM)
    target = lea.address + lea.size + mem.mem.disp
    assert target == img.symbols["msg"]


@pytest.mark.parametrize("pad", range(1, 16))
def test_code_alignment_pads_with_long_nops(pad):
    # as the GNU assembler does: the padding runs as one or two instructions
    src = (f"main:\n .zero {16 - pad}\n .p2align 4\nloop: ret\n"
           " .data\n .byte 1\n .p2align 4\n .byte 2\n")
    img = assemble(parse(src))
    text = bytes(img.sections["text"].data)
    assert img.symbols["loop"] == img.symbols["main"] + 16
    nops = list(decoder().disasm(text[16 - pad:16], 0))
    assert [i.mnemonic for i in nops] == ["nop"] * len(nops)
    assert sum(i.size for i in nops) == pad and len(nops) == (1 if pad <= 9 else 2)
    assert bytes(img.sections["data"].data) == b"\x01" + bytes(15) + b"\x02"  # data: zeros


def test_text_startup_section_is_code():
    img = assemble(parse('.section .text.startup,"ax",@progbits\nmain:\n ret\n'))
    assert img.insns[0].address == img.symbols["main"]


@pytest.mark.parametrize("src,line,words", [
    ("main:\n  nop\n  frobnicate %rax\n", 3, "frobnicate"),
    ("main:\n  movl %eax,\n", 2, "operand"),
    ("main:\n  call nowhere\n", 2, "nowhere"),
    ("main:\n  ret\n  .macro foo\n", 3, ".macro"),
    ("main:\n  movl %eax, (%eax)\n", 2, "64-bit"),
    ("main:\n  movl %eax, 4(%rip,%rax,2)\n", 2, "index"),
    ("main:\n  movq %rfoo, %rax\n", 2, "bad register"),
    ("main:\n  addl $1, (%rax,%rsp,1)\n", 2, "index"),
    ('main:\n  ret\n  .string "abc\n', 3, "unterminated"),
    ("main:\n  ret\nmain:\n  ret\n", 3, "already defined"),
])
def test_errors_name_the_line(src, line, words):
    with pytest.raises(AsmError) as err:
        build(src)
    assert err.value.line == line
    assert words in err.value.message


def test_missing_main_is_reported():
    with pytest.raises(AsmError, match="main"):
        build("start:\n ret\n")


@pytest.mark.parametrize("expr", ["1<<0x1000000", "((1<<100)*(1<<100))",
                                  "1" + "0" * 200, "-(1<<127)*4"])
def test_huge_expressions_are_refused_at_their_line(expr):
    from app.asm.errors import AsmError
    from app.rewriter.build import build
    with pytest.raises(AsmError) as e:
        build(f"    .text\n    .globl main\nmain:\n    ret\n    .data\nx: .quad {expr}\n", "on",
              0x8000000)
    assert e.value.line == 6


def test_an_offset_below_the_guest_is_an_address_conflict():
    from app.session import Session, SessionError
    with pytest.raises(SessionError, match="address conflict"):
        Session("    .text\n    .globl main\nmain:\n    ret\n", "on", 0x1000)


def test_the_unmirrored_image_is_the_native_layout_as_assembling_it_gives():
    """An unmirrored rewriting adds nothing, so it takes the native image instead of
    assembling the same program again: byte for byte what assembling would give."""
    from app.abi import kernel_symbols
    from app.examples import source

    b = build(source("calls_and_stack"), "on", also=("off",))
    off = b.for_mode("off")
    again = assemble(off.program, extra_symbols=kernel_symbols())
    assert {n: bytes(s.data) for n, s in off.image.sections.items()} == \
        {n: bytes(s.data) for n, s in again.sections.items()}
    assert off.image.symbols == again.symbols
    assert [(p.address, p.encoding, p.insn.meta) for p in off.image.insns] == \
        [(p.address, p.encoding, p.insn.meta) for p in again.insns]


def test_nops_are_instructions_and_their_size_is_bounded():
    from app.session import Session, SessionError
    body = "    .text\n    .globl main\nmain:\n{pad}    movl $3, %eax\n    ret\n"
    plain, padded = (Session(body.format(pad=p), "on") for p in ("", "    .nops 4\n"))
    for s in (plain, padded):
        s.run()
    assert padded.result()["exit_code"] == plain.result()["exit_code"] == 3
    assert padded.result()["counters"]["native_instructions"] == \
        plain.result()["counters"]["native_instructions"] + 4
    with pytest.raises(SessionError) as e:
        Session(body.format(pad="    .nops 99999\n"), "on")
    assert e.value.line == 4 and ".nops needs a size from 0 to 4096" in str(e.value)

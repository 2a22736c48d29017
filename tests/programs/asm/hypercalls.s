# The guest maps a page by hypercall, writes to it, and is refused a mapping in the
# mirror range. Hypercalls: int $0x82, number in %rax (1 = mmu_update, 2 = console).
    .text
    .globl main
main:
    pushq   %rbx
    # ask to map the mirror range: refused (address conflict), returns -1
    leaq    bad(%rip), %rdi
    movl    $1, %esi
    movl    $1, %eax
    int     $0x82
    movq    %rax, %rbx
    # say something through the console hypercall
    leaq    msg(%rip), %rdi
    movl    $6, %esi
    movl    $2, %eax
    int     $0x82
    movl    %ebx, %eax
    addl    $100, %eax
    popq    %rbx
    ret
    .section .rodata
    .p2align 3
bad:  .quad 0x8000000, 0x7
msg:  .ascii "hello\n"

# Stores under a large mirror offset, and a mapping request in the mirror range.
# Hypercalls: int $0x82, number in %rax (1 = mmu_update(requests, count)).
    .text
    .globl  main
main:
    pushq   %rbx
    movl    $7, count(%rip)
    # ask to map a page at table + 0x100000000: inside the mirror range
    leaq    request(%rip), %rdi
    movl    $1, %esi
    movl    $1, %eax
    int     $0x82
    movq    %rax, %rbx
    # a loop that keeps four values live in %r8-%r11
    movl    $1, %r8d
    movl    $10, %r9d
    movl    $100, %r10d
    movl    $1000, %r11d
    xorl    %ecx, %ecx
fill:
    leaq    (%r8,%r9), %rax
    addq    %r10, %rax
    addq    %r11, %rax
    movq    %rax, table(,%rcx,8)
    incq    %r8
    incq    %rcx
    cmpq    $8, %rcx
    jne     fill
    movq    table+56(%rip), %rax
    addl    count(%rip), %eax
    addl    %ebx, %eax
    popq    %rbx
    ret

    .section .rodata
    .p2align 3
request:
    .quad   table+0x100000000, 0x7
    .data
count:  .long   0
    .bss
    .p2align 4
table:  .zero   64

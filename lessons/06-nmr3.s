# Fill a table with squares, then sum it (main returns 1240).
# The table is 8-byte aligned, so table+8 is exactly table[2].
    .text
    .globl  main
main:
    movl    $0, %eax
fill:
    movl    %eax, %edx
    imull   %eax, %edx
    movl    %edx, table(,%rax,4)
    addl    $1, %eax
    cmpl    $16, %eax
    jne     fill
    xorl    %eax, %eax
    xorl    %ecx, %ecx
sum:
    addl    table(,%rcx,4), %eax
    incq    %rcx
    cmpq    $16, %rcx
    jne     sum
    ret

    .bss
    .p2align 4
table:  .zero   64

# Fill an array, sum it, return the sum: stores, a push, a call and a loop.
    .text
    .globl  main
fill:
    movl    $0, %eax
1:  movl    %eax, %edx
    imull   %eax, %edx
    movl    %edx, table(,%rax,4)
    addl    $1, %eax
    cmpl    $16, %eax
    jne     1b
    ret

main:
    pushq   %rbx
    call    fill
    xorl    %eax, %eax
    xorl    %ebx, %ebx
2:  addl    table(,%rbx,4), %eax
    incq    %rbx
    cmpq    $16, %rbx
    jne     2b
    movl    %eax, total(%rip)
    addl    $1, runs(%rip)
    popq    %rbx
    ret

    .data
runs:   .long   0
    .bss
    .p2align 4
total:  .zero   4
table:  .zero   64

# Calls through a table of function pointers and a register: indirect call targets.
    .text
    .globl main
double: leal (%rdi,%rdi), %eax
    ret
square: movl %edi, %eax
    imull %edi, %eax
    ret
inc:    leal 1(%rdi), %eax
    ret
main:
    pushq   %rbx
    pushq   %r12
    xorl    %ebx, %ebx
    movl    $3, %r12d
1:  movl    %ebx, %eax
    xorl    %edx, %edx
    movl    $3, %ecx
    divl    %ecx
    leaq    ops(%rip), %rax
    movq    (%rax,%rdx,8), %rax
    movl    %r12d, %edi
    call    *%rax
    movl    %eax, %r12d
    andl    $0xffff, %r12d
    movl    %r12d, log(,%rbx,4)
    incl    %ebx
    cmpl    $12, %ebx
    jne     1b
    leaq    square(%rip), %rax
    movl    $9, %edi
    call    *%rax
    addl    %r12d, %eax
    popq    %r12
    popq    %rbx
    ret
    .section .rodata
    .p2align 3
ops: .quad double, square, inc
    .bss
log: .zero 48

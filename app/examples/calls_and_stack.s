# Recursive factorial with a frame pointer: calls, pushes and stack stores.
    .text
    .globl main
fact:
    pushq   %rbp
    movq    %rsp, %rbp
    subq    $16, %rsp
    movq    %rdi, -8(%rbp)
    cmpq    $1, %rdi
    jle     1f
    decq    %rdi
    call    fact
    imulq   -8(%rbp), %rax
    leave
    ret
1:  movl    $1, %eax
    leave
    ret
main:
    movl    $10, %edi
    call    fact
    movq    %rax, result(%rip)
    movl    $1000003, %ecx
    cqto
    idivq   %rcx
    movl    %edx, %eax
    ret
    .data
result: .quad 0

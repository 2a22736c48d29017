# A register live across an indirect call must not become the callee's scratch register.
    .text
    .globl main
f:
    movq    %rdi, buf(%rip)
    xchgq   %rax, buf(%rip)
    ret
main:
    movq    $7, %r11
    movq    $9, %r10
    leaq    f(%rip), %rcx
    movq    $3, %rdi
    call    *%rcx
    addq    %r11, %rax
    imulq   $3, %r10
    addq    %r10, %rax
    ret
    .data
buf: .quad 0

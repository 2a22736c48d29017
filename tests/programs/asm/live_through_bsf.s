# Liveness regression: a register that bsf may leave unchanged (or reads implicitly) is not free scratch.
    .data
buf: .quad 0
    .text
    .globl main
main:
    movq $5, %r11
    leaq buf(%rip), %rdi
    xorl %eax, %eax
    xchgq %rax, (%rdi)
    bsfq %rax, %r11
    movl %r11d, %eax
    ret

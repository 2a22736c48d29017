# Liveness regression: a register that cmov may leave unchanged (or reads implicitly) is not free scratch.
    .data
buf: .quad 0
    .text
    .globl main
main:
    movq $5, %r11
    leaq buf(%rip), %rdi
    movq $7, %rax
    cmpq %rax, %rax
    xchgq %rax, (%rdi)
    cmovneq %rax, %r11
    movl %r11d, %eax
    ret

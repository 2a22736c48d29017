# Liveness regression: a register that xlat may leave unchanged (or reads implicitly) is not free scratch.
    .data
buf: .quad 0
tab: .byte 10,11,12,13,14,15,16,17
    .text
    .globl main
main:
    leaq tab(%rip), %rbx
    movq $1, %r11
    movq $2, %r10
    movq $3, %r9
    movq $4, %r8
    movq $5, %rcx
    movq $6, %rdx
    leaq buf(%rip), %rsi
    movq $8, %rdi
    movl $3, %eax
    xchgq %rcx, (%rsi)
    xlatb
    movzbl %al, %eax
    addq %r11, %rax
    addq %r10, %rax
    addq %r9, %rax
    addq %r8, %rax
    addq %rcx, %rax
    addq %rdx, %rax
    addq %rdi, %rax
    addq (%rsi), %rax
    ret

# What must not be mirrored: page tables and device memory.
# Hypercalls: int $0x82, number in %rax (4 = pte_read(va)).
    .text
    .globl  main
main:
    pushq   %rbx
    # the guest's own view of its page table: the entry for `count`...
    movq    $count, %rdi
    movl    $4, %eax
    int     $0x82
    movq    %rax, %rbx
    # ...and the entry for its mirror, count + 0x8000000
    movq    $count+0x8000000, %rdi
    movl    $4, %eax
    int     $0x82
    incl    count(%rip)
    # the library's puts stores every character to the UART at its address, __uart
    leaq    hello(%rip), %rdi
    call    puts
    # the same device, written through a pointer
    movl    $__uart, %edi
    leaq    word(%rip), %rsi
1:  movzbl  (%rsi), %eax
    testb   %al, %al
    je      2f
    movb    %al, (%rdi)
    incq    %rsi
    jmp     1b
2:  movb    $10, (%rdi)
    movl    count(%rip), %eax
    popq    %rbx
    ret

    .section .rodata
hello:  .asciz  "hello from puts"
word:   .asciz  "UART"
    .data
count:  .long   6

# String instructions both ways, memcpy/memset from the kernel library, and output.
    .text
    .globl main
main:
    pushq   %rbx
    leaq    src(%rip), %rsi
    leaq    dst(%rip), %rdi
    movl    $13, %ecx
    rep movsb
    leaq    dst+40(%rip), %rdi
    movl    $0x2a, %eax
    movl    $6, %ecx
    std
    rep stosb
    cld
    leaq    copy(%rip), %rdi
    leaq    dst(%rip), %rsi
    movl    $13, %edx
    call    memcpy
    leaq    copy(%rip), %rdi
    call    puts
    leaq    fill(%rip), %rdi
    movl    $0x55, %esi
    movl    $20, %edx
    call    memset
    movzbl  dst+37(%rip), %eax
    movzbl  fill+19(%rip), %ebx
    addl    %ebx, %eax
    movzbl  copy+4(%rip), %ebx
    addl    %ebx, %eax
    popq    %rbx
    ret
    .section .rodata
src: .ascii "hello, mirror"
    .bss
dst: .zero 64
copy: .zero 16
fill: .zero 32

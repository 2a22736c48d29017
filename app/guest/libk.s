# The kernel's small C library, linked into a program only for the functions it calls
# and does not define itself. putchar writes to the UART: device memory, never mirrored.
putchar:
    movb    %dil, __uart
    movzbl  %dil, %eax
    ret
puts:
    movq    %rdi, %rdx
1:  movzbl  (%rdx), %eax
    testb   %al, %al
    je      2f
    movb    %al, __uart
    incq    %rdx
    jmp     1b
2:  movb    $10, __uart
    movl    $1, %eax
    ret
memcpy:
    movq    %rdi, %rax
    movq    %rdx, %rcx
    rep movsb
    ret
memmove:
    movq    %rdi, %rax
    movq    %rdx, %rcx
    cmpq    %rsi, %rdi
    jbe     1f
    leaq    -1(%rsi,%rcx), %rsi
    leaq    -1(%rdi,%rcx), %rdi
    std
    rep movsb
    cld
    ret
1:  rep movsb
    ret
memset:
    movq    %rdi, %r9
    movl    %esi, %eax
    movq    %rdx, %rcx
    rep stosb
    movq    %r9, %rax
    ret
memcmp:
    xorl    %eax, %eax
1:  testq   %rdx, %rdx
    je      2f
    movzbl  (%rdi), %eax
    movzbl  (%rsi), %ecx
    subl    %ecx, %eax
    jne     2f
    incq    %rdi
    incq    %rsi
    decq    %rdx
    jmp     1b
2:  ret
strlen:
    movq    %rdi, %rax
1:  cmpb    $0, (%rax)
    je      2f
    incq    %rax
    jmp     1b
2:  subq    %rdi, %rax
    ret

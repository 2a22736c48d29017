# Three kinds of work, to count what mirroring costs each one.
    .text
    .globl  main
main:
    pushq   %rbx
    # 1. stress write: four 8-byte stores in every 7-instruction iteration
    xorl    %ecx, %ecx
write:
    movq    %rcx, buf(,%rcx,8)
    movq    %rcx, buf+8(,%rcx,8)
    movq    %rcx, buf+16(,%rcx,8)
    movq    %rcx, buf+24(,%rcx,8)
    addq    $4, %rcx
    cmpq    $512, %rcx
    jne     write
    # 2. CPU-bound: an xorshift hash in registers, no stores at all
    movq    $0x2545f4914f6cdd1d, %rax
    movl    $1000, %ecx
compute:
    movq    %rax, %rdx
    shrq    $12, %rdx
    xorq    %rdx, %rax
    movq    %rax, %rdx
    shlq    $25, %rdx
    xorq    %rdx, %rax
    decl    %ecx
    jne     compute
    movq    %rax, %rbx
    # 3. calls: a tiny function called 200 times; each call stores its return address
    xorl    %ecx, %ecx
calls:
    movl    %ecx, %edi
    call    square
    addq    %rax, %rbx
    incl    %ecx
    cmpl    $200, %ecx
    jne     calls
done:
    movl    %ebx, %eax
    andl    $0xffff, %eax
    popq    %rbx
    ret

square:
    movl    %edi, %eax
    imull   %edi, %eax
    ret

    .bss
    .p2align 4
buf:    .zero   4096

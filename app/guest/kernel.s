# The guest kernel: map what the domain builder loaded, call main, exit with its value.
# The hypervisor mapped only this code, the start info and the device page; the
# program's sections and its stack are mapped here, by hypercall, as a PV guest must.
# Start info layout: +0 request count, +8 stack top, +16 requests {va, pte}.
    .text
    .globl _start
_start:
    movq    $__start_info, %rbx
    movq    (%rbx), %rsi
    leaq    16(%rbx), %rdi
    movl    $__hc_mmu_update, %eax
    int     $0x82
    cmpq    (%rbx), %rax
    jne     .Lboot_failed
    movq    8(%rbx), %rsp
    xorl    %ebp, %ebp
    # the state the x86-64 System V ABI starts a program in, as Linux sets it at exec:
    # x87 control word 0x037f and every register empty, MXCSR 0x1f80 (exceptions
    # masked, round to nearest), the direction flag clear, the stack 16-byte aligned
    # at the call; main(argc = 0, argv = {NULL}, envp = {NULL}). Nothing is stored:
    # the constants are read-only data, mapped above with the program's
    fninit
    ldmxcsr __mxcsr_at_start(%rip)
    cld
    xorl    %edi, %edi
    leaq    __no_arguments(%rip), %rsi
    leaq    __no_arguments+8(%rip), %rdx
    call    main
    movslq  %eax, %rdi
    movl    $__hc_exit, %eax
    int     $0x82
    hlt
.Lboot_failed:
    movq    $-2, %rdi
    movl    $__hc_exit, %eax
    int     $0x82
    hlt
# Unicorn translates the address where a run should stop (its `until`) at every start;
# with paging on, an unmapped one raises a page fault that is never delivered and turns
# the guest's next real fault into a double fault. Runs stop here, where nothing jumps.
    .globl __until
__until:
    hlt

    .section .rodata
    .p2align 3
__mxcsr_at_start:
    .long   0x1f80
    .long   0
__no_arguments:
    .quad   0, 0

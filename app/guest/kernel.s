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

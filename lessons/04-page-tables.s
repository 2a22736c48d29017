# The guest asks the hypervisor about its page table, and asks for a mapping it may not have.
# Hypercalls: int $0x82, number in %rax (1 mmu_update, 4 pte_read), arguments in %rdi, %rsi.
# Written for the mirror offset 0x8000000 (lessons/04-page-tables.md).
    .text
    .globl main
main:
    movl    $7, table(%rip)         # a store: lands in table and in its mirror
    # pte_read(table): the guest's own page-table entry for table
    movq    $table, %rdi
    movl    $4, %eax
    int     $0x82
    movq    %rax, seen(%rip)
    # pte_read(table + offset): the mirror entry exists, but the guest reads 0
    movq    $table+0x8000000, %rdi
    movl    $4, %eax
    int     $0x82
    movq    %rax, seen+8(%rip)
    # mmu_update: ask to map a page at 0x8000000, inside the mirror range
    movq    $bad, %rdi
    movl    $1, %esi
    movl    $1, %eax
    int     $0x82
    movl    %eax, %edx              # -1: refused
    movl    table(%rip), %eax
    addl    %edx, %eax              # 7 + (-1) = 6
    ret
    .section .rodata
    .p2align 3
bad:    .quad 0x8000000, 0x7        # {va, pte}: a page in the mirror range
    .data
table:  .long 0
seen:   .quad 0, 0

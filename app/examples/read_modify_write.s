# Read-modify-write and atomic stores: each writes memory that must be mirrored.
    .text
    .globl  main
main:
    movl    $5, counter(%rip)
    addl    $3, counter(%rip)          # add to memory
    incl    counter(%rip)              # inc
    notl    flags(%rip)                # not
    shll    $2, counter(%rip)          # shift
    movl    $7, %eax
    lock xaddl %eax, counter(%rip)     # atomic fetch-and-add
    movl    $100, %ecx
    xchgl   %ecx, swap(%rip)           # xchg with memory is atomic
    movl    swap(%rip), %eax
    cmpl    $100, %eax
    sete    equal(%rip)                # setcc to memory
    btsl    $3, flags+4(%rip)          # bit test and set
    movl    counter(%rip), %eax
    addl    %ecx, %eax                 # 43 + 11
    ret

    .data
counter: .long 0
swap:    .long 11
flags:   .long 0, 0
equal:   .byte 0

# A .L function reached only through a pointer stored in data: the return address is
# mirrored at the indirect call site, since the rewriter cannot see the target as a function.
    .text
    .globl main
main:
    movq    tbl(%rip), %rax
    movq    $9, %rdi
    call    *%rax
    addl    mem(%rip), %eax
    ret
.Lf:
    movl    %edi, mem(%rip)
    movl    %edi, %eax
    ret
    .data
tbl: .quad .Lf
mem: .long 0

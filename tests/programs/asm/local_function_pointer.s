# A local (.L) function reached only through a pointer still mirrors its return address.
.text
.globl main
main:
  leaq .Lf(%rip), %rax
  movq $9, %rdi
  call *%rax
  addl mem(%rip), %eax
  ret
.Lf:
  movl %edi, mem(%rip)
  movl %edi, %eax
  ret
.data
mem: .long 0

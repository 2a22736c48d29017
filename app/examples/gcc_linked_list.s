# gcc -S -O2 -fno-pic -ffreestanding -fno-asynchronous-unwind-tables output, as a student
# would paste it: a linked list in a static pool (main returns 360).
	.file	"list.c"
	.text
	.section	.text.startup,"ax",@progbits
	.p2align 4
	.globl	main
	.type	main, @function
main:
	movq	head(%rip), %rcx
	movl	$pool, %eax
	xorl	%edx, %edx
	.p2align 4,,10
	.p2align 3
.L2:
	movq	%rcx, %rsi
	movl	%edx, (%rax)
	movq	%rax, %rcx
	addq	$16, %rax
	movq	%rsi, -8(%rax)
	addl	$3, %edx
	cmpq	$pool+256, %rax
	jne	.L2
	movq	$pool+240, head(%rip)
	movl	$pool+240, %eax
	xorl	%edx, %edx
	.p2align 4,,10
	.p2align 3
.L3:
	addl	(%rax), %edx
	movq	8(%rax), %rax
	testq	%rax, %rax
	jne	.L3
	movl	%edx, %eax
	ret
	.size	main, .-main
	.local	head
	.comm	head,8,8
	.local	pool
	.comm	pool,256,32
	.ident	"GCC: (Debian 12.2.0-14+deb12u1) 12.2.0"
	.section	.note.GNU-stack,"",@progbits

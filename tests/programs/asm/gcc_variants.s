# gcc output with -fcf-protection (endbr64, notrack), an older gcc's 'rep ret', a cold
# section, a jump table in .rodata and a .note.gnu.property section.
	.section	.text.unlikely,"ax",@progbits
f.cold:
	ud2
	.text
	.p2align 4
	.globl	main
	.type	main, @function
main:
.LFB0:
	endbr64
	movl	$7, %eax
	call	g
	rep ret
g:
	endbr64
	notrack jmp *.L4(,%rax,8)
.L5:
	addl	$35, %eax
	ret
	.section	.rodata
	.align 8
.L4:
	.quad .L5
	.quad .L5
	.quad .L5
	.quad .L5
	.quad .L5
	.quad .L5
	.quad .L5
	.quad .L5
	.section	.note.gnu.property,"a"
	.align 8
	.long	1f - 0f
0:	.string "GNU"
1:

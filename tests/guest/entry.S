/*
 * Interrupt entry stubs and the ring-3 round trip.
 *
 * Every vector the guest handles goes through isr_common, which saves the
 * general registers as a struct regs (guest.h) and calls isr_dispatch(). Vectors
 * without a CPU-pushed error code push a 0 so the frame is always the same
 * (Intel SDM vol. 3A, 6.13 and 6.14.2).
 */
#include "defs.h"

	.text
	.code64

.macro STUB name, vec, has_error
	.balign	16
isr_\name:
	.if	\has_error == 0
	pushq	$0
	.endif
	pushq	$\vec
	jmp	isr_common
.endm

/* Exceptions without an error code, then those with one (SDM vol. 3A, table 6-1). */
	.irp	vec, 0, 1, 2, 3, 4, 5, 6, 7, 9, 15, 16, 18, 19, 20, 22, 23, 24, 25, 26, 27, 28, 31
	STUB	\vec, \vec, 0
	.endr
	.irp	vec, 8, 10, 11, 12, 13, 14, 17, 21, 29, 30
	STUB	\vec, \vec, 1
	.endr
	.globl	isr_timer, isr_serial, isr_virtio, isr_pwrbtn, isr_spurious
	STUB	timer, VEC_TIMER, 0
	STUB	serial, VEC_SERIAL, 0
	STUB	virtio, VEC_VIRTIO, 0
	STUB	pwrbtn, VEC_PWRBTN, 0
	STUB	spurious, VEC_SPURIOUS, 0

	.section .rodata
	.balign	8
	.globl	exception_stubs
exception_stubs:
	.irp	vec, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
	.quad	isr_\vec
	.endr

	.text
isr_common:
	pushq	%rax
	pushq	%rbx
	pushq	%rcx
	pushq	%rdx
	pushq	%rsi
	pushq	%rdi
	pushq	%rbp
	pushq	%r8
	pushq	%r9
	pushq	%r10
	pushq	%r11
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	/* 15 registers + vector + error + the CPU's 5 words: RSP is 16-byte aligned. */
	movq	%rsp, %rdi
	call	isr_dispatch
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%r11
	popq	%r10
	popq	%r9
	popq	%r8
	popq	%rbp
	popq	%rdi
	popq	%rsi
	popq	%rdx
	popq	%rcx
	popq	%rbx
	popq	%rax
	addq	$16, %rsp
	iretq

/*
 * void user_call(void (*fn)(void *), void *arg, void *stack_top)
 *
 * Runs fn(arg) in ring 3 on stack_top with IOPL 3 (port I/O is allowed there;
 * the TSS I/O bitmap allows it too, see cpu.c), and returns when fn returns.
 * The way back is int 0x80 through a DPL 3 gate: its handler discards the
 * interrupt frame and returns from user_call with the registers saved here.
 * TSS.RSP0 is set to this stack so that the frame lands below them.
 *
 * Under PVM, int 0x80 from ring 3 never reaches the guest's IDT: the guest
 * gets #UD on the INT instruction instead. So #UD from ring 3 at that INT (or
 * at the UD2 after it, should INT ever fall through) is the second way back:
 * isr_dispatch() recognises it and calls user_return.
 */
	.globl	user_call
user_call:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	movq	%rsp, user_saved_rsp(%rip)
	movq	%rsp, tss + 4(%rip)		/* TSS.RSP0 */
	movq	%rdi, %r12
	movq	%rsi, %r13
	/* iretq frame (SDM vol. 3A, 6.14.3): SS, RSP, RFLAGS, CS, RIP. */
	pushq	$SEL_UDATA
	pushq	%rdx
	pushq	$0x3202			/* IOPL 3, IF, reserved bit 1 */
	pushq	$SEL_UCODE
	pushq	$user_trampoline
	iretq

user_trampoline:				/* ring 3 */
	movq	%r13, %rdi
	call	*%r12
	.globl	user_return_int, user_return_ud2
user_return_int:
	int	$VEC_USER_RET
user_return_ud2:
	ud2

	.globl	isr_user_ret, user_return
isr_user_ret:				/* ring 0, on TSS.RSP0 */
user_return:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ss
	movl	%eax, %ds
	movl	%eax, %es
	movq	user_saved_rsp(%rip), %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret

	.section .bss
	.balign	8
user_saved_rsp:
	.quad	0

	.section .note.GNU-stack, "", @progbits

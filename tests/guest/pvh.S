/*
 * The PVH entry point (Xen's docs/misc/pvh.pandoc; the start info layout is
 * xen/include/public/arch-x86/hvm/start_info.h). A VMM finds it through the
 * XEN_ELFNOTE_PHYS32_ENTRY note and enters it in 32-bit protected mode with
 * paging off, flat 4 GiB segments, EBX = physical address of struct
 * hvm_start_info, interrupts off and no usable stack.
 *
 * guest-nopvh.elf is linked without this file, so it has no note and a VMM
 * must use the 64-bit boot protocol entry (head.S) instead.
 */
#include "defs.h"
#include "longmode.inc"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

	.section .note.Xen, "a", @note
	.balign	4
	.long	4			/* namesz: "Xen\0" */
	.long	4			/* descsz: a 32-bit physical address */
	.long	XEN_ELFNOTE_PHYS32_ENTRY
	.asciz	"Xen"
	.balign	4
	.long	pvh_entry
	.balign	4

	.text
	.code32
	.globl	pvh_entry
pvh_entry:
	cli
	cld
	lgdt	gdt_ptr
	ljmp	$SEL_KCODE32, $1f
1:	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movl	$boot_stack_top, %esp
	movl	%ebx, %esi
	ENABLE_LONG_MODE
	ljmp	$SEL_KCODE, $pvh_entry64

	.code64
pvh_entry64:
	movq	$boot_stack_top, %rsp
	/* The upper halves of registers are undefined after the mode switch. */
	movl	%esi, %ebx
	movl	$protocol_pvh, %edi
	call	boot_banner
	call	zero_bss
	movl	%ebx, %edi
	call	boot_from_pvh
	jmp	halt_forever

	.section .rodata
protocol_pvh:
	.asciz	"pvh"

	.section .note.GNU-stack, "", @progbits

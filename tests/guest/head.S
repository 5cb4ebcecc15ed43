/*
 * Boot code of the test guest: the 64-bit Linux boot protocol entry, the
 * application-processor path (real mode -> protected mode -> long mode), and
 * the static descriptor and page tables. The PVH entry lives in pvh.S so that
 * guest-nopvh.elf can be linked without it.
 *
 * Everything is linked at 1 MiB and identity mapped (guest.ld.S).
 */
#include "defs.h"
#include "longmode.inc"

/*
 * The image starts at 0x100000. The Linux boot protocol enters a 64-bit
 * kernel at load address + 0x200 (Documentation/arch/x86/boot.rst, "64-bit
 * BOOT PROTOCOL"), so the first 0x200 bytes are padding and the jump sits
 * exactly at 0x100200, in the ELF image and in the bzImage payload alike.
 */
	.section .head, "ax"
	.code64
	.fill	0x200, 1, 0
	.globl	startup_64
startup_64:
	jmp	bootparams_entry

	.text
/*
 * 64-bit boot protocol: long mode on, an identity map set up by the VMM,
 * RSI = struct boot_params, interrupts off, segments and stack unknown.
 */
bootparams_entry:
	cli
	cld
	lgdt	gdt_ptr(%rip)
	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	movq	$boot_stack_top, %rsp
	/* Reload CS from our GDT with a far return. */
	pushq	$SEL_KCODE
	pushq	$1f
	lretq
1:	movq	$pml4, %rax
	movq	%rax, %cr3
	movq	%rsi, %rbx
	movl	$protocol_bootparams, %edi
	call	boot_banner
	call	zero_bss
	movq	%rbx, %rdi
	call	boot_from_bootparams
	jmp	halt_forever

/*
 * Zeroes .bss (the bzImage loader copies only the file's bytes). The stacks
 * are in .noinit and need no zeroing, which keeps this short under an
 * instruction emulator.
 */
	.globl	zero_bss
zero_bss:
	movl	$__bss_start, %edi
	movl	$__bss_end, %ecx
	subl	%edi, %ecx
	shrl	$3, %ecx
	xorl	%eax, %eax
	rep stosq
	ret

	.globl	halt_forever
halt_forever:
	cli
1:	hlt
	jmp	1b

/*
 * Application processors. The BSP copies ap_trampoline to TRAMPOLINE_ADDR and
 * sends INIT, SIPI, SIPI with vector TRAMPOLINE_ADDR >> 12: the AP starts in
 * real mode at CS = TRAMPOLINE_ADDR >> 4, IP = 0 (Intel SDM vol. 3A, 9.4.4
 * "MP Initialization Example"). The trampoline only switches to protected mode;
 * the rest runs from the image above 1 MiB.
 */
	.section .rodata
	.code16
	.balign	16
	.globl	ap_trampoline, ap_trampoline_end
ap_trampoline:
	cli
	cld
	movw	%cs, %ax
	movw	%ax, %ds
	lgdtl	ap_gdt_ptr - ap_trampoline
	movl	%cr0, %eax
	orl	$CR0_PE, %eax
	movl	%eax, %cr0
	ljmpl	$SEL_KCODE32, $ap_entry32
	.balign	8
ap_gdt_ptr:
	.word	gdt_end - gdt - 1
	.long	gdt
ap_trampoline_end:

	.text
	.code32
ap_entry32:
	movl	$SEL_KDATA, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	ENABLE_LONG_MODE
	ljmp	$SEL_KCODE, $ap_entry64

	.code64
ap_entry64:
	/* Take a slot, and with it a stack: ap_stacks[slot]. */
	movl	$1, %eax
	lock xaddl %eax, ap_next_slot(%rip)
	cmpl	$MAX_CPUS, %eax
	jae	halt_forever
	movl	%eax, %edi
	incl	%eax
	shll	$AP_STACK_SHIFT, %eax
	leaq	ap_stacks(%rip), %rsp
	addq	%rax, %rsp
	lidt	idt_ptr(%rip)
	call	ap_main
	jmp	halt_forever

/*
 * GDT (Intel SDM vol. 3A, 3.4.5 and 7.2.3). Code and data descriptors have
 * the accessed bit set so the CPU never writes to them. The TSS descriptor is
 * filled in by cpu_init(), which knows the TSS's address.
 */
	.data
	.balign	16
	.globl	gdt, gdt_tss, gdt_ptr
gdt:
	.quad	0
	.quad	0x00af9b000000ffff	/* 0x08 kernel code, 64-bit */
	.quad	0x00cf93000000ffff	/* 0x10 kernel data, flat 4 GiB */
	.quad	0x00cff3000000ffff	/* 0x18 user data, DPL 3 */
	.quad	0x00affb000000ffff	/* 0x20 user code, 64-bit, DPL 3 */
gdt_tss:
	.quad	0, 0			/* 0x28 64-bit TSS (16 bytes) */
	.quad	0x00cf9b000000ffff	/* 0x38 kernel code, 32-bit flat */
gdt_end:

	.balign	8
	.word	0
gdt_ptr:
	.word	gdt_end - gdt - 1
	.quad	gdt

	.globl	idt_ptr
	.word	0, 0, 0
idt_ptr:
	.word	256 * 16 - 1
	.quad	idt

/*
 * Page tables (Intel SDM vol. 3A, 4.5): identity map of 0-4 GiB with 2 MiB
 * pages, present | writable | user, computed here by the assembler so the boot
 * path runs no loop. The fourth GiB (MMIO: IOAPIC, local APIC, ...) is
 * uncached (PCD | PWT). PDPT entry 4 (virtual 4-5 GiB) is the window
 * memmap.c points at the spare page directory to reach RAM above 4 GiB.
 */
#define PTE_P	0x001
#define PTE_W	0x002
#define PTE_U	0x004
#define PTE_PWT 0x008
#define PTE_PCD 0x010
#define PTE_PS	0x080

	.section .data.pagetables, "aw"
	.balign	4096
	.globl	pml4, pdpt
pml4:
	.quad	pdpt + (PTE_P | PTE_W | PTE_U)
	.fill	511, 8, 0
pdpt:
	.quad	pd0 + (PTE_P | PTE_W | PTE_U)
	.quad	pd0 + 0x1000 + (PTE_P | PTE_W | PTE_U)
	.quad	pd0 + 0x2000 + (PTE_P | PTE_W | PTE_U)
	.quad	pd0 + 0x3000 + (PTE_P | PTE_W | PTE_U)
	.fill	508, 8, 0
pd0:
	.set	page, 0
	.rept	3 * 512
	.quad	page + (PTE_P | PTE_W | PTE_U | PTE_PS)
	.set	page, page + 0x200000
	.endr
	.rept	512
	.quad	page + (PTE_P | PTE_W | PTE_U | PTE_PS | PTE_PCD | PTE_PWT)
	.set	page, page + 0x200000
	.endr

/* Stacks are not zeroed at boot (see zero_bss). */
	.section .noinit, "aw", @nobits
	.balign	4096
	.globl	boot_stack_top, ap_stacks, ist_stack_top, user_stack_top
boot_stack:
	.skip	BOOT_STACK_SIZE
boot_stack_top:
ist_stack:
	.skip	IST_STACK_SIZE
ist_stack_top:
user_stack:
	.skip	USER_STACK_SIZE
user_stack_top:
/* Slot n's stack is the n + 1st block: its top is ap_stacks + (n + 1) * size. */
ap_stacks:
	.skip	MAX_CPUS * AP_STACK_SIZE

	.section .rodata
protocol_bootparams:
	.asciz	"bootparams"

	.section .bss
	.balign	8
	.globl	ap_next_slot
ap_next_slot:
	.long	0
	.long	0

	.section .note.GNU-stack, "", @progbits

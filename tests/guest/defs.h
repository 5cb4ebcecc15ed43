/*
 * Constants shared by the guest's assembly and C code: segment selectors,
 * control-register bits, stack sizes and fixed addresses. Only #defines, so
 * that the .S files can include it too.
 */
#ifndef GUEST_DEFS_H
#define GUEST_DEFS_H

/* GDT selectors (see gdt in head.S). User ones carry RPL 3. */
#define SEL_KCODE   0x08
#define SEL_KDATA   0x10
#define SEL_UDATA   0x1b
#define SEL_UCODE   0x23
#define SEL_TSS	    0x28
#define SEL_KCODE32 0x38

/* Intel SDM vol. 3A, 2.5 and 2.2.1. */
#define CR0_PE	 0x00000001
#define CR0_NW	 0x20000000
#define CR0_CD	 0x40000000
#define CR0_PG	 0x80000000
#define CR4_PAE	 0x00000020
#define MSR_EFER 0xc0000080
#define EFER_LME 0x00000100

#define MAX_CPUS	256
#define AP_STACK_SHIFT	11 /* 2 KiB per application processor: ap_main is tiny */
#define AP_STACK_SIZE	(1 << AP_STACK_SHIFT)
#define BOOT_STACK_SIZE 16384
#define IST_STACK_SIZE	4096
#define USER_STACK_SIZE 16384

/* Where the real-mode AP trampoline is copied: 4 KiB aligned, below 1 MiB. */
#define TRAMPOLINE_ADDR 0x70000

/* Interrupt vectors the guest uses besides the 32 exceptions. */
#define VEC_TIMER    0x30
#define VEC_SERIAL   0x34
#define VEC_VIRTIO   0x38 /* every virtio-mmio device's IOAPIC pin */
#define VEC_PWRBTN   0x3c /* the ACPI GED's pin: the power button */
#define VEC_USER_RET 0x80 /* int 0x80: ring 3 hands control back to ring 0 */
#define VEC_SPURIOUS 0xff

#endif

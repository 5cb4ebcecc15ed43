/*
 * The x86 guest-physical memory map ember builds.
 *
 *   0x000500  GDT and (empty) IDT for the 64-bit boot paths
 *   0x001000  PVH hvm_start_info, module list, memory map
 *   0x007000  Linux boot_params ("zero page")
 *   0x008ff0  initial stack for the 64-bit boot paths
 *   0x009000  boot page tables: PML4, PDPT, 4 page directories (0-4 GiB)
 *   0x020000  kernel command line
 *   0x09fc00  EBDA (reserved)
 *   0x0e0000  ACPI tables, RSDP first (reserved)
 *   0x0f0000  MP floating pointer and MP configuration table (reserved)
 *   0x100000  kernel, then free RAM; the initrd goes at the top of low RAM
 *   3 GiB     MMIO hole up to 4 GiB: virtio-mmio windows at 3.25 GiB, IOAPIC,
 *             local APIC, KVM's TSS pages
 *   4 GiB     the rest of RAM when there is more than 3 GiB
 */
#ifndef EMBER_ARCH_X86_LAYOUT_H
#define EMBER_ARCH_X86_LAYOUT_H

#include "util/compiler.h"

#define LAYOUT_GDT	    0x500
#define LAYOUT_IDT	    0x520
#define LAYOUT_PVH_INFO	    0x1000
#define LAYOUT_PVH_MODLIST  0x1040
#define LAYOUT_PVH_MEMMAP   0x1080
#define LAYOUT_BOOT_PARAMS  0x7000
#define LAYOUT_BOOT_STACK   0x8ff0
#define LAYOUT_PML4	    0x9000
#define LAYOUT_PDPT	    0xa000
#define LAYOUT_PD	    0xb000 /* four pages, 0xb000-0xefff */
#define LAYOUT_CMDLINE	    0x20000
#define LAYOUT_CMDLINE_MAX  0x10000 /* room for the text and its NUL */
#define LAYOUT_EBDA	    0x9fc00
#define LAYOUT_ACPI	    0xe0000
#define LAYOUT_ACPI_SIZE    0x10000
#define LAYOUT_MPTABLE	    0xf0000
#define LAYOUT_MPTABLE_SIZE 0x10000
#define LAYOUT_HIMEM	    0x100000 /* 1 MiB: no kernel byte may load below */

#define LAYOUT_MMIO_HOLE     0xc0000000ULL /* 3 GiB */
#define LAYOUT_MMIO_HOLE_END 0x100000000ULL
#define LAYOUT_VIRTIO_MMIO   0xd0000000ULL /* 4 KiB per device */
#define LAYOUT_IOAPIC	     0xfec00000ULL
#define LAYOUT_LAPIC	     0xfee00000ULL
#define LAYOUT_KVM_IDENTITY  0xfffbc000ULL /* one page, VMX without unrestricted guest */
#define LAYOUT_KVM_TSS	     0xfffbd000ULL /* three pages */

/* I/O ports of the platform devices. */
#define PORT_I8042_DATA 0x60
#define PORT_I8042_CMD	0x64
#define PORT_RTC	0x70
#define PORT_POST	0x80
#define PORT_COM1	0x3f8
#define PORT_ACPI_PM	0x600 /* sleep control, sleep status, reset: see acpi_pm.h */

/* Interrupt lines (GSIs on the IOAPIC; 0-15 also on the PIC). */
#define IRQ_KEYBOARD 1
#define IRQ_COM1     4
#define IRQ_RTC	     8
#define IRQ_GED	     9 /* ACPI generic event device: the power button */

#define IOAPIC_PINS 24

/*
 * Lines for virtio devices: ISA IRQs nothing else uses. Only these: Linux
 * maps ISA IRQs to GSIs one to one from boot, while with ACPI it numbers
 * GSIs 16 and up dynamically, so `virtio_mmio.device=...:16` would name the
 * wrong (or no) line.
 */
#define IRQS_VIRTIO 5, 6, 7, 10, 11, 12, 13, 14, 15

#endif

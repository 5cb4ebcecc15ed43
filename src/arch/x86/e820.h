/*
 * The guest's memory map (BIOS e820 style), shared by the PVH memmap and the
 * Linux boot_params table. Pure functions, unit-tested without KVM.
 */
#ifndef EMBER_ARCH_X86_E820_H
#define EMBER_ARCH_X86_E820_H

#include <stdint.h>

#include "util/compiler.h"

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

#define E820_MAX_ENTRIES 8

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

/*
 * Fills `out` (E820_MAX_ENTRIES long) for a guest with `ram_size` bytes of
 * RAM and returns the number of entries, sorted by address.
 */
unsigned int e820_build(uint64_t ram_size, struct e820_entry *out);

/* The end of RAM below the MMIO hole, where the kernel and initrd must fit. */
uint64_t e820_low_ram_end(uint64_t ram_size);

#endif

#include "arch/arch.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

uint64_t e820_low_ram_end(uint64_t ram_size)
{
	return MIN(ram_size, LAYOUT_MMIO_HOLE);
}

unsigned int arch_ram_regions(uint64_t size, struct ram_region *out)
{
	uint64_t low = e820_low_ram_end(size);

	out[0] = (struct ram_region){ .gpa = 0, .size = low };
	if (size == low)
		return 1;
	/* What does not fit below the hole is moved above 4 GiB, so no RAM is lost. */
	out[1] = (struct ram_region){ .gpa = LAYOUT_MMIO_HOLE_END, .size = size - low };
	return 2;
}

unsigned int e820_build(uint64_t ram_size, struct e820_entry *out)
{
	uint64_t low = e820_low_ram_end(ram_size);
	unsigned int n = 0;

	out[n++] = (struct e820_entry){ 0, LAYOUT_EBDA, E820_RAM };
	out[n++] = (struct e820_entry){ LAYOUT_EBDA, 0xa0000 - LAYOUT_EBDA, E820_RESERVED };
	/* ACPI and MP tables live here; a guest must not reuse the area. */
	out[n++] = (struct e820_entry){ LAYOUT_ACPI, LAYOUT_HIMEM - LAYOUT_ACPI, E820_RESERVED };
	if (low > LAYOUT_HIMEM)
		out[n++] = (struct e820_entry){ LAYOUT_HIMEM, low - LAYOUT_HIMEM, E820_RAM };
	if (ram_size > low)
		out[n++] = (struct e820_entry){ LAYOUT_MMIO_HOLE_END, ram_size - low, E820_RAM };
	return n;
}

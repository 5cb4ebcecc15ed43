/*
 * The memory map as the boot protocol gave it, and a write/read check at the
 * first and last 8 bytes of every RAM range. Memory above 4 GiB is reached
 * through a 1 GiB window: PDPT entry 4 (virtual 4 GiB) points at a spare page
 * directory whose 2 MiB pages map the 1 GiB-aligned physical range wanted.
 */
#include "guest.h"
#include "io.h"

#define WINDOW_VIRT  (4 * GIB)
#define WINDOW_SLOT  4	  /* PDPT index of WINDOW_VIRT */
#define PTE_FLAGS_PD 0x07 /* present, writable, user */
#define PTE_FLAGS_2M 0x87 /* the same plus PS: a 2 MiB page */

extern uint64_t pdpt[512];
static uint64_t spare_pd[512] __noinit __attribute__((aligned(4096)));
static uint64_t window_base = UINT64_MAX;

/* Makes physical address `pa` reachable and returns a pointer to it. */
static volatile uint64_t *map_phys(uint64_t pa)
{
	uint64_t base = pa & ~(GIB - 1);

	if (pa < 4 * GIB)
		return (volatile uint64_t *)(uintptr_t)pa;
	if (base != window_base) {
		for (unsigned int i = 0; i < 512; i++)
			spare_pd[i] = (base + i * 2 * MIB) | PTE_FLAGS_2M;
		pdpt[WINDOW_SLOT] = (uint64_t)(uintptr_t)spare_pd | PTE_FLAGS_PD;
		write_cr3(read_cr3());
		window_base = base;
	}
	return (volatile uint64_t *)(uintptr_t)(WINDOW_VIRT + (pa - base));
}

/* The first MiB (boot structures, trampoline) and the guest are off limits. */
static bool reserved(uint64_t pa)
{
	uint64_t start = (uint64_t)(uintptr_t)__image_start;
	uint64_t end = (uint64_t)(uintptr_t)__image_end;

	return pa < MIB || (pa + 8 > start && pa < end);
}

/* Two patterns, then the old value back: the check leaves memory as it was. */
static bool check_word(uint64_t pa)
{
	volatile uint64_t *p = map_phys(pa);
	uint64_t old = *p, pattern = 0x5a5aa5a512345678ULL ^ pa;
	bool ok;

	*p = pattern;
	ok = *p == pattern;
	*p = ~pattern;
	ok = ok && *p == ~pattern;
	*p = old;
	return ok;
}

void test_memmap(void)
{
	uint64_t ram = 0;
	unsigned int checked = 0;

	for (unsigned int i = 0; i < boot->nr_mem; i++) {
		const struct mem_range *m = &boot->mem[i];

		gprintf("KV mem=0x%llx,0x%llx,%u\n", (unsigned long long)m->addr,
			(unsigned long long)m->size, m->type);
		if (m->type == E820_RAM)
			ram += m->size;
	}
	gprintf("KV ram_mib=%llu\n", (unsigned long long)(ram / MIB));
	if (boot->nr_mem == 0) {
		test_fail("memmap", "the boot protocol gave no memory map");
		return;
	}
	for (unsigned int i = 0; i < boot->nr_mem; i++) {
		const struct mem_range *m = &boot->mem[i];
		uint64_t probe[2] = { m->addr, m->addr + m->size - 8 };

		if (m->type != E820_RAM || m->size < 8)
			continue;
		for (unsigned int k = 0; k < 2; k++) {
			if (reserved(probe[k]))
				continue;
			checked++;
			if (check_word(probe[k]))
				continue;
			test_fail("memmap", "0x%llx", (unsigned long long)probe[k]);
			return;
		}
	}
	gprintf("KV mem_checked=%u\n", checked);
	test_pass("memmap");
}

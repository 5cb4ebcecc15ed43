/* Paging structures: Intel SDM vol. 3A, chapter 4. */
#include <errno.h>

#include "arch/x86/pagewalk.h"
#include "kvm/gmem.h"

#define CR0_PG	 (1ULL << 31)
#define CR4_PSE	 (1ULL << 4)
#define CR4_PAE	 (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10)

#define PTE_P	      1ULL
#define PTE_PS	      (1ULL << 7)
#define PTE_ADDR_MASK 0x000ffffffffff000ULL

static int read_entry(const struct gmem *gm, uint64_t addr, unsigned int size, uint64_t *e)
{
	uint32_t e32;

	*e = 0;
	if (size == 4) {
		if (gmem_read(gm, addr, &e32, 4) < 0)
			return -EFAULT;
		*e = e32;
		return 0;
	}
	return gmem_read(gm, addr, e, 8);
}

/*
 * Walks `levels` levels of 8-byte entries, 9 index bits each, from `table`.
 * Levels below the top may map a large page (PS) of 1 GiB or 2 MiB.
 */
static int walk64(const struct gmem *gm, uint64_t table, unsigned int levels, uint64_t gva,
		  uint64_t *gpa)
{
	for (unsigned int level = levels; level >= 1; level--) {
		unsigned int shift = 12 + 9 * (level - 1);
		uint64_t e;

		if (read_entry(gm, table + ((gva >> shift) & 511) * 8, 8, &e) < 0 || !(e & PTE_P))
			return -EFAULT;
		if (level == 1 || (level <= 3 && (e & PTE_PS))) {
			uint64_t page = (e & PTE_ADDR_MASK) & ~((1ULL << shift) - 1);

			*gpa = page | (gva & ((1ULL << shift) - 1));
			return 0;
		}
		table = e & PTE_ADDR_MASK;
	}
	return -EFAULT;
}

/* 32-bit paging without PAE: two levels of 4-byte entries, 4 MiB pages with PSE. */
static int walk32(const struct gmem *gm, const struct paging_regs *r, uint32_t gva, uint64_t *gpa)
{
	uint64_t pde, pte;

	if (read_entry(gm, (r->cr3 & 0xfffff000) + (gva >> 22) * 4, 4, &pde) < 0 || !(pde & PTE_P))
		return -EFAULT;
	if ((r->cr4 & CR4_PSE) && (pde & PTE_PS)) {
		*gpa = (pde & 0xffc00000) | (gva & 0x3fffff);
		return 0;
	}
	if (read_entry(gm, (pde & 0xfffff000) + ((gva >> 12) & 1023) * 4, 4, &pte) < 0 ||
	    !(pte & PTE_P))
		return -EFAULT;
	*gpa = (pte & 0xfffff000) | (gva & 0xfff);
	return 0;
}

int pagewalk(const struct gmem *gm, const struct paging_regs *r, uint64_t gva, uint64_t *gpa)
{
	uint64_t pdpte;

	if (!(r->cr0 & CR0_PG)) {
		*gpa = gva;
		return 0;
	}
	if (r->efer & EFER_LMA)
		return walk64(gm, r->cr3 & PTE_ADDR_MASK, (r->cr4 & CR4_LA57) ? 5 : 4, gva, gpa);
	if (!(r->cr4 & CR4_PAE))
		return walk32(gm, r, (uint32_t)gva, gpa);
	/* PAE: four PDPTEs at CR3, then two levels of 8-byte entries. */
	gva &= 0xffffffff;
	if (read_entry(gm, (r->cr3 & 0xffffffe0) + (gva >> 30) * 8, 8, &pdpte) < 0 ||
	    !(pdpte & PTE_P))
		return -EFAULT;
	return walk64(gm, pdpte & PTE_ADDR_MASK, 2, gva, gpa);
}

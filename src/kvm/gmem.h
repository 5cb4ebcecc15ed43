/*
 * Guest physical memory: the one checked translation from guest-physical
 * addresses to host pointers. Every access to guest RAM goes through here;
 * a range that is not wholly inside one RAM region yields -EFAULT / NULL.
 *
 * The region table is written before the VM starts and read-only afterwards,
 * so any thread may translate without a lock. Do not keep a pointer returned
 * by gmem_ptr() across a change of the table.
 */
#ifndef EMBER_KVM_GMEM_H
#define EMBER_KVM_GMEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define GMEM_MAX_REGIONS 8

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned int count;
};

/* Adds a RAM region; regions must not overlap. */
int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva) __must_check;

/* Host pointer for [gpa, gpa + len) when it lies in one region, else NULL. */
void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len);

int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, uint64_t len) __must_check;
int gmem_write(const struct gmem *gm, uint64_t gpa, const void *src, uint64_t len) __must_check;
int gmem_fill(const struct gmem *gm, uint64_t gpa, int byte, uint64_t len) __must_check;

/* The region containing `gpa`, or NULL. */
const struct gmem_region *gmem_find(const struct gmem *gm, uint64_t gpa);

#endif

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

#include <stdatomic.h>
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

/*
 * Pages of guest RAM written by ember's devices (KVM logs what the vCPUs
 * write; what devices write through host pointers it cannot see), indexed
 * by page offset into the one RAM mapping at `base`. Marking costs nothing
 * while `on` is false.
 */
struct gmem_dirty {
	atomic_bool on;
	uint8_t *base;
	uint64_t pages;
	_Atomic uint64_t *bits; /* allocated by the first start, freed by gmem_dirty_fini */
};

struct gmem {
	struct gmem_region regions[GMEM_MAX_REGIONS];
	unsigned int count;
	struct gmem_dirty dirty;
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

/* Starts logging device writes to the RAM mapping [base, base + size), all pages clean. */
int gmem_dirty_start(struct gmem *gm, void *base, uint64_t size) __must_check;
void gmem_dirty_stop(struct gmem *gm);
void gmem_dirty_fini(struct gmem *gm);

/* A device wrote [hva, hva + len) (a host pointer gmem_ptr gave): any thread. */
void gmem_mark_dirty(const struct gmem *gm, const void *hva, uint64_t len);

/* ORs the pages written since the last call into `bitmap` (one bit per page) and clears them. */
void gmem_dirty_take(struct gmem *gm, uint64_t *bitmap);

#endif

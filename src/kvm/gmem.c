#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/gmem.h"

int gmem_add_region(struct gmem *gm, uint64_t gpa, uint64_t size, void *hva)
{
	if (gm->count == GMEM_MAX_REGIONS)
		return -ENOSPC;
	if (size == 0 || range_overflows(gpa, size) || !hva)
		return -EINVAL;
	for (unsigned int i = 0; i < gm->count; i++)
		if (ranges_overlap(gm->regions[i].gpa, gm->regions[i].size, gpa, size))
			return -EEXIST;
	gm->regions[gm->count++] = (struct gmem_region){ .gpa = gpa, .size = size, .hva = hva };
	return 0;
}

const struct gmem_region *gmem_find(const struct gmem *gm, uint64_t gpa)
{
	for (unsigned int i = 0; i < gm->count; i++) {
		const struct gmem_region *r = &gm->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gmem_ptr(const struct gmem *gm, uint64_t gpa, uint64_t len)
{
	const struct gmem_region *r = gmem_find(gm, gpa);
	uint64_t off;

	if (!r)
		return NULL;
	off = gpa - r->gpa;
	/* Written so that no addition can wrap: off < size holds here. */
	if (len > r->size - off)
		return NULL;
	return r->hva + off;
}

int gmem_read(const struct gmem *gm, uint64_t gpa, void *dst, uint64_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct gmem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

int gmem_fill(const struct gmem *gm, uint64_t gpa, int byte, uint64_t len)
{
	void *p = gmem_ptr(gm, gpa, len);

	if (!p)
		return -EFAULT;
	memset(p, byte, len);
	return 0;
}

#define PAGE_SHIFT 12

int gmem_dirty_start(struct gmem *gm, void *base, uint64_t size)
{
	struct gmem_dirty *d = &gm->dirty;
	uint64_t words = ((size >> PAGE_SHIFT) + 63) / 64;

	if (!d->bits) {
		d->bits = calloc(words ? words : 1, sizeof(*d->bits));
		if (!d->bits)
			return -ENOMEM;
		d->base = base;
		d->pages = size >> PAGE_SHIFT;
	}
	for (uint64_t i = 0; i < words; i++)
		atomic_store(&d->bits[i], 0);
	atomic_store(&d->on, true);
	return 0;
}

void gmem_dirty_stop(struct gmem *gm)
{
	atomic_store(&gm->dirty.on, false);
}

/* Only once no device can mark any more (the VM's I/O threads stopped). */
void gmem_dirty_fini(struct gmem *gm)
{
	free((void *)gm->dirty.bits);
	gm->dirty = (struct gmem_dirty){ 0 };
}

void gmem_mark_dirty(const struct gmem *gm, const void *hva, uint64_t len)
{
	const struct gmem_dirty *d = &gm->dirty;
	const uint8_t *p = hva;
	uint64_t first, last;

	if (!atomic_load_explicit(&d->on, memory_order_acquire) || len == 0 || p < d->base)
		return;
	first = (uint64_t)(p - d->base) >> PAGE_SHIFT;
	last = ((uint64_t)(p - d->base) + len - 1) >> PAGE_SHIFT;
	for (uint64_t i = first; i <= last && i < d->pages; i++)
		atomic_fetch_or(&d->bits[i / 64], 1ULL << (i % 64));
}

void gmem_dirty_take(struct gmem *gm, uint64_t *bitmap)
{
	struct gmem_dirty *d = &gm->dirty;

	for (uint64_t i = 0; d->bits && i < (d->pages + 63) / 64; i++)
		bitmap[i] |= atomic_exchange(&d->bits[i], 0);
}

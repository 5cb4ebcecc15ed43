#include <errno.h>
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

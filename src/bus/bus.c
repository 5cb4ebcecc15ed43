#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"

void bus_init(struct bus *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
}

void bus_fini(struct bus *b)
{
	free(b->ranges);
	b->ranges = NULL;
	b->count = b->cap = 0;
}

static int bus_grow(struct bus *b)
{
	size_t cap = b->cap ? b->cap * 2 : 16;
	struct bus_range *r = realloc(b->ranges, cap * sizeof(*r));

	if (!r)
		return -ENOMEM;
	b->ranges = r;
	b->cap = cap;
	return 0;
}

/* Index of the first range whose base is above `addr`. */
static size_t bus_upper_bound(const struct bus *b, uint64_t addr)
{
	size_t lo = 0, hi = b->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque)
{
	size_t pos;
	int ret;

	if (b->frozen)
		return -EBUSY;
	if (len == 0 || range_overflows(base, len) || !ops)
		return -EINVAL;
	pos = bus_upper_bound(b, base);
	/* Sorted and disjoint, so only the neighbours can overlap. */
	if (pos > 0 && ranges_overlap(b->ranges[pos - 1].base, b->ranges[pos - 1].len, base, len))
		return -EEXIST;
	if (pos < b->count && ranges_overlap(b->ranges[pos].base, b->ranges[pos].len, base, len))
		return -EEXIST;
	if (b->count == b->cap) {
		ret = bus_grow(b);
		if (ret < 0)
			return ret;
	}
	memmove(&b->ranges[pos + 1], &b->ranges[pos], (b->count - pos) * sizeof(b->ranges[0]));
	b->ranges[pos] =
		(struct bus_range){ .base = base, .len = len, .ops = ops, .opaque = opaque };
	b->count++;
	return 0;
}

void bus_freeze(struct bus *b)
{
	b->frozen = true;
}

const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len)
{
	size_t pos = bus_upper_bound(b, addr);
	const struct bus_range *r;

	if (pos == 0 || len == 0)
		return NULL;
	r = &b->ranges[pos - 1];
	/* The access must lie wholly inside one range: no device sees a split access. */
	if (addr - r->base >= r->len || len > r->len - (addr - r->base))
		return NULL;
	return r;
}

int bus_read(const struct bus *b, uint64_t addr, void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r)
		return -ENOENT;
	if (r->ops->read)
		r->ops->read(r->opaque, addr - r->base, data, len);
	else
		memset(data, 0xff, len);
	return 0;
}

int bus_write(const struct bus *b, uint64_t addr, const void *data, uint32_t len)
{
	const struct bus_range *r = bus_find(b, addr, len);

	if (!r)
		return -ENOENT;
	if (r->ops->write)
		r->ops->write(r->opaque, addr - r->base, data, len);
	return 0;
}

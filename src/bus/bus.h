/*
 * An address bus for trapped guest accesses: port I/O or MMIO.
 *
 * Devices register non-overlapping ranges before the VM starts; the bus is
 * then frozen, so vCPU threads look ranges up (binary search over a sorted
 * array) without any lock. Handlers run on the vCPU thread that trapped and
 * protect their own state.
 */
#ifndef EMBER_BUS_BUS_H
#define EMBER_BUS_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"

struct bus_ops {
	/* `off` is relative to the range base; `len` is 1, 2, 4 or 8. */
	void (*read)(void *opaque, uint64_t off, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t off, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
};

struct bus {
	const char *name; /* "pio" or "mmio", for messages */
	struct bus_range *ranges;
	size_t count;
	size_t cap;
	bool frozen;
};

void bus_init(struct bus *b, const char *name);
void bus_fini(struct bus *b);

/* -EEXIST on overlap, -EINVAL on an empty or wrapping range, -EBUSY once frozen. */
int bus_register(struct bus *b, uint64_t base, uint64_t len, const struct bus_ops *ops,
		 void *opaque) __must_check;

void bus_freeze(struct bus *b);

/* The range that holds all of [addr, addr + len), or NULL. */
const struct bus_range *bus_find(const struct bus *b, uint64_t addr, uint32_t len);

/*
 * Dispatches one access. Returns 0 when a device took it, -ENOENT when no
 * range covers it (the caller decides: reads then return all ones).
 */
int bus_read(const struct bus *b, uint64_t addr, void *data, uint32_t len);
int bus_write(const struct bus *b, uint64_t addr, const void *data, uint32_t len);

#endif

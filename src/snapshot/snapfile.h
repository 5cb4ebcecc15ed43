/*
 * The snapshot file: a versioned, checksummed container of tagged records
 * (vCPU registers, interrupt controllers, devices, the VM's description).
 * Guest memory is not in it: it goes to its own file, page for page, so that
 * a restore can map it instead of reading it.
 *
 * Layout, little-endian: a 32-byte header (magic "EMBERSNP", format version,
 * architecture, body length, CRC-32 of the body, CRC-32 of the header's first
 * 28 bytes), then the body: records of { u32 tag, u32 instance, u64 length,
 * data padded to 8 bytes }. A reader checks all of it before any record is
 * used, so a truncated, corrupt or foreign file is refused with one clear
 * message and nothing of it reaches the VM.
 */
#ifndef EMBER_SNAPSHOT_SNAPFILE_H
#define EMBER_SNAPSHOT_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

#define SNAP_MAGIC	   "EMBERSNP"
#define SNAP_VERSION	   1
#define SNAP_ARCH_X86_64   1
#define SNAP_HEADER_SIZE   32
#define SNAP_MAX_FILE_SIZE (64u << 20) /* far above any real VM's state */

#define SNAP_TAG(a, b, c, d)                                                                       \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))

/* Collects records in memory; the first allocation failure sticks in `error`. */
struct snapw {
	uint8_t *buf;
	size_t len, cap;
	int error;
};

void snapw_init(struct snapw *w);
void snapw_put(struct snapw *w, uint32_t tag, uint32_t inst, const void *data, size_t len);
/* Writes header and body to `fd` from its current position. */
int snapw_write(struct snapw *w, int fd, struct err *err) __must_check;
/* The whole file image (header and body) in a malloc'd buffer, for tests and fuzzers. */
int snapw_image(struct snapw *w, uint8_t **out, size_t *len) __must_check;
void snapw_fini(struct snapw *w);

/* A checked snapshot body. */
struct snapr {
	uint8_t *body;
	size_t len;
};

/* Checks a whole file image and keeps a copy of its body. */
int snapr_parse(struct snapr *r, const void *file, size_t len, struct err *err) __must_check;
/* Reads and checks the file behind `fd` (at most SNAP_MAX_FILE_SIZE bytes). */
int snapr_load(struct snapr *r, int fd, struct err *err) __must_check;
void snapr_fini(struct snapr *r);

/* The record (tag, inst): its data and length, or NULL when there is none. */
const void *snapr_find(const struct snapr *r, uint32_t tag, uint32_t inst, size_t *len);
/* Copies record (tag, inst), which must be exactly `len` bytes; -EINVAL otherwise. */
int snapr_get(const struct snapr *r, uint32_t tag, uint32_t inst, void *dst, size_t len,
	      const char *what, struct err *err) __must_check;

#endif

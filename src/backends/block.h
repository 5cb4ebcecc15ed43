/*
 * A disk image (raw file or block device) served through io_uring.
 *
 * The owner (virtio-blk's I/O thread) queues requests tagged with a cookie,
 * submits them in batches and reaps completions when `efd` becomes readable.
 * Single-threaded: only the owning thread touches the ring.
 */
#ifndef EMBER_BACKENDS_BLOCK_H
#define EMBER_BACKENDS_BLOCK_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "util/compiler.h"
#include "util/err.h"

struct block_opts {
	const char *path;
	bool readonly;
	bool direct; /* O_DIRECT: bypass the host page cache */
	unsigned int depth;
};

struct block {
	int fd;
	uint64_t size; /* bytes */
	bool readonly;
	bool direct;
	struct io_uring ring;
	bool ring_ready;
	int efd; /* readable when completions are waiting */
	unsigned int inflight;
};

/*
 * Opens and locks the image (shared for read-only, exclusive otherwise, so
 * two VMs cannot write one image) and sets up the ring.
 */
int block_open(struct block *b, const struct block_opts *o, struct err *err) __must_check;
void block_close(struct block *b);

/*
 * Lets go of the image's lock (true), so that a migration's receiver can
 * open it, or takes it back (false; -EWOULDBLOCK if someone else has it).
 */
int block_handover(struct block *b, bool release) __must_check;

/* Queue one operation; -EBUSY when the ring is full (submit, then retry). */
int block_readv(struct block *b, const struct iovec *iov, unsigned int n, uint64_t off,
		void *cookie) __must_check;
int block_writev(struct block *b, const struct iovec *iov, unsigned int n, uint64_t off,
		 void *cookie) __must_check;
/* Starts after every operation queued before it has completed. */
int block_flush(struct block *b, void *cookie) __must_check;
/* Deallocates (punch hole) or zeroes a range; `unmap` lets zeroing deallocate. */
int block_discard(struct block *b, uint64_t off, uint64_t len, void *cookie) __must_check;
int block_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap,
		       void *cookie) __must_check;

int block_submit(struct block *b);

/*
 * Calls `done` for every completed operation with its cookie and result
 * (bytes, or -errno). `wait` blocks until everything in flight completed.
 */
void block_reap(struct block *b, bool wait, void (*done)(void *cookie, int res, void *ctx),
		void *ctx);

#endif

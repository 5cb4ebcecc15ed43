/*
 * virtio-blk (virtio 1.2, 5.2) over a raw image (backends/block.h): read,
 * write, flush, get-id, discard and write-zeroes, many requests in flight.
 */
#ifndef EMBER_VIRTIO_BLK_H
#define EMBER_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvm/gmem.h"
#include "util/compiler.h"
#include "util/err.h"
#include "virtio/virtio.h"
#include "virtio/virtqueue.h"

#define VIRTIO_BLK_F_SEG_MAX	  2
#define VIRTIO_BLK_F_RO		  5
#define VIRTIO_BLK_F_FLUSH	  9
#define VIRTIO_BLK_F_DISCARD	  13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_T_IN		  0
#define VIRTIO_BLK_T_OUT	  1
#define VIRTIO_BLK_T_FLUSH	  4
#define VIRTIO_BLK_T_GET_ID	  8
#define VIRTIO_BLK_T_DISCARD	  11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define VIRTIO_BLK_SEG_MAX  126 /* data segments per request */

struct virtio_blk_opts {
	const char *path;
	bool readonly;
	bool direct;		    /* cache=none */
	const char *serial;	    /* what GET_ID returns, at most 20 bytes; NULL: none */
	uint64_t bw;		    /* rate limit in bytes/s of data; 0: none */
	uint64_t iops;		    /* rate limit in requests/s; 0: none */
	uint64_t (*clock_ns)(void); /* monotonic time for the limits; NULL: CLOCK_MONOTONIC */
};

int virtio_blk_create(const struct gmem *gm, const struct virtio_blk_opts *o,
		      struct virtio_dev **out, struct err *err) __must_check;

/* What a request asks for, once its chain was checked (virtio_blk_parse). */
enum blk_action {
	BLK_DONE, /* nothing to do: complete with `status` now */
	BLK_READ,
	BLK_WRITE,
	BLK_FLUSH,
	BLK_GET_ID,
	BLK_DISCARD,
	BLK_WRITE_ZEROES,
};

struct blk_request {
	enum blk_action action;
	uint8_t status;	     /* BLK_DONE's answer */
	uint8_t *status_ptr; /* the last device-writable byte of the chain */
	uint64_t offset;     /* bytes into the disk */
	uint64_t len;	     /* bytes of data or of the range */
	bool unmap;
	unsigned int ndata; /* data segments, in the caller's array */
};

struct blk_limits {
	uint64_t sectors;
	bool readonly;
	uint64_t features; /* negotiated */
};

/*
 * Checks one chain against the spec and the disk and says what to do.
 * -EINVAL when the chain has no status byte to answer in: the driver broke
 * the rules and the device needs a reset. Any other problem (bad header,
 * range past the end, unaligned length, write to a read-only disk) becomes
 * BLK_DONE with an error status.
 */
int virtio_blk_parse(const struct vq_chain *c, const struct blk_limits *lim, struct blk_request *r,
		     struct iovec *data, unsigned int cap) __must_check;

#endif

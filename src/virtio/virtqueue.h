/*
 * Split virtqueues (virtio 1.2, 2.7) seen from the device: the one checked
 * walker of descriptor chains that every device uses.
 *
 * The rings live in guest RAM, which the guest may change at any moment:
 * every descriptor is copied once before it is checked and used, every
 * address and length is bounded by guest RAM (through gmem), a chain may not
 * be longer than the queue (so loops end), device-readable buffers must come
 * before device-writable ones, and indirect tables follow the spec's rules.
 * A chain that breaks a rule makes vq_pop() fail with -EINVAL: the caller
 * then marks the device as needing a reset.
 */
#ifndef EMBER_VIRTIO_VIRTQUEUE_H
#define EMBER_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "kvm/gmem.h"
#include "util/compiler.h"

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY	   1

#define VIRTQ_MAX_SIZE 32768 /* the largest split queue (2.7) */

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtqueue {
	/* Set by the driver through the transport. */
	uint16_t max_size;
	uint16_t size;
	bool ready;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* Resolved by vq_activate(). */
	bool event_idx;
	bool indirect;
	const struct gmem *gmem;
	struct virtq_desc *desc;
	uint16_t *avail; /* flags, idx, ring[size], used_event */
	uint16_t *used;	 /* flags, idx, then ring of struct virtq_used_elem, avail_event */

	uint16_t last_avail;	 /* the next available entry the device takes */
	uint16_t avail_shadow;	 /* the driver's avail index as vq_pop() last read it */
	uint16_t used_idx;	 /* the next used entry the device fills */
	uint16_t signalled_used; /* used_idx when the driver was last considered */
};

/* One request: device-readable segments first, then device-writable ones. */
struct vq_chain {
	uint16_t head;
	unsigned int n_out; /* iov[0 .. n_out) the device reads */
	unsigned int n_in;  /* iov[n_out .. n_out + n_in) the device writes */
	uint32_t out_len;
	uint32_t in_len;
	struct iovec *iov; /* the caller's array of `cap` entries */
	unsigned int cap;
};

/* Forgets everything the driver set (device reset). */
void vq_reset(struct virtqueue *vq);

/*
 * Checks the ring addresses and size the driver gave and maps the rings.
 * -EINVAL for a size that is not a power of two within max_size, misaligned
 * rings, or rings not wholly in guest RAM.
 */
int vq_activate(struct virtqueue *vq, const struct gmem *gm, bool event_idx,
		bool indirect) __must_check;

/* Whether the driver made entries available that the device has not taken. */
bool vq_has_avail(struct virtqueue *vq);

/*
 * Takes the next available chain. Returns 1 with `c` filled, 0 when the
 * ring is empty, -EINVAL when the driver broke a rule (the entry is not
 * consumed), -E2BIG when the chain has more segments than `c->cap`.
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c) __must_check;

/*
 * The usual device loop's step: the next chain (1, with notifications off
 * while the device works), or 0 once the ring is empty and notifications
 * are back on with nothing having slipped in between; < 0 as vq_pop().
 */
int vq_next(struct virtqueue *vq, struct vq_chain *c) __must_check;

/* Gives back the last `n` chains taken and not pushed: they will be taken again. */
void vq_unpop(struct virtqueue *vq, uint16_t n);

/* Returns the chain `head` to the driver with `written` bytes filled. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/* Counts the used ring as written (migration's last round: the device writes it at any time). */
void vq_mark_used_ring(struct virtqueue *vq);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * time this returned true (VIRTQ_AVAIL_F_NO_INTERRUPT or used_event).
 */
bool vq_should_signal(struct virtqueue *vq);

/*
 * Asks the driver for a notification when it adds entries (avail_event or
 * the NO_NOTIFY flag) and returns true if some arrived meanwhile: then the
 * device must take them now, as no notification will come for them.
 */
bool vq_enable_notify(struct virtqueue *vq);

/*
 * For a device that holds work because the available entries are too few
 * (a frame bigger than the receive buffers posted so far): asks for a
 * notification as soon as the driver publishes any further entry, and
 * returns true if one arrived meanwhile.
 */
bool vq_want_more(struct virtqueue *vq);
void vq_disable_notify(struct virtqueue *vq);

/* iovec helpers: copy between a segment list and a flat buffer at `off`. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
		    size_t len);
size_t iov_memset(const struct iovec *iov, unsigned int n, size_t off, int c, size_t len);
/*
 * Fills `dst` with the segments that cover [off, off + len) of `src`.
 * Returns how many, or -E2BIG when they need more than `cap` entries.
 */
int iov_slice(const struct iovec *src, unsigned int n, size_t off, size_t len, struct iovec *dst,
	      unsigned int cap) __must_check;

#endif

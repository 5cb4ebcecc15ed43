/*
 * What the device fuzz targets share: a device behind the real virtio-mmio
 * transport, driven as a guest would (tests/unit/vmmio.h) but without the
 * I/O thread: the target calls the queue handlers itself, so a run is one
 * deterministic pass. Inputs are lists of records, each a 2-byte length, a
 * segment count (1 to 4) and that many bytes, laid out as one chain of
 * device-readable descriptors.
 */
#ifndef EMBER_FUZZ_VIRTIO_HARNESS_H
#define EMBER_FUZZ_VIRTIO_HARNESS_H

#include "fuzz.h"
#include "vmmio.h"

#define FH_QSIZE      64
#define FH_RX_GPA     0x20000
#define FH_RX_BUF     0x1000
#define FH_TX_GPA     0x80000
#define FH_TX_MAX     0x70000
#define FH_RECORD_MAX 0x4000

struct fuzz_harness {
	struct vdriver rx, tx;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
};

static inline void fh_attach(struct fuzz_harness *h, struct virtio_dev *dev)
{
	h->dev = dev;
	if (virtio_mmio_create(dev, &h->t) < 0)
		abort();
}

/* A fresh driver: RAM cleared, the device reset and set up with `features`. */
static inline void fh_start(struct fuzz_harness *h, uint64_t features, unsigned int nqueues)
{
	memset(h->rx.ram, 0, VD_RAM_SIZE);
	h->rx.avail_idx = h->rx.used_seen = h->tx.avail_idx = h->tx.used_seen = 0;
	FUZZ_CHECK(vm_setup(h->t, &h->rx, VIRTIO_BIT(VIRTIO_F_VERSION_1) | features, nqueues) ==
		   15);
}

static inline void fh_post_writable(struct fuzz_harness *h, unsigned int n)
{
	for (uint16_t i = 0; i < n && i < FH_QSIZE; i++) {
		vd_set_desc(&h->rx, i, FH_RX_GPA + i * FH_RX_BUF, FH_RX_BUF, VIRTQ_DESC_F_WRITE, 0);
		vd_publish(&h->rx, i);
	}
}

/*
 * The next record of the input: its bytes and segment count; false at the
 * end. `*p` and `*size` move past it.
 */
static inline bool fh_record(const uint8_t **p, size_t *size, const uint8_t **data, size_t *len,
			     unsigned int *segs)
{
	if (*size < 3)
		return false;
	*len = (size_t)((*p)[0] | (*p)[1] << 8) % FH_RECORD_MAX;
	*segs = 1 + (*p)[2] % 4;
	*p += 3;
	*size -= 3;
	*len = *len < *size ? *len : *size;
	*data = *p;
	*p += *len;
	*size -= *len;
	return true;
}

/* Lays the records out as readable chains on queue `vd`; returns how many. */
static inline unsigned int fh_post_records(struct vdriver *vd, const uint8_t *p, size_t size)
{
	const uint8_t *data;
	unsigned int segs, n = 0;
	uint16_t desc = 0;
	uint64_t off = 0;
	size_t len;

	while (desc + 4 <= FH_QSIZE && fh_record(&p, &size, &data, &len, &segs)) {
		uint16_t head = desc;
		size_t done = 0;

		if (off + len > FH_TX_MAX)
			break;
		memcpy(vd_ptr(vd, FH_TX_GPA + off), data, len);
		for (unsigned int s = 0; s < segs; s++, desc++) {
			size_t part = s + 1 == segs ? len - done : len / segs;

			vd_set_desc(vd, desc, FH_TX_GPA + off + done, (uint32_t)part,
				    s + 1 < segs ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(desc + 1));
			done += part;
		}
		vd_publish(vd, head);
		off += (len + 15) & ~15ULL;
		n++;
	}
	return n;
}

static inline void fh_notify(struct fuzz_harness *h, unsigned int q)
{
	pthread_mutex_lock(&h->dev->lock);
	if (h->dev->active && h->dev->queues[q].ready)
		h->dev->ops->queue_notify(h->dev, q);
	pthread_mutex_unlock(&h->dev->lock);
}

/* The rings were well formed: whatever the records said, the device still serves. */
static inline void fh_check_alive(struct fuzz_harness *h)
{
	FUZZ_CHECK(!(vm_rd(h->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
}

static inline void fh_reset(struct fuzz_harness *h)
{
	vm_wr(h->t, 0x70, 0);
}

#endif

/*
 * The virtio-mmio transport, version 2 (virtio 1.2, 4.2): one 4 KiB window
 * of registers per device, an eventfd per queue for notifications and one
 * eventfd for the interrupt line.
 *
 * The transport never talks to KVM: whoever places it (the machine) binds
 * the queue eventfds as ioeventfds on the QueueNotify register and the
 * interrupt eventfd as an irqfd. A QueueNotify write that still traps (no
 * ioeventfd) is turned into the same eventfd write, so both paths meet.
 */
#ifndef EMBER_VIRTIO_MMIO_H
#define EMBER_VIRTIO_MMIO_H

#include <stdatomic.h>
#include <stdint.h>

#include "bus/bus.h"
#include "util/compiler.h"
#include "util/err.h"
#include "virtio/virtio.h"

#define VIRTIO_MMIO_SIZE	 0x1000
#define VIRTIO_MMIO_MAGIC	 0x74726976 /* "virt" */
#define VIRTIO_MMIO_VENDOR	 0x52424d45 /* "EMBR" */
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050

struct virtio_mmio {
	struct virtio_dev *dev; /* borrowed; outlives the transport's use */
	uint32_t status;
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint64_t drv_features;
	uint32_t queue_sel;
	atomic_uint isr;
	int irq_fd;
	int *notify_fds; /* one per queue */
};

extern const struct bus_ops virtio_mmio_ops;

/* Creates the transport for `d` and its eventfds; the device thread watches the queues. */
int virtio_mmio_create(struct virtio_dev *d, struct virtio_mmio **out) __must_check;
void virtio_mmio_destroy(struct virtio_mmio *t);

struct snapw;
struct snapr;

/*
 * The transport's and the queues' state as record `inst` of a snapshot,
 * after the device drained its requests in flight (VM paused).
 */
int virtio_mmio_save(struct virtio_mmio *t, struct snapw *w, uint32_t inst,
		     struct err *err) __must_check;
/*
 * Puts a freshly created device back in the saved state: rings mapped again
 * (and checked, as when the driver set them), the device activated if the
 * driver had, its queues looked at once.
 */
int virtio_mmio_restore(struct virtio_mmio *t, const struct snapr *r, uint32_t inst,
			struct err *err) __must_check;

#endif

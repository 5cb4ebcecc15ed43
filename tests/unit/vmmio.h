/*
 * Drives a virtio-mmio transport the way a guest driver does, through its
 * register window, for unit tests of the transport and of devices.
 */
#ifndef EMBER_TESTS_VMMIO_H
#define EMBER_TESTS_VMMIO_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "vdriver.h"
#include "virtio/mmio.h"

/* A clock the test moves by hand, for devices with rate limits. */
static inline uint64_t *fake_now(void)
{
	static uint64_t now;

	return &now;
}

static inline uint64_t fake_clock(void)
{
	return __atomic_load_n(fake_now(), __ATOMIC_SEQ_CST);
}

static inline void fake_clock_set(uint64_t ns)
{
	__atomic_store_n(fake_now(), ns, __ATOMIC_SEQ_CST);
}

/* Puts `dev` behind a new transport and starts its I/O thread. */
static inline struct virtio_mmio *vm_attach(struct virtio_dev *dev)
{
	struct virtio_mmio *t;

	if (virtio_mmio_create(dev, &t) < 0 || virtio_dev_start(dev) < 0)
		abort();
	return t;
}

/* Stops the I/O thread, then frees the transport and the device. */
static inline void vm_detach(struct virtio_dev *dev, struct virtio_mmio *t)
{
	virtio_dev_stop(dev);
	virtio_mmio_destroy(t);
	dev->ops->destroy(dev);
}

static inline uint32_t vm_rd(struct virtio_mmio *t, uint64_t off)
{
	uint32_t v;

	virtio_mmio_ops.read(t, off, &v, 4);
	return v;
}

static inline void vm_wr(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	virtio_mmio_ops.write(t, off, &v, 4);
}

/* Status, features, queues, DRIVER_OK (3.1.1); returns the final status. */
static inline uint32_t vm_setup(struct virtio_mmio *t, struct vdriver *vd, uint64_t features,
				unsigned int nqueues)
{
	vm_wr(t, 0x70, 0);
	vm_wr(t, 0x70, 1);
	vm_wr(t, 0x70, 1 | 2);
	vm_wr(t, 0x24, 0);
	vm_wr(t, 0x20, (uint32_t)features);
	vm_wr(t, 0x24, 1);
	vm_wr(t, 0x20, (uint32_t)(features >> 32));
	vm_wr(t, 0x70, 1 | 2 | 8);
	if (!(vm_rd(t, 0x70) & 8))
		return vm_rd(t, 0x70);
	/* Queue q's rings sit 0x4000 apart after the first set. */
	for (unsigned int q = 0; q < nqueues; q++) {
		uint64_t shift = 0x4000ULL * q;

		vm_wr(t, 0x30, q);
		vm_wr(t, 0x38, vd->size);
		vm_wr(t, 0x80, (uint32_t)(VD_DESC_GPA + shift));
		vm_wr(t, 0x84, 0);
		vm_wr(t, 0x90, (uint32_t)(VD_AVAIL_GPA + shift));
		vm_wr(t, 0x94, 0);
		vm_wr(t, 0xa0, (uint32_t)(VD_USED_GPA + shift));
		vm_wr(t, 0xa4, 0);
		vm_wr(t, 0x44, 1);
	}
	vm_wr(t, 0x70, 1 | 2 | 8 | 4);
	return vm_rd(t, 0x70);
}

/* Waits up to 5 s for the interrupt eventfd; returns the interrupt status, 0 on timeout. */
static inline uint32_t vm_wait_irq(struct virtio_mmio *t)
{
	struct pollfd p = { .fd = t->irq_fd, .events = POLLIN };
	uint64_t v;
	uint32_t isr;

	if (poll(&p, 1, 5000) != 1)
		return 0;
	if (read(t->irq_fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	isr = vm_rd(t, 0x60);
	vm_wr(t, 0x64, isr);
	return isr;
}

/*
 * Waits for the interrupt that announces the next used element and takes
 * it: -1 when no interrupt came (a device that forgets to signal fails).
 */
static inline int vm_wait_used(struct virtio_mmio *t, struct vdriver *vd, uint32_t *len)
{
	if (!(vm_wait_irq(t) & VIRTIO_INT_USED))
		return -1;
	return vd_take_used(vd, len);
}

#endif

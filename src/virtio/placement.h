/*
 * Placing virtio devices in a VM: each device from the configuration gets a
 * virtio-mmio window and an interrupt line the architecture chose, its queue
 * notifications become KVM ioeventfds and its interrupt a KVM irqfd, and its
 * I/O thread starts. The guest learns of the windows from its command line.
 */
#ifndef EMBER_VIRTIO_PLACEMENT_H
#define EMBER_VIRTIO_PLACEMENT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/cmdline.h"
#include "config/vm_config.h"
#include "util/compiler.h"
#include "util/err.h"

struct vm;
struct virtio_dev;
struct virtio_mmio;

struct virtio_slot {
	struct virtio_dev *dev;
	struct virtio_mmio *mmio;
	uint64_t base;
	uint32_t gsi;
};

struct virtio_devices {
	struct virtio_slot *slots;
	unsigned int count;
};

/* Where the architecture puts device `i`: its window base and GSI. */
struct virtio_windows {
	uint64_t base;
	uint64_t stride;
	const uint32_t *gsis;
	unsigned int max;
};

int virtio_devices_create(struct vm *vm, const struct vm_config *cfg,
			  const struct virtio_windows *win, struct virtio_devices *out,
			  struct err *err) __must_check;

/* Parks (or lets go) every device's I/O thread: see virtio_dev_pause(). */
void virtio_devices_pause(struct virtio_devices *devs, bool pause);
/* Stops the I/O threads and frees everything, in reverse order (vCPUs stopped). */
void virtio_devices_destroy(struct virtio_devices *devs);

/*
 * Every device's handover (see virtio_dev_ops): letting go stops at the
 * first failure, taking back tries every device; the first error.
 */
int virtio_devices_handover(struct virtio_devices *devs, bool release) __must_check;
/* Every device's hold_writes (see virtio_dev_ops). */
void virtio_devices_hold_writes(struct virtio_devices *devs, bool hold);

/* Appends "virtio_mmio.device=4K@0xBASE:GSI" for each device, in order. */
int virtio_devices_cmdline(const struct virtio_devices *devs, struct cmdline *cl) __must_check;

#endif

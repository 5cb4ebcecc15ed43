#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm/vm.h"
#include "virtio/blk.h"
#include "virtio/console.h"
#include "virtio/mmio.h"
#include "virtio/net.h"
#include "virtio/placement.h"
#include "virtio/rng.h"
#include "virtio/vsock.h"

static size_t virtio_console_push_cb(void *dev, const uint8_t *data, size_t len)
{
	return virtio_console_push(dev, data, len);
}

static int virtio_create_device(struct vm *vm, const struct vm_device *d, struct virtio_dev **out,
				struct err *err)
{
	struct virtio_blk_opts bo;
	struct virtio_net_opts no;
	struct virtio_vsock_opts vo;
	int ret;

	switch (d->kind) {
	case VM_DEVICE_DISK:
		bo = (struct virtio_blk_opts){ .path = d->disk.path,
					       .readonly = d->disk.readonly,
					       .direct = d->disk.direct,
					       .serial = d->disk.serial,
					       .bw = d->disk.bw,
					       .iops = d->disk.iops };
		return virtio_blk_create(&vm->gmem, &bo, out, err);
	case VM_DEVICE_NET:
		no = (struct virtio_net_opts){ .tap = d->net.tap,
					       .has_mac = d->net.has_mac,
					       .bw = d->net.bw,
					       .pps = d->net.pps };
		memcpy(no.mac, d->net.mac, sizeof(no.mac));
		return virtio_net_create(&vm->gmem, &no, out, err);
	case VM_DEVICE_CONSOLE:
		ret = virtio_console_create(&vm->gmem, STDOUT_FILENO, out);
		if (ret < 0)
			return err_set(err, ret, "virtio-console: %s", strerror(-ret));
		vm->console = (struct console_in){ .push = virtio_console_push_cb,
						   .space_fd = virtio_console_space_fd(*out),
						   .dev = *out };
		return 0;
	case VM_DEVICE_RNG:
		ret = virtio_rng_create(&vm->gmem, out);
		return ret < 0 ? err_set(err, ret, "virtio-rng: %s", strerror(-ret)) : 0;
	case VM_DEVICE_VSOCK:
		if (!d->vsock.uds)
			return virtio_vhost_vsock_create(&vm->gmem, d->vsock.cid, out, err);
		vo = (struct virtio_vsock_opts){ .guest_cid = d->vsock.cid, .uds = d->vsock.uds };
		return virtio_vsock_create(&vm->gmem, &vo, out, err);
	}
	return err_set(err, -EINVAL, "unknown device kind %d", (int)d->kind);
}

/* Window, kernel-side notifications and interrupt, then the I/O thread. */
static int virtio_place(struct vm *vm, struct virtio_slot *s, struct err *err)
{
	struct virtio_dev *d = s->dev;
	int ret;

	ret = virtio_mmio_create(d, &s->mmio);
	if (ret < 0)
		return err_set(err, ret, "%s: %s", d->name, strerror(-ret));
	ret = bus_register(&vm->mmio_bus, s->base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, s->mmio);
	if (ret < 0)
		return err_set(err, ret, "%s: cannot place it at 0x%llx: %s", d->name,
			       (unsigned long long)s->base, strerror(-ret));
	for (unsigned int q = 0; q < d->num_queues; q++) {
		ret = vm_add_ioeventfd(vm, s->base + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
				       s->mmio->notify_fds[q], err);
		if (ret < 0)
			return ret;
	}
	ret = vm_add_irqfd(vm, s->gsi, s->mmio->irq_fd, err);
	if (ret < 0)
		return ret;
	ret = virtio_dev_start(d);
	return ret < 0 ? err_set(err, ret, "%s: I/O thread: %s", d->name, strerror(-ret)) : 0;
}

int virtio_devices_create(struct vm *vm, const struct vm_config *cfg,
			  const struct virtio_windows *win, struct virtio_devices *out,
			  struct err *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	if (cfg->nr_devices > win->max)
		return err_set(err, -E2BIG, "%u virtio devices given; this machine has room for %u",
			       cfg->nr_devices, win->max);
	if (!cfg->nr_devices)
		return 0;
	out->slots = calloc(cfg->nr_devices, sizeof(*out->slots));
	if (!out->slots)
		return err_set(err, -ENOMEM, "out of memory");
	for (unsigned int i = 0; i < cfg->nr_devices; i++) {
		struct virtio_slot *s = &out->slots[i];

		s->base = win->base + i * win->stride;
		s->gsi = win->gsis[i];
		ret = virtio_create_device(vm, &cfg->devices[i], &s->dev, err);
		if (ret < 0)
			return ret;
		out->count++;
		ret = virtio_place(vm, s, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

void virtio_devices_pause(struct virtio_devices *devs, bool pause)
{
	for (unsigned int i = 0; i < devs->count; i++) {
		if (pause)
			virtio_dev_pause(devs->slots[i].dev);
		else
			virtio_dev_resume(devs->slots[i].dev);
	}
}

int virtio_devices_handover(struct virtio_devices *devs, bool release)
{
	int ret = 0;

	/* Letting go stops at the first failure; taking back goes on with the others. */
	for (unsigned int i = 0; i < devs->count && (ret == 0 || !release); i++) {
		struct virtio_dev *d = devs->slots[i].dev;
		int r = d->ops->handover ? d->ops->handover(d, release) : 0;

		if (ret == 0)
			ret = r;
	}
	return ret;
}

void virtio_devices_hold_writes(struct virtio_devices *devs, bool hold)
{
	for (unsigned int i = 0; i < devs->count; i++) {
		struct virtio_dev *d = devs->slots[i].dev;

		if (!d->ops->hold_writes)
			continue;
		pthread_mutex_lock(&d->lock);
		d->ops->hold_writes(d, hold);
		pthread_mutex_unlock(&d->lock);
	}
}

void virtio_devices_destroy(struct virtio_devices *devs)
{
	for (unsigned int i = devs->count; i-- > 0;) {
		struct virtio_slot *s = &devs->slots[i];

		virtio_dev_stop(s->dev);
		virtio_mmio_destroy(s->mmio);
		s->dev->ops->destroy(s->dev);
	}
	free(devs->slots);
	memset(devs, 0, sizeof(*devs));
}

int virtio_devices_cmdline(const struct virtio_devices *devs, struct cmdline *cl)
{
	char word[64];
	int ret = 0;

	for (unsigned int i = 0; i < devs->count && ret == 0; i++) {
		snprintf(word, sizeof(word), "virtio_mmio.device=4K@0x%llx:%u",
			 (unsigned long long)devs->slots[i].base, devs->slots[i].gsi);
		ret = cmdline_append(cl, word);
	}
	return ret;
}

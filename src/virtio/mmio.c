#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "snapshot/snapfile.h"
#include "util/log.h"
#include "virtio/mmio.h"

/* Register offsets (4.2.2). */
#define REG_MAGIC		0x000
#define REG_VERSION		0x004
#define REG_DEVICE_ID		0x008
#define REG_VENDOR_ID		0x00c
#define REG_DEVICE_FEATURES	0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES	0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL		0x030
#define REG_QUEUE_NUM_MAX	0x034
#define REG_QUEUE_NUM		0x038
#define REG_QUEUE_READY		0x044
#define REG_INTERRUPT_STATUS	0x060
#define REG_INTERRUPT_ACK	0x064
#define REG_STATUS		0x070
#define REG_QUEUE_DESC_LOW	0x080
#define REG_QUEUE_DESC_HIGH	0x084
#define REG_QUEUE_DRIVER_LOW	0x090
#define REG_QUEUE_DRIVER_HIGH	0x094
#define REG_QUEUE_DEVICE_LOW	0x0a0
#define REG_QUEUE_DEVICE_HIGH	0x0a4
#define REG_SHM_LEN_LOW		0x0b0
#define REG_SHM_LEN_HIGH	0x0b4
#define REG_SHM_BASE_LOW	0x0b8
#define REG_SHM_BASE_HIGH	0x0bc
#define REG_CONFIG_GENERATION	0x0fc
#define REG_CONFIG		0x100

#define MMIO_VERSION 2

static void mmio_signal(struct virtio_mmio *t, unsigned int bits)
{
	atomic_fetch_or(&t->isr, bits);
	eventfd_write(t->irq_fd, 1); /* EAGAIN only: an interrupt is pending already */
}

static void mmio_signal_used(void *opaque, unsigned int q)
{
	mmio_signal(opaque, VIRTIO_INT_USED);
}

static void mmio_signal_config(void *opaque)
{
	mmio_signal(opaque, VIRTIO_INT_CONFIG);
}

static void mmio_set_needs_reset(void *opaque)
{
	struct virtio_mmio *t = opaque;

	t->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	/* Only a driver that reached DRIVER_OK is told by interrupt (2.1.2). */
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		mmio_signal_config(t);
}

static const struct virtio_transport_ops mmio_transport_ops = {
	.signal_used = mmio_signal_used,
	.signal_config = mmio_signal_config,
	.set_needs_reset = mmio_set_needs_reset,
};

static struct virtqueue *mmio_queue(struct virtio_mmio *t)
{
	struct virtio_dev *d = t->dev;

	return t->queue_sel < d->num_queues ? &d->queues[t->queue_sel] : NULL;
}

static uint32_t mmio_read_queue_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtqueue *vq = mmio_queue(t);

	if (!vq)
		return 0;
	switch (off) {
	case REG_QUEUE_NUM_MAX:
		return vq->max_size;
	case REG_QUEUE_NUM:
		return vq->size;
	case REG_QUEUE_READY:
		return vq->ready;
	case REG_QUEUE_DESC_LOW:
		return (uint32_t)vq->desc_gpa;
	case REG_QUEUE_DESC_HIGH:
		return (uint32_t)(vq->desc_gpa >> 32);
	case REG_QUEUE_DRIVER_LOW:
		return (uint32_t)vq->avail_gpa;
	case REG_QUEUE_DRIVER_HIGH:
		return (uint32_t)(vq->avail_gpa >> 32);
	case REG_QUEUE_DEVICE_LOW:
		return (uint32_t)vq->used_gpa;
	case REG_QUEUE_DEVICE_HIGH:
		return (uint32_t)(vq->used_gpa >> 32);
	}
	return 0;
}

static uint32_t mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct virtio_dev *d = t->dev;

	switch (off) {
	case REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:
		return MMIO_VERSION;
	case REG_DEVICE_ID:
		return d->device_id;
	case REG_VENDOR_ID:
		return VIRTIO_MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		return t->dev_features_sel > 1
			       ? 0
			       : (uint32_t)(d->host_features >> (32 * t->dev_features_sel));
	case REG_INTERRUPT_STATUS:
		return atomic_load(&t->isr);
	case REG_STATUS:
		return t->status;
	case REG_SHM_LEN_LOW:
	case REG_SHM_LEN_HIGH:
		return 0xffffffff; /* no shared memory regions */
	case REG_CONFIG_GENERATION:
		return d->config_generation;
	}
	return mmio_read_queue_reg(t, off);
}

/* Registers below the config space take aligned 32-bit accesses only (4.2.2.2). */
static bool mmio_reg_access_ok(const struct virtio_dev *d, const char *what, uint64_t off,
			       uint32_t len)
{
	if (len == 4 && !(off & 3))
		return true;
	LOG_ONCE(LOG_WARN, "%s: %u-byte %s of register 0x%llx ignored", d->name, len, what,
		 (unsigned long long)off);
	return false;
}

static void mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	uint32_t v;

	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		off -= REG_CONFIG;
		if (off + len <= d->config_size)
			d->ops->read_config(d, (uint32_t)off, data, len);
		else
			memset(data, 0, len);
	} else if (!mmio_reg_access_ok(d, "read", off, len)) {
		memset(data, 0, len);
	} else {
		v = mmio_read_reg(t, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

static void mmio_reset(struct virtio_mmio *t)
{
	struct virtio_dev *d = t->dev;

	d->ops->reset(d);
	for (unsigned int i = 0; i < d->num_queues; i++)
		vq_reset(&d->queues[i]);
	d->active = false;
	d->guest_features = 0;
	t->status = 0;
	t->drv_features = 0;
	t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
	atomic_store(&t->isr, 0);
}

/* FEATURES_OK sticks only for a subset of what we offer that includes VERSION_1. */
static bool mmio_features_ok(struct virtio_mmio *t)
{
	struct virtio_dev *d = t->dev;

	if ((t->drv_features & ~d->host_features) ||
	    !(t->drv_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return false;
	d->guest_features = t->drv_features;
	return true;
}

static void mmio_driver_ok(struct virtio_mmio *t)
{
	struct virtio_dev *d = t->dev;
	int ret;

	d->active = true;
	ret = d->ops->activate(d);
	if (ret < 0)
		virtio_dev_broken(d, "activation failed: %s", strerror(-ret));
}

static void mmio_write_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t added = v & ~t->status;

	if (v == 0) {
		mmio_reset(t);
		return;
	}
	/* Bits go on one by one until a reset (3.1.1); clearing them is ignored. */
	if ((added & VIRTIO_STATUS_FEATURES_OK) && !mmio_features_ok(t))
		added &= ~VIRTIO_STATUS_FEATURES_OK;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_FEATURES_OK))
		added &= ~VIRTIO_STATUS_DRIVER_OK;
	t->status |= added & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((added & VIRTIO_STATUS_DRIVER_OK) && !(t->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET))
		mmio_driver_ok(t);
}

static void mmio_set_ready(struct virtio_mmio *t, struct virtqueue *vq, uint32_t v)
{
	struct virtio_dev *d = t->dev;
	int ret;

	if (!v) {
		vq->ready = false;
		return;
	}
	ret = vq_activate(vq, d->gmem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			  virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC));
	if (ret < 0) {
		virtio_dev_broken(d,
				  "queue %u: size %u or rings (desc 0x%llx, avail 0x%llx, "
				  "used 0x%llx) not valid",
				  t->queue_sel, vq->size, (unsigned long long)vq->desc_gpa,
				  (unsigned long long)vq->avail_gpa,
				  (unsigned long long)vq->used_gpa);
		return;
	}
	vq->ready = true;
}

static void set_half(uint64_t *r, bool high, uint32_t v)
{
	if (high)
		*r = (*r & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*r = (*r & ~0xffffffffULL) | v;
}

/* Queue set-up registers: only while the queue is not live (4.2.3.2). */
static void mmio_write_queue_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct virtqueue *vq = mmio_queue(t);

	if (!vq || (t->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	/* Queues come after features (3.1.1): their ring format depends on them. */
	if (off == REG_QUEUE_READY && !(t->status & VIRTIO_STATUS_FEATURES_OK))
		return;
	if (off == REG_QUEUE_READY) {
		mmio_set_ready(t, vq, v);
		return;
	}
	if (vq->ready)
		return;
	switch (off) {
	case REG_QUEUE_NUM:
		vq->size = (uint16_t)MIN(v, 0xffffu);
		if (v > vq->max_size)
			vq->size = 0; /* refused when the queue is made ready */
		break;
	case REG_QUEUE_DESC_LOW:
	case REG_QUEUE_DESC_HIGH:
		set_half(&vq->desc_gpa, off == REG_QUEUE_DESC_HIGH, v);
		break;
	case REG_QUEUE_DRIVER_LOW:
	case REG_QUEUE_DRIVER_HIGH:
		set_half(&vq->avail_gpa, off == REG_QUEUE_DRIVER_HIGH, v);
		break;
	case REG_QUEUE_DEVICE_LOW:
	case REG_QUEUE_DEVICE_HIGH:
		set_half(&vq->used_gpa, off == REG_QUEUE_DEVICE_HIGH, v);
		break;
	}
}

static void mmio_notify(struct virtio_mmio *t, uint32_t q)
{
	if (q >= t->dev->num_queues)
		return;
	eventfd_write(t->notify_fds[q], 1); /* EAGAIN: a notification is pending already */
}

static void mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		break;
	case REG_DRIVER_FEATURES:
		if (t->drv_features_sel <= 1 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
			set_half(&t->drv_features, t->drv_features_sel == 1, v);
		break;
	case REG_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		break;
	case REG_QUEUE_SEL:
		t->queue_sel = v;
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		mmio_notify(t, v);
		break;
	case REG_INTERRUPT_ACK:
		atomic_fetch_and(&t->isr, ~v);
		break;
	case REG_STATUS:
		mmio_write_status(t, v);
		break;
	default:
		mmio_write_queue_reg(t, off, v);
	}
}

static void mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *t = opaque;
	struct virtio_dev *d = t->dev;
	uint32_t v;

	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		off -= REG_CONFIG;
		if (off + len <= d->config_size && d->ops->write_config)
			d->ops->write_config(d, (uint32_t)off, data, len);
	} else if (mmio_reg_access_ok(d, "write", off, len)) {
		memcpy(&v, data, 4);
		mmio_write_reg(t, off, v);
	}
	pthread_mutex_unlock(&d->lock);
}

const struct bus_ops virtio_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

#define SNAP_VIRTIO_MMIO SNAP_TAG('V', 'I', 'O', 'M')

struct mmio_state {
	uint32_t device_id;
	uint32_t num_queues;
	uint32_t status;
	uint32_t dev_features_sel;
	uint32_t drv_features_sel;
	uint32_t queue_sel;
	uint32_t isr;
	uint32_t config_generation;
	uint64_t drv_features;
	uint64_t guest_features;
	uint32_t active;
	uint32_t pad;
};

struct mmio_queue_state {
	uint64_t desc_gpa, avail_gpa, used_gpa;
	uint16_t size;
	uint16_t ready;
	uint16_t last_avail, avail_shadow, used_idx, signalled_used;
	uint32_t pad;
};

static void mmio_save_queue(const struct virtqueue *vq, struct mmio_queue_state *q)
{
	*q = (struct mmio_queue_state){ .desc_gpa = vq->desc_gpa,
					.avail_gpa = vq->avail_gpa,
					.used_gpa = vq->used_gpa,
					.size = vq->size,
					.ready = vq->ready,
					.last_avail = vq->last_avail,
					.avail_shadow = vq->avail_shadow,
					.used_idx = vq->used_idx,
					.signalled_used = vq->signalled_used };
}

static void mmio_save_locked(struct virtio_mmio *t, struct mmio_state *s,
			     struct mmio_queue_state *qs)
{
	struct virtio_dev *d = t->dev;

	*s = (struct mmio_state){ .device_id = d->device_id,
				  .num_queues = d->num_queues,
				  .status = t->status,
				  .dev_features_sel = t->dev_features_sel,
				  .drv_features_sel = t->drv_features_sel,
				  .queue_sel = t->queue_sel,
				  .isr = atomic_load(&t->isr),
				  .config_generation = d->config_generation,
				  .drv_features = t->drv_features,
				  .guest_features = d->guest_features,
				  .active = d->active };
	for (unsigned int i = 0; i < d->num_queues; i++) {
		mmio_save_queue(&d->queues[i], &qs[i]);
		if (d->queues[i].ready)
			vq_mark_used_ring(&d->queues[i]);
	}
}

int virtio_mmio_save(struct virtio_mmio *t, struct snapw *w, uint32_t inst, struct err *err)
{
	struct virtio_dev *d = t->dev;
	size_t len = sizeof(struct mmio_state) + d->num_queues * sizeof(struct mmio_queue_state);
	uint8_t *buf = calloc(1, len);
	int ret = 0;

	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&d->lock);
	if (d->ops->drain)
		ret = d->ops->drain(d);
	if (ret == 0)
		mmio_save_locked(t, (struct mmio_state *)buf,
				 (struct mmio_queue_state *)(buf + sizeof(struct mmio_state)));
	pthread_mutex_unlock(&d->lock);
	if (ret == 0)
		snapw_put(w, SNAP_VIRTIO_MMIO, inst, buf, len);
	free(buf);
	if (ret == -ENOTSUP)
		return err_set(err, ret, "%s: snapshots of this device are not supported", d->name);
	return ret < 0 ? err_set(err, ret, "%s: cannot finish its requests: %s", d->name,
				 strerror(-ret))
		       : 0;
}

static int mmio_restore_queue(struct virtio_dev *d, struct virtqueue *vq,
			      const struct mmio_queue_state *q)
{
	int ret;

	vq->size = q->size;
	vq->desc_gpa = q->desc_gpa;
	vq->avail_gpa = q->avail_gpa;
	vq->used_gpa = q->used_gpa;
	if (!q->ready)
		return 0;
	ret = vq_activate(vq, d->gmem, virtio_has_feature(d, VIRTIO_RING_F_EVENT_IDX),
			  virtio_has_feature(d, VIRTIO_RING_F_INDIRECT_DESC));
	if (ret < 0)
		return ret;
	vq->ready = true;
	vq->last_avail = q->last_avail;
	vq->avail_shadow = q->avail_shadow;
	vq->used_idx = q->used_idx;
	vq->signalled_used = q->signalled_used;
	return 0;
}

static int mmio_restore_locked(struct virtio_mmio *t, const struct mmio_state *s,
			       const struct mmio_queue_state *qs, struct err *err)
{
	struct virtio_dev *d = t->dev;
	int ret;

	if (s->guest_features & ~d->host_features)
		return err_set(err, -EINVAL, "%s: snapshot has features this device lacks",
			       d->name);
	t->status = s->status;
	t->dev_features_sel = s->dev_features_sel;
	t->drv_features_sel = s->drv_features_sel;
	t->queue_sel = s->queue_sel;
	t->drv_features = s->drv_features;
	atomic_store(&t->isr, s->isr & (VIRTIO_INT_USED | VIRTIO_INT_CONFIG));
	d->config_generation = s->config_generation;
	d->guest_features = s->guest_features;
	for (unsigned int i = 0; i < d->num_queues; i++) {
		ret = mmio_restore_queue(d, &d->queues[i], &qs[i]);
		if (ret < 0)
			return err_set(err, ret, "%s: queue %u of the snapshot is not valid",
				       d->name, i);
	}
	if (!s->active)
		return 0;
	d->active = true;
	ret = d->ops->activate(d);
	if (ret < 0)
		return err_set(err, ret, "%s: cannot activate: %s", d->name, strerror(-ret));
	if (d->ops->restored)
		d->ops->restored(d);
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct snapr *r, uint32_t inst,
			struct err *err)
{
	struct virtio_dev *d = t->dev;
	size_t want = sizeof(struct mmio_state) + d->num_queues * sizeof(struct mmio_queue_state);
	size_t len;
	const uint8_t *p = snapr_find(r, SNAP_VIRTIO_MMIO, inst, &len);
	struct mmio_state s = { 0 };
	struct mmio_queue_state *qs;
	int ret;

	if (!p)
		return err_set(err, -EINVAL, "snapshot has no state for %s", d->name);
	memcpy(&s, p, MIN(len, sizeof(s)));
	if (len < sizeof(s) || s.device_id != d->device_id || len != want)
		return err_set(err, -EINVAL, "snapshot's device %u is not %s", inst, d->name);
	qs = malloc(len - sizeof(s) + 1);
	if (!qs)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(qs, p + sizeof(s), len - sizeof(s));
	pthread_mutex_lock(&d->lock);
	ret = mmio_restore_locked(t, &s, qs, err);
	pthread_mutex_unlock(&d->lock);
	free(qs);
	/* Entries the driver added just before the snapshot got no notification here. */
	for (unsigned int i = 0; ret == 0 && d->active && i < d->num_queues; i++)
		if (d->queues[i].ready)
			virtio_dev_kick(d, i);
	return ret;
}

int virtio_mmio_create(struct virtio_dev *d, struct virtio_mmio **out)
{
	struct virtio_mmio *t = calloc(1, sizeof(*t));
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->dev = d;
	t->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->irq_fd < 0) {
		ret = -errno;
		free(t);
		return ret;
	}
	t->notify_fds = malloc(d->num_queues * sizeof(*t->notify_fds));
	if (!t->notify_fds) {
		ret = -ENOMEM;
		goto fail;
	}
	for (unsigned int i = 0; i < d->num_queues; i++)
		t->notify_fds[i] = -1;
	for (unsigned int i = 0; i < d->num_queues && ret == 0; i++) {
		t->notify_fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ret = t->notify_fds[i] < 0 ? -errno
					   : virtio_dev_watch_notify(d, i, t->notify_fds[i]);
	}
	if (ret < 0)
		goto fail;
	d->tops = &mmio_transport_ops;
	d->transport = t;
	*out = t;
	return 0;
fail:
	virtio_mmio_destroy(t);
	return ret;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	for (unsigned int i = 0; t->notify_fds && i < t->dev->num_queues; i++)
		if (t->notify_fds[i] >= 0)
			close(t->notify_fds[i]);
	free(t->notify_fds);
	if (t->irq_fd >= 0)
		close(t->irq_fd);
	free(t);
}

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/vhost.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/vsock.h"

/*
 * The kernel's vhost-vsock serves the receive and transmit queues straight
 * from guest RAM: ember hands it the memory map, the rings, the queues'
 * notification eventfds (so guest kicks go to the kernel, not to ember),
 * and an eventfd per queue on which the kernel asks for an interrupt; the
 * I/O thread turns those into virtio-mmio interrupts (the transport's
 * InterruptStatus must be set, so the kernel cannot use the irqfd itself).
 * The event queue stays in ember; it carries one event, the transport reset
 * after a restore.
 *
 * A snapshot takes the rings' positions from the kernel with the device
 * paused; the restored device hands them back to a new vhost-vsock. The
 * kernel's connections stay behind with the old process: the guest hears of
 * it by the transport reset. The CID moves with the VM, so a VM restored on
 * the same host needs the old one gone first.
 *
 * Live migration: the kernel's writes to guest memory escape the dirty log
 * (vhost-vsock logs at most its used rings, not the buffers it fills), so
 * its worker is held from the start of the copy, before the first page is
 * read, to the end: the device's traffic waits, and its connections, which
 * end with the migration anyway, see a pause. At the hand-over the sender
 * closes its vhost-vsock, giving the CID to a receiver on this host, and
 * opens a new one if the migration fails (the guest then gets a transport
 * reset: the old connections ended with the old device).
 */

#define VHOST_VSOCK_DEV	    "/dev/vhost-vsock"
#define VHOST_QUEUES	    2 /* receive and transmit; the event queue is ember's */
#define VSOCK_QUEUES	    3
#define VSOCK_QUEUE_SIZE    256
#define VIRTIO_VSOCK_F_SEQP 1

struct vhost_call {
	struct ev_handler h;
	struct vhost_vsock *v;
	unsigned int q;
};

struct vhost_vsock {
	struct virtio_dev dev;
	uint64_t cid; /* config space */
	int fd;
	bool running;		       /* the rings are the kernel's */
	bool paused;		       /* the VM is */
	bool held;		       /* a live migration holds the kernel's worker */
	bool handed;		       /* closed for a migration with the rings the kernel's */
	bool kick_given[VHOST_QUEUES]; /* the kernel, not the I/O thread, takes the kicks */
	struct vhost_call call[VHOST_QUEUES];
};

static void vhost_call_ready(struct ev_handler *h, uint32_t events)
{
	struct vhost_call *c = container_of(h, struct vhost_call, h);
	struct virtio_dev *d = &c->v->dev;
	eventfd_t n;

	if (eventfd_read(h->fd, &n) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (d->active)
		d->tops->signal_used(d->transport, c->q);
	pthread_mutex_unlock(&d->lock);
}

static int vhost_set_mem_table(struct vhost_vsock *v)
{
	const struct gmem *gm = v->dev.gmem;
	struct vhost_memory *m = calloc(1, sizeof(*m) + gm->count * sizeof(m->regions[0]));
	int ret = 0;

	if (!m)
		return -ENOMEM;
	m->nregions = gm->count;
	for (unsigned int i = 0; i < gm->count; i++)
		m->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = gm->regions[i].gpa,
			.memory_size = gm->regions[i].size,
			.userspace_addr = (uintptr_t)gm->regions[i].hva,
		};
	if (ioctl(v->fd, VHOST_SET_MEM_TABLE, m) < 0)
		ret = -errno;
	free(m);
	return ret;
}

/* Queue q's size, start, rings (as host addresses), kick and call eventfds. */
static int vhost_set_vring(struct vhost_vsock *v, unsigned int q)
{
	const struct virtqueue *vq = &v->dev.queues[q];
	struct vhost_vring_state num = { .index = q, .num = vq->size };
	struct vhost_vring_state base = { .index = q, .num = vq->last_avail };
	struct vhost_vring_addr addr = { .index = q,
					 .desc_user_addr = (uintptr_t)vq->desc,
					 .avail_user_addr = (uintptr_t)vq->avail,
					 .used_user_addr = (uintptr_t)vq->used };
	struct vhost_vring_file kick = { .index = q, .fd = v->dev.notify[q].h.fd };
	struct vhost_vring_file call = { .index = q, .fd = v->call[q].h.fd };

	if (!vq->ready)
		return -EINVAL;
	if (ioctl(v->fd, VHOST_SET_VRING_NUM, &num) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_ADDR, &addr) < 0 ||
	    ioctl(v->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -errno;
	/* From here on the kernel takes the guest's kicks: the I/O thread lets go. */
	evloop_del(&v->dev.loop, &v->dev.notify[q].h);
	v->kick_given[q] = true;
	return ioctl(v->fd, VHOST_SET_VRING_KICK, &kick) < 0 ? -errno : 0;
}

/* The I/O thread watches queue q's notifications again. */
static void vhost_take_back_kick(struct vhost_vsock *v, unsigned int q)
{
	struct vhost_vring_file none = { .index = q, .fd = -1 };

	if (!v->kick_given[q])
		return;
	ioctl(v->fd, VHOST_SET_VRING_KICK, &none);
	if (evloop_add(&v->dev.loop, &v->dev.notify[q].h, EPOLLIN) < 0)
		log_warn("%s: cannot watch queue %u again: %s", v->dev.name, q, strerror(errno));
	v->kick_given[q] = false;
}

static void vhost_stop(struct vhost_vsock *v)
{
	int off = 0;

	if (!v->running)
		return;
	ioctl(v->fd, VHOST_VSOCK_SET_RUNNING, &off);
	for (unsigned int q = 0; q < VHOST_QUEUES; q++) {
		struct vhost_vring_state s = { .index = q };

		ioctl(v->fd, VHOST_GET_VRING_BASE, &s); /* stops the ring */
		vhost_take_back_kick(v, q);
	}
	v->running = false;
}

/*
 * The kernel drops the kicks that come while its worker is stopped, and a
 * start looks again only at its own packets for the guest: a kick per ring
 * makes it find what the guest queued meanwhile (with EVENT_IDX the guest
 * would not kick again).
 */
static void vhost_kick_rings(struct vhost_vsock *v)
{
	for (unsigned int q = 0; q < VHOST_QUEUES; q++)
		if (v->kick_given[q])
			eventfd_write(v->dev.notify[q].h.fd, 1);
}

static int vhost_vsock_activate(struct virtio_dev *d)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);
	uint64_t features = d->guest_features;
	int on = !v->paused && !v->held, ret;

	if (ioctl(v->fd, VHOST_SET_FEATURES, &features) < 0)
		return -errno;
	ret = vhost_set_mem_table(v);
	v->running = true; /* from the first ring on, a stop must undo it */
	for (unsigned int q = 0; ret == 0 && q < VHOST_QUEUES; q++)
		ret = vhost_set_vring(v, q);
	if (ret == 0 && on && ioctl(v->fd, VHOST_VSOCK_SET_RUNNING, &on) < 0)
		ret = -errno;
	if (ret < 0)
		vhost_stop(v);
	else if (on)
		vhost_kick_rings(v);
	return ret;
}

static void vhost_vsock_reset(struct virtio_dev *d)
{
	vhost_stop(container_of(d, struct vhost_vsock, dev));
}

static void vhost_vsock_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);

	virtio_config_read_bytes(&v->cid, sizeof(v->cid), off, data, len);
}

static void vhost_vsock_queue_notify(struct virtio_dev *d, unsigned int q)
{
	/* The event queue: its buffers wait for an event (none is sent). */
}

static void vhost_vsock_destroy(struct virtio_dev *d)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);

	virtio_dev_stop(d);
	vhost_stop(v);
	virtio_dev_fini(d);
	for (unsigned int q = 0; q < VHOST_QUEUES; q++)
		if (v->call[q].h.fd >= 0)
			close(v->call[q].h.fd);
	if (v->fd >= 0)
		close(v->fd); /* gives the CID back */
	free(v);
}

/* The kernel's worker touches the rings only while the VM runs and no migration holds it. */
static void vhost_update_worker(struct vhost_vsock *v)
{
	int on = !v->paused && !v->held;

	if (!v->running)
		return;
	if (ioctl(v->fd, VHOST_VSOCK_SET_RUNNING, &on) < 0)
		log_warn("%s: cannot %s vhost: %s", v->dev.name, on ? "resume" : "stop",
			 strerror(errno));
	else if (on)
		vhost_kick_rings(v);
}

static void vhost_vsock_quiesce(struct virtio_dev *d, bool pause)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);

	v->paused = pause;
	vhost_update_worker(v);
}

static void vhost_vsock_hold_writes(struct virtio_dev *d, bool hold)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);

	v->held = hold;
	vhost_update_worker(v);
}

/*
 * For a snapshot, with the VM paused (the kernel's worker stopped by
 * quiesce): where the kernel is in each ring, so that the snapshot records
 * it. The used index is in guest memory, where the kernel wrote it.
 */
static int vhost_vsock_drain(struct virtio_dev *d)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);

	for (unsigned int q = 0; v->running && q < VHOST_QUEUES; q++) {
		struct virtqueue *vq = &d->queues[q];
		struct vhost_vring_state s = { .index = q };

		if (ioctl(v->fd, VHOST_GET_VRING_BASE, &s) < 0)
			return -errno;
		vq->last_avail = (uint16_t)s.num;
		vq->used_idx = __atomic_load_n(&vq->used[1], __ATOMIC_ACQUIRE);
		vq->signalled_used = vq->used_idx;
	}
	return 0;
}

/* Restored: the rings went to a new vhost-vsock on activation; the connections did not. */
static void vhost_vsock_restored(struct virtio_dev *d)
{
	vsock_send_transport_reset(d);
}

static int vhost_open(struct vhost_vsock *v, uint64_t *features, struct err *err);

/* A new vhost-vsock after a failed migration: the rings go back to the kernel. */
static int vhost_take_back(struct vhost_vsock *v)
{
	struct err err = { { 0 } };
	uint64_t features;
	bool handed = v->handed;
	int ret = vhost_open(v, &features, &err);

	if (ret < 0) {
		log_err("%s: %s", v->dev.name, err.msg);
		return ret; /* still handed: a later hand-back tries again */
	}
	v->handed = false;
	if (!handed)
		return 0; /* the guest had not set the device up: it will */
	pthread_mutex_lock(&v->dev.lock);
	ret = vhost_vsock_activate(&v->dev);
	if (ret < 0)
		virtio_dev_broken(&v->dev, "cannot give the rings back to vhost: %s",
				  strerror(-ret));
	else
		vsock_send_transport_reset(&v->dev); /* the old connections went with the old fd */
	pthread_mutex_unlock(&v->dev.lock);
	if (ret == 0)
		log_warn("%s: the migration failed after the hand-over: a new vhost-vsock has the "
			 "rings, its connections were reset",
			 v->dev.name);
	return ret;
}

/*
 * Migration, with the VM paused: the receiver, perhaps on this host, needs
 * the CID (release: the rings' positions go into the queues, as for a
 * snapshot, and this vhost-vsock is closed), or the migration failed and a
 * new vhost-vsock takes the rings back.
 */
static int vhost_vsock_handover(struct virtio_dev *d, bool release)
{
	struct vhost_vsock *v = container_of(d, struct vhost_vsock, dev);
	int ret;

	if (!release)
		return v->fd < 0 ? vhost_take_back(v) : 0;
	if (v->fd < 0)
		return 0;
	ret = vhost_vsock_drain(d);
	if (ret < 0)
		return ret;
	v->handed = v->running;
	vhost_stop(v);
	close(v->fd); /* gives the CID back */
	v->fd = -1;
	return 0;
}

static const struct virtio_dev_ops vhost_vsock_ops = {
	.read_config = vhost_vsock_read_config,
	.activate = vhost_vsock_activate,
	.reset = vhost_vsock_reset,
	.queue_notify = vhost_vsock_queue_notify,
	.destroy = vhost_vsock_destroy,
	.quiesce = vhost_vsock_quiesce,
	.drain = vhost_vsock_drain,
	.restored = vhost_vsock_restored,
	.handover = vhost_vsock_handover,
	.hold_writes = vhost_vsock_hold_writes,
};

static int vhost_claim(struct vhost_vsock *v, uint64_t *features, struct err *err)
{
	v->fd = open(VHOST_VSOCK_DEV, O_RDWR | O_CLOEXEC);
	if (v->fd < 0)
		return err_set(err, -errno,
			       "vsock: " VHOST_VSOCK_DEV ": %s (without uds=, --vsock needs the "
			       "kernel's vhost-vsock: modprobe vhost_vsock)",
			       strerror(errno));
	if (ioctl(v->fd, VHOST_SET_OWNER) < 0 || ioctl(v->fd, VHOST_GET_FEATURES, features) < 0)
		return err_set(err, -errno, "vsock: vhost set-up: %s", strerror(errno));
	if (!(*features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return err_set(err, -ENOTSUP,
			       "vsock: this kernel's vhost-vsock predates virtio 1.0");
	if (ioctl(v->fd, VHOST_VSOCK_SET_GUEST_CID, &v->cid) < 0)
		return err_set(err, -errno, "vsock: guest CID %" PRIu64 ": %s", v->cid,
			       errno == EADDRINUSE ? "another VM on this host has it"
						   : strerror(errno));
	return 0;
}

/* Opens the kernel's device, claims the CID, and learns what it offers; fd -1 on failure. */
static int vhost_open(struct vhost_vsock *v, uint64_t *features, struct err *err)
{
	int ret = vhost_claim(v, features, err);

	if (ret < 0 && v->fd >= 0) {
		close(v->fd);
		v->fd = -1;
	}
	return ret;
}

static int vhost_calls_init(struct vhost_vsock *v)
{
	for (unsigned int q = 0; q < VHOST_QUEUES; q++) {
		v->call[q] = (struct vhost_call){ .h = { .cb = vhost_call_ready }, .v = v, .q = q };
		v->call[q].h.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->call[q].h.fd < 0)
			return -errno;
		if (evloop_add(&v->dev.loop, &v->call[q].h, EPOLLIN) < 0)
			return -errno;
	}
	return 0;
}

int virtio_vhost_vsock_create(const struct gmem *gm, uint64_t guest_cid, struct virtio_dev **out,
			      struct err *err)
{
	const uint64_t wanted = VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
				VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
				VIRTIO_BIT(VIRTIO_VSOCK_F_SEQP);
	struct vhost_vsock *v = calloc(1, sizeof(*v));
	uint64_t features = 0;
	int ret;

	if (!v)
		return err_set(err, -ENOMEM, "vsock: out of memory");
	v->cid = guest_cid;
	v->fd = v->call[0].h.fd = v->call[1].h.fd = -1;
	/* The device first: from here on destroy() undoes whatever was done. */
	ret = virtio_dev_init(&v->dev, "virtio-vsock", VIRTIO_ID_VSOCK, 0, VSOCK_QUEUES,
			      VSOCK_QUEUE_SIZE, sizeof(v->cid), &vhost_vsock_ops, gm);
	if (ret == 0) {
		ret = vhost_open(v, &features, err);
		v->dev.host_features |= features & wanted;
	}
	if (ret == 0)
		ret = vhost_calls_init(v);

	if (ret < 0) {
		err_set(err, ret, "vsock: %s", strerror(-ret));
		vhost_vsock_destroy(&v->dev);
		return ret;
	}
	*out = &v->dev;
	return 0;
}

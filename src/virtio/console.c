#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"
#include "virtio/console.h"

#define CON_QUEUE_SIZE 64
#define CON_RXQ	       0
#define CON_TXQ	       1
#define CON_MAX_SEGS   16
#define CON_EMERG_WR   8 /* config offset of emerg_wr */

struct virtio_console {
	struct virtio_dev dev;
	int out_fd;
	int space_fd;
	bool want_space; /* a push fell short: tell the host when buffers come */
	struct iovec iov[CON_MAX_SEGS];
};

static struct virtio_console *to_con(struct virtio_dev *d)
{
	return container_of(d, struct virtio_console, dev);
}

static void con_write_out(struct virtio_console *c, const struct iovec *iov, unsigned int n)
{
	if (c->out_fd < 0)
		return;
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left) {
			ssize_t w = write(c->out_fd, p, left);

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				return; /* output gone: the guest's bytes are dropped */
			p += w;
			left -= (size_t)w;
		}
	}
}

static bool con_tx(struct virtio_console *c)
{
	struct virtqueue *vq = &c->dev.queues[CON_TXQ];
	struct vq_chain ch = { .iov = c->iov, .cap = CON_MAX_SEGS };
	int ret = 0;

	/* A queue's worth per notification: the main thread's input waits on this lock. */
	for (unsigned int n = 0; n < vq->size && (ret = vq_next(vq, &ch)) > 0; n++) {
		con_write_out(c, ch.iov, ch.n_out);
		vq_push(vq, ch.head, 0);
	}
	if (ret > 0)
		virtio_dev_kick(&c->dev, CON_TXQ); /* the rest on the next round */
	return ret >= 0;
}

static void con_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_console *c = to_con(d);

	if (q == CON_TXQ) {
		if (!con_tx(c))
			virtio_dev_broken(d, "bad descriptor chain in the transmit queue");
		virtio_dev_signal_used(d, q);
		return;
	}
	/* New receive buffers: the host may push again. */
	if (c->want_space && eventfd_write(c->space_fd, 1) == 0)
		c->want_space = false;
}

/* The guest's receive buffers ran out: have its next ones announced on space_fd. */
static void con_wait_for_buffers(struct virtio_console *c, struct virtqueue *vq)
{
	c->want_space = true;
	if (vq_want_more(vq) && eventfd_write(c->space_fd, 1) == 0)
		c->want_space = false; /* some arrived meanwhile */
}

size_t virtio_console_push(struct virtio_dev *d, const uint8_t *data, size_t len)
{
	struct virtio_console *c = to_con(d);
	struct virtqueue *vq = &d->queues[CON_RXQ];
	struct vq_chain ch = { .iov = c->iov, .cap = CON_MAX_SEGS };
	size_t done = 0;
	int ret = 0;

	pthread_mutex_lock(&d->lock);
	while (done < len && d->active && vq->ready) {
		ret = vq_pop(vq, &ch);
		if (ret <= 0)
			break;
		if (ch.n_out) {
			ret = -EINVAL; /* receive buffers are device-writable */
			break;
		}
		size_t n = iov_from_buf(&ch.iov[0], ch.n_in, 0, data + done, len - done);
		vq_push(vq, ch.head, (uint32_t)n);
		done += n;
	}
	if (ret < 0)
		virtio_dev_broken(d, "bad descriptor chain in the receive queue");
	else if (done < len && d->active && vq->ready)
		con_wait_for_buffers(c, vq);
	if (done)
		virtio_dev_signal_used(d, CON_RXQ);
	pthread_mutex_unlock(&d->lock);
	return done;
}

int virtio_console_space_fd(struct virtio_dev *d)
{
	return to_con(d)->space_fd;
}

static void con_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	/* cols, rows, max_nr_ports: 0 (no size, one port); emerg_wr reads as 0. */
	memset(data, 0, len);
}

static void con_write_config(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len)
{
	struct iovec iov = { .iov_base = (void *)(uintptr_t)data, .iov_len = 1 };

	/* An early console: the low byte of emerg_wr is one character of output. */
	if (off == CON_EMERG_WR && virtio_has_feature(d, VIRTIO_CONSOLE_F_EMERG_WRITE))
		con_write_out(to_con(d), &iov, 1);
}

static int con_activate(struct virtio_dev *d)
{
	/* The host may have input waiting since before the guest was ready. */
	if (eventfd_write(to_con(d)->space_fd, 1) < 0)
		return -errno;
	return 0;
}

static void con_reset(struct virtio_dev *d)
{
}

static void con_destroy(struct virtio_dev *d)
{
	struct virtio_console *c = to_con(d);

	virtio_dev_fini(d);
	if (c->space_fd >= 0)
		close(c->space_fd);
	free(c);
}

static const struct virtio_dev_ops con_ops = {
	.read_config = con_read_config,
	.write_config = con_write_config,
	.activate = con_activate,
	.reset = con_reset,
	.queue_notify = con_queue_notify,
	.destroy = con_destroy,
};

int virtio_console_create(const struct gmem *gm, int out_fd, struct virtio_dev **out)
{
	struct virtio_console *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->out_fd = out_fd;
	c->space_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = virtio_dev_init(&c->dev, "virtio-console", VIRTIO_ID_CONSOLE,
			      VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
				      VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
				      VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
			      2, CON_QUEUE_SIZE, 12, &con_ops, gm);
	if (ret == 0 && c->space_fd < 0)
		ret = -errno;
	if (ret < 0) {
		con_destroy(&c->dev);
		return ret;
	}
	*out = &c->dev;
	return 0;
}

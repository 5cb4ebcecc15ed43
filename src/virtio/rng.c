#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>

#include "virtio/rng.h"

#define RNG_QUEUE_SIZE 256
#define RNG_MAX_SEGS   64
/* Bytes per request: enough for any driver, small enough to stay fair. */
#define RNG_MAX_BYTES (64 * 1024)

struct virtio_rng {
	struct virtio_dev dev;
	struct iovec iov[RNG_MAX_SEGS];
};

static int rng_fill(const struct iovec *iov, unsigned int n, uint32_t *written)
{
	uint32_t total = 0;

	for (unsigned int i = 0; i < n && total < RNG_MAX_BYTES; i++) {
		size_t want = MIN(iov[i].iov_len, (size_t)(RNG_MAX_BYTES - total));
		size_t got = 0;

		while (got < want) {
			ssize_t r = getrandom((uint8_t *)iov[i].iov_base + got, want - got, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0)
				return -errno;
			got += (size_t)r;
		}
		total += (uint32_t)got;
	}
	*written = total;
	return 0;
}

static void rng_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_rng *rng = container_of(d, struct virtio_rng, dev);
	struct virtqueue *vq = &d->queues[q];
	struct vq_chain c = { .iov = rng->iov, .cap = RNG_MAX_SEGS };
	uint32_t written = 0;
	int ret;

	while ((ret = vq_next(vq, &c)) > 0) {
		if (rng_fill(&c.iov[c.n_out], c.n_in, &written) < 0)
			written = 0;
		vq_push(vq, c.head, written);
	}
	if (ret < 0)
		virtio_dev_broken(d, "bad descriptor chain in the request queue");
	virtio_dev_signal_used(d, q);
}

static void rng_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	/* No config space. */
}

static int rng_activate(struct virtio_dev *d)
{
	return 0;
}

static void rng_reset(struct virtio_dev *d)
{
}

static void rng_destroy(struct virtio_dev *d)
{
	virtio_dev_fini(d);
	free(container_of(d, struct virtio_rng, dev));
}

static const struct virtio_dev_ops rng_ops = {
	.read_config = rng_read_config,
	.activate = rng_activate,
	.reset = rng_reset,
	.queue_notify = rng_queue_notify,
	.destroy = rng_destroy,
};

int virtio_rng_create(const struct gmem *gm, struct virtio_dev **out)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));
	int ret;

	if (!rng)
		return -ENOMEM;
	ret = virtio_dev_init(&rng->dev, "virtio-rng", VIRTIO_ID_RNG,
			      VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
				      VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX),
			      1, RNG_QUEUE_SIZE, 0, &rng_ops, gm);
	if (ret < 0) {
		rng_destroy(&rng->dev);
		return ret;
	}
	*out = &rng->dev;
	return 0;
}

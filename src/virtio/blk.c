#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "backends/block.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/ratelimit.h"
#include "virtio/blk.h"

#define BLK_QUEUE_SIZE	256
#define BLK_SECTOR	512
#define BLK_CHAIN_MAX	(VIRTIO_BLK_SEG_MAX + 2) /* header and status around the data */
#define BLK_HDR_BYTES	16
#define BLK_RANGE_BYTES 16

struct blk_outhdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* One discard or write-zeroes range (5.2.6). */
struct blk_range {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

#define BLK_RANGE_F_UNMAP 1u

/* The device's config space (5.2.4), little-endian as x86 is. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __packed;

/* A request in flight: its chain and the data segments handed to io_uring. */
struct blk_slot {
	uint16_t head;
	uint8_t *status;
	uint32_t written; /* the used length when it succeeds */
	uint64_t expect;  /* bytes a read or write must move */
	int action;	  /* enum blk_action, for the metrics */
	struct iovec chain[BLK_CHAIN_MAX];
	struct iovec data[BLK_CHAIN_MAX];
};

struct virtio_blk {
	struct virtio_dev dev;
	struct block disk;
	struct ev_handler done;
	struct blk_config config;
	char id[VIRTIO_BLK_ID_BYTES];
	struct rate_limit limit;
	struct ev_handler unthrottle; /* the limit's timer */
	struct blk_slot *slots;
	uint16_t *free; /* stack of free slot indices */
	unsigned int nfree;
};

static bool blk_in_range(const struct blk_limits *lim, uint64_t sector, uint64_t bytes)
{
	return sector <= lim->sectors && bytes / BLK_SECTOR <= lim->sectors - sector;
}

/* Where a data transfer lies in the chain, checked: a whole number of sectors on the disk. */
static void blk_parse_rw(const struct vq_chain *c, const struct blk_limits *lim,
			 const struct blk_outhdr *h, struct blk_request *r, struct iovec *data,
			 unsigned int cap)
{
	bool in = h->type == VIRTIO_BLK_T_IN;
	uint64_t len = in ? c->in_len - 1u : c->out_len - BLK_HDR_BYTES;
	int n;

	if (!in && lim->readonly)
		return;
	if (len % BLK_SECTOR || !blk_in_range(lim, h->sector, len))
		return;
	n = in ? iov_slice(&c->iov[c->n_out], c->n_in, 0, len, data, cap)
	       : iov_slice(c->iov, c->n_out, BLK_HDR_BYTES, len, data, cap);
	if (n < 0)
		return;
	r->ndata = (unsigned int)n;
	r->action = in ? BLK_READ : BLK_WRITE;
	r->offset = h->sector * BLK_SECTOR;
	r->len = len;
}

static void blk_parse_range(const struct vq_chain *c, const struct blk_limits *lim,
			    const struct blk_outhdr *h, struct blk_request *r)
{
	bool zeroes = h->type == VIRTIO_BLK_T_WRITE_ZEROES;
	unsigned int feature = zeroes ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD;
	uint32_t allowed = zeroes ? BLK_RANGE_F_UNMAP : 0;
	struct blk_range range;

	if (!(lim->features & VIRTIO_BIT(feature))) {
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
	/* One range per request: max_discard_seg and max_write_zeroes_seg are 1. */
	if (lim->readonly || c->out_len != BLK_HDR_BYTES + BLK_RANGE_BYTES)
		return;
	iov_to_buf(c->iov, c->n_out, BLK_HDR_BYTES, &range, sizeof(range));
	if (range.flags & ~allowed) {
		r->status = VIRTIO_BLK_S_UNSUPP;
		return;
	}
	if (!blk_in_range(lim, range.sector, (uint64_t)range.num_sectors * BLK_SECTOR))
		return;
	if (range.num_sectors == 0) {
		r->status = VIRTIO_BLK_S_OK; /* nothing to do */
		return;
	}
	r->action = zeroes ? BLK_WRITE_ZEROES : BLK_DISCARD;
	r->offset = range.sector * BLK_SECTOR;
	r->len = (uint64_t)range.num_sectors * BLK_SECTOR;
	r->unmap = range.flags & BLK_RANGE_F_UNMAP;
}

static void blk_parse_get_id(const struct vq_chain *c, struct blk_request *r, struct iovec *data,
			     unsigned int cap)
{
	uint64_t len = MIN(c->in_len - 1u, VIRTIO_BLK_ID_BYTES);
	int n = iov_slice(&c->iov[c->n_out], c->n_in, 0, len, data, cap);

	if (n < 0)
		return;
	r->ndata = (unsigned int)n;
	r->action = BLK_GET_ID;
	r->len = len;
}

int virtio_blk_parse(const struct vq_chain *c, const struct blk_limits *lim, struct blk_request *r,
		     struct iovec *data, unsigned int cap)
{
	const struct iovec *last = &c->iov[c->n_out + c->n_in - 1];
	struct blk_outhdr h;

	/* Without a writable byte at the end there is nowhere to answer. */
	if (c->n_in == 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->status_ptr = (uint8_t *)last->iov_base + last->iov_len - 1;
	r->action = BLK_DONE;
	r->status = VIRTIO_BLK_S_IOERR;
	if (iov_to_buf(c->iov, c->n_out, 0, &h, sizeof(h)) != sizeof(h))
		return 0;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		blk_parse_rw(c, lim, &h, r, data, cap);
		break;
	case VIRTIO_BLK_T_FLUSH:
		if (lim->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH))
			r->action = BLK_FLUSH;
		else
			r->status = VIRTIO_BLK_S_UNSUPP;
		break;
	case VIRTIO_BLK_T_GET_ID:
		blk_parse_get_id(c, r, data, cap);
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		blk_parse_range(c, lim, &h, r);
		break;
	default:
		r->status = VIRTIO_BLK_S_UNSUPP;
	}
	return 0;
}

static void blk_finish(struct virtio_blk *blk, struct blk_slot *s, uint8_t status)
{
	*s->status = status;
	vq_push(&blk->dev.queues[0], s->head,
		status == VIRTIO_BLK_S_OK ? s->written : (uint32_t)sizeof(status));
	if (blk->nfree < BLK_QUEUE_SIZE)
		blk->free[blk->nfree++] = (uint16_t)(s - blk->slots);
}

static void blk_count(const struct blk_slot *s, bool ok)
{
	if (!ok) {
		METRIC_INC(block, io_errors);
	} else if (s->action == BLK_READ) {
		METRIC_ADD(block, read_bytes, s->expect);
		METRIC_INC(block, read_count);
	} else if (s->action == BLK_WRITE) {
		METRIC_ADD(block, write_bytes, s->expect);
		METRIC_INC(block, write_count);
	} else if (s->action == BLK_FLUSH) {
		METRIC_INC(block, flush_count);
	}
}

static void blk_io_done(void *cookie, int res, void *ctx)
{
	struct blk_slot *s = cookie;
	bool ok = res >= 0 && (uint64_t)res == s->expect;

	blk_count(s, ok);
	if (res < 0)
		LOG_RATELIMIT(LOG_WARN, 5, "%s: I/O error: %s",
			      ((struct virtio_blk *)ctx)->dev.name, strerror(-res));
	blk_finish(ctx, s,
		   ok			? VIRTIO_BLK_S_OK
		   : res == -EOPNOTSUPP ? VIRTIO_BLK_S_UNSUPP
					: VIRTIO_BLK_S_IOERR);
}

static int blk_submit_io(struct virtio_blk *blk, struct blk_slot *s, const struct blk_request *r)
{
	struct block *b = &blk->disk;

	s->expect = 0;
	s->action = r->action;
	switch (r->action) {
	case BLK_READ:
		s->expect = r->len;
		return block_readv(b, s->data, r->ndata, r->offset, s);
	case BLK_WRITE:
		s->expect = r->len;
		return block_writev(b, s->data, r->ndata, r->offset, s);
	case BLK_FLUSH:
		return block_flush(b, s);
	case BLK_DISCARD:
		return block_discard(b, r->offset, r->len, s);
	case BLK_WRITE_ZEROES:
		return block_write_zeroes(b, r->offset, r->len, r->unmap, s);
	default:
		return -EINVAL;
	}
}

/* Starts one request; the answer comes now (DONE, GET_ID) or from io_uring later. */
static void blk_start(struct virtio_blk *blk, struct blk_slot *s, const struct blk_request *r)
{
	int ret;

	s->status = r->status_ptr;
	s->written = 1;
	if (r->action == BLK_READ || r->action == BLK_GET_ID)
		s->written += (uint32_t)r->len;
	if (r->action == BLK_DONE) {
		blk_finish(blk, s, r->status);
		return;
	}
	if (r->action == BLK_GET_ID) {
		iov_from_buf(s->data, r->ndata, 0, blk->id, r->len);
		blk_finish(blk, s, VIRTIO_BLK_S_OK);
		return;
	}
	ret = blk_submit_io(blk, s, r);
	if (ret == -EBUSY) {
		/* The ring is as deep as the queue, so submitting frees entries. */
		block_submit(&blk->disk);
		ret = blk_submit_io(blk, s, r);
	}
	if (ret < 0)
		blk_finish(blk, s, VIRTIO_BLK_S_IOERR);
}

static void blk_limits(struct virtio_blk *blk, struct blk_limits *lim)
{
	lim->sectors = blk->config.capacity;
	lim->readonly = blk->disk.readonly;
	lim->features = blk->dev.guest_features;
}

/* Reads and writes cost their bytes; every request costs an operation. */
static bool blk_admit(struct virtio_blk *blk, const struct blk_request *r)
{
	bool data = r->action == BLK_READ || r->action == BLK_WRITE;

	return rate_limit_admit(&blk->limit, data ? r->len : 0);
}

/* Takes every available request; false when the driver broke the rules. */
static bool blk_take_requests(struct virtio_blk *blk, struct virtqueue *vq)
{
	struct blk_limits lim;
	struct blk_request r;

	blk_limits(blk, &lim);
	while (blk->nfree) {
		struct blk_slot *s = &blk->slots[blk->free[blk->nfree - 1]];
		struct vq_chain c = { .iov = s->chain, .cap = BLK_CHAIN_MAX };
		int ret = vq_next(vq, &c);

		if (ret == 0)
			return true;
		if (ret < 0 || virtio_blk_parse(&c, &lim, &r, s->data, BLK_CHAIN_MAX) < 0)
			return false;
		if (r.action != BLK_DONE && !blk_admit(blk, &r)) {
			vq_unpop(vq, 1); /* taken again when the timer fires */
			return true;
		}
		blk->nfree--;
		s->head = c.head;
		blk_start(blk, s, &r);
	}
	return true;
}

static void blk_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_blk *blk = container_of(d, struct virtio_blk, dev);

	if (blk->limit.waiting)
		return; /* the timer resumes the queue */
	if (!blk_take_requests(blk, &d->queues[q]))
		virtio_dev_broken(d, "bad descriptor chain in the request queue");
	block_submit(&blk->disk);
	virtio_dev_signal_used(d, q);
}

static void blk_completions(struct ev_handler *h, uint32_t events)
{
	struct virtio_blk *blk = container_of(h, struct virtio_blk, done);

	pthread_mutex_lock(&blk->dev.lock);
	block_reap(&blk->disk, false, blk_io_done, blk);
	/*
	 * Slots came free: requests the driver queued while all were busy came
	 * with notifications still off, so nothing else would take them.
	 */
	if (blk->dev.active && blk->dev.queues[0].ready)
		blk_queue_notify(&blk->dev, 0);
	pthread_mutex_unlock(&blk->dev.lock);
}

static void blk_unthrottle(struct ev_handler *h, uint32_t events)
{
	struct virtio_blk *blk = container_of(h, struct virtio_blk, unthrottle);

	pthread_mutex_lock(&blk->dev.lock);
	rate_limit_clear(&blk->limit);
	if (blk->dev.active && blk->dev.queues[0].ready)
		blk_queue_notify(&blk->dev, 0);
	pthread_mutex_unlock(&blk->dev.lock);
}

static void blk_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_blk *blk = container_of(d, struct virtio_blk, dev);

	virtio_config_read_bytes(&blk->config, sizeof(blk->config), off, data, len);
}

static int blk_activate(struct virtio_dev *d)
{
	return 0;
}

static void blk_reset_slots(struct virtio_blk *blk)
{
	blk->nfree = 0;
	for (unsigned int i = BLK_QUEUE_SIZE; i-- > 0;)
		blk->free[blk->nfree++] = (uint16_t)i;
}

/* In-flight I/O still writes into guest buffers: wait for it, answer no one. */
static void blk_reset(struct virtio_dev *d)
{
	struct virtio_blk *blk = container_of(d, struct virtio_blk, dev);

	block_reap(&blk->disk, true, NULL, NULL);
	blk_reset_slots(blk);
	rate_limit_clear(&blk->limit);
}

static int blk_handover(struct virtio_dev *d, bool release)
{
	return block_handover(&container_of(d, struct virtio_blk, dev)->disk, release);
}

/* Before a snapshot: every request in flight completes and is answered. */
static int blk_drain(struct virtio_dev *d)
{
	struct virtio_blk *blk = container_of(d, struct virtio_blk, dev);

	block_reap(&blk->disk, true, blk_io_done, blk);
	if (d->active && d->queues[0].ready)
		virtio_dev_signal_used(d, 0);
	return 0;
}

static void blk_destroy(struct virtio_dev *d)
{
	struct virtio_blk *blk = container_of(d, struct virtio_blk, dev);

	virtio_dev_stop(d);
	rate_limit_fini(&blk->limit);
	block_close(&blk->disk);
	virtio_dev_fini(d);
	free(blk->free);
	free(blk->slots);
	free(blk);
}

static const struct virtio_dev_ops blk_ops = {
	.read_config = blk_read_config,
	.activate = blk_activate,
	.reset = blk_reset,
	.drain = blk_drain,
	.handover = blk_handover,
	.queue_notify = blk_queue_notify,
	.destroy = blk_destroy,
};

static uint64_t blk_features(bool readonly)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		     VIRTIO_BIT(VIRTIO_BLK_F_SEG_MAX) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);

	if (readonly)
		return f | VIRTIO_BIT(VIRTIO_BLK_F_RO);
	return f | VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) | VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES);
}

static void blk_fill_config(struct virtio_blk *blk)
{
	struct blk_config *c = &blk->config;

	c->capacity = blk->disk.size / BLK_SECTOR;
	c->seg_max = VIRTIO_BLK_SEG_MAX;
	c->num_queues = 1;
	c->max_discard_sectors = UINT32_MAX;
	c->max_discard_seg = 1;
	c->discard_sector_alignment = 1;
	c->max_write_zeroes_sectors = UINT32_MAX;
	c->max_write_zeroes_seg = 1;
	c->write_zeroes_may_unmap = 1;
}

static int blk_setup(struct virtio_blk *blk, const struct gmem *gm, const struct virtio_blk_opts *o,
		     struct err *err)
{
	struct block_opts bo = { .path = o->path,
				 .readonly = o->readonly,
				 .direct = o->direct,
				 .depth = BLK_QUEUE_SIZE };
	int ret;

	ret = virtio_dev_init(&blk->dev, "virtio-blk", VIRTIO_ID_BLOCK, blk_features(o->readonly),
			      1, BLK_QUEUE_SIZE, sizeof(blk->config), &blk_ops, gm);
	if (ret < 0)
		return err_set(err, ret, "virtio-blk: %s", strerror(-ret));
	blk->slots = calloc(BLK_QUEUE_SIZE, sizeof(*blk->slots));
	blk->free = calloc(BLK_QUEUE_SIZE, sizeof(*blk->free));
	if (!blk->slots || !blk->free)
		return err_set(err, -ENOMEM, "virtio-blk: out of memory");
	blk_reset_slots(blk);
	ret = block_open(&blk->disk, &bo, err);
	if (ret < 0)
		return ret;
	if (blk->disk.size % BLK_SECTOR)
		log_warn("disk '%s': size is not a multiple of 512; the last %llu bytes are "
			 "not visible to the guest",
			 o->path, (unsigned long long)(blk->disk.size % BLK_SECTOR));
	blk_fill_config(blk);
	if (o->serial)
		memcpy(blk->id, o->serial, strnlen(o->serial, sizeof(blk->id)));

	blk->done.fd = blk->disk.efd;
	blk->done.cb = blk_completions;
	ret = evloop_add(&blk->dev.loop, &blk->done, EPOLLIN);
	if (ret == 0)
		ret = rate_limit_init(&blk->limit, o->bw, o->iops, o->clock_ns);
	blk->unthrottle = (struct ev_handler){ .fd = blk->limit.timer_fd, .cb = blk_unthrottle };
	if (ret == 0)
		ret = evloop_add(&blk->dev.loop, &blk->unthrottle, EPOLLIN);
	return ret < 0 ? err_set(err, ret, "virtio-blk: %s", strerror(-ret)) : 0;
}

int virtio_blk_create(const struct gmem *gm, const struct virtio_blk_opts *o,
		      struct virtio_dev **out, struct err *err)
{
	struct virtio_blk *blk = calloc(1, sizeof(*blk));
	int ret;

	if (!blk)
		return err_set(err, -ENOMEM, "virtio-blk: out of memory");
	blk->disk.fd = blk->disk.efd = -1;
	blk->limit.timer_fd = -1;
	ret = blk_setup(blk, gm, o, err);
	if (ret < 0) {
		blk_destroy(&blk->dev);
		return ret;
	}
	*out = &blk->dev;
	return 0;
}

#include <errno.h>
#include <string.h>

#include "virtio/virtqueue.h"

/*
 * Shared-ring accesses: single loads and stores of naturally aligned
 * fields (never torn, never fetched twice), ordered as 2.7.13 asks.
 */
#define RING_LOAD(p)	     __atomic_load_n((p), __ATOMIC_RELAXED)
#define RING_LOAD_ACQ(p)     __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define RING_STORE(p, v)     __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define RING_STORE_REL(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

/* Indices into the uint16_t views of the avail and used rings. */
#define AVAIL_FLAGS	       0
#define AVAIL_IDX	       1
#define AVAIL_RING(i)	       (2 + (i))
#define USED_FLAGS	       0
#define USED_IDX	       1
#define USED_AVAIL_EVENT(size) (2 + 4 * (size_t)(size))

static size_t desc_bytes(uint16_t size)
{
	return 16 * (size_t)size;
}

static size_t avail_bytes(uint16_t size)
{
	return 6 + 2 * (size_t)size;
}

static size_t used_bytes(uint16_t size)
{
	return 6 + 8 * (size_t)size;
}

void vq_reset(struct virtqueue *vq)
{
	uint16_t max = vq->max_size;

	memset(vq, 0, sizeof(*vq));
	vq->max_size = max;
}

int vq_activate(struct virtqueue *vq, const struct gmem *gm, bool event_idx, bool indirect)
{
	uint16_t n = vq->size;

	if (n == 0 || n > vq->max_size || (n & (n - 1)))
		return -EINVAL;
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4))
		return -EINVAL;
	vq->desc = gmem_ptr(gm, vq->desc_gpa, desc_bytes(n));
	vq->avail = gmem_ptr(gm, vq->avail_gpa, avail_bytes(n));
	vq->used = gmem_ptr(gm, vq->used_gpa, used_bytes(n));
	if (!vq->desc || !vq->avail || !vq->used)
		return -EINVAL;
	vq->gmem = gm;
	vq->event_idx = event_idx;
	vq->indirect = indirect;
	vq->last_avail = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->avail_shadow = 0;

	return 0;
}

bool vq_has_avail(struct virtqueue *vq)
{
	return RING_LOAD_ACQ(&vq->avail[AVAIL_IDX]) != vq->last_avail;
}

/* Copies one descriptor out of guest memory; the copy is what gets checked. */
static struct virtq_desc desc_read(const struct virtq_desc *table, uint16_t i)
{
	struct virtq_desc d;

	memcpy(&d, &table[i], sizeof(d));
	/* Keep the compiler from reading the guest's copy again later. */
	__asm__ __volatile__("" : : "r"(&d) : "memory");
	return d;
}

/* Follows an indirect descriptor (2.7.5.3): one level, no NEXT, whole entries. */
static int chain_enter_indirect(struct virtqueue *vq, const struct virtq_desc *d, bool nested,
				const struct virtq_desc **table, uint32_t *table_size)
{
	if (!vq->indirect || nested || (d->flags & VIRTQ_DESC_F_NEXT))
		return -EINVAL;
	if (d->len == 0 || d->len % sizeof(struct virtq_desc) ||
	    d->len / sizeof(struct virtq_desc) > VIRTQ_MAX_SIZE)
		return -EINVAL;
	*table = gmem_ptr(vq->gmem, d->addr, d->len);
	if (!*table)
		return -EINVAL;
	*table_size = d->len / sizeof(struct virtq_desc);
	return 0;
}

/* Adds one buffer to the chain, checking its place, bounds and the totals. */
static int chain_add(struct virtqueue *vq, struct vq_chain *c, const struct virtq_desc *d)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	uint32_t *total = writable ? &c->in_len : &c->out_len;
	void *hva;

	/* Device-readable buffers come first (2.7.4). */
	if (!writable && c->n_in)
		return -EINVAL;
	if (d->len == 0)
		return 0;
	hva = gmem_ptr(vq->gmem, d->addr, d->len);
	if (!hva)
		return -EINVAL;
	if (*total + d->len < *total)
		return -EINVAL;
	if (c->n_out + c->n_in == c->cap)
		return -E2BIG;
	c->iov[c->n_out + c->n_in] = (struct iovec){ .iov_base = hva, .iov_len = d->len };
	*total += d->len;
	if (writable)
		c->n_in++;
	else
		c->n_out++;
	return 0;
}

/* Calls `visit` for each descriptor of the chain at `head`, checked as vq_pop() checks them. */
static int chain_visit(struct virtqueue *vq, uint16_t head,
		       int (*visit)(struct virtqueue *vq, void *ctx, const struct virtq_desc *d),
		       void *ctx)
{
	const struct virtq_desc *table = vq->desc;
	uint32_t table_size = vq->size, budget = vq->size, i = head;
	bool nested = false;
	struct virtq_desc d;
	int ret;

	for (;;) {
		/* A chain visits each descriptor of its table at most once: loops end here. */
		if (i >= table_size || budget-- == 0)
			return -EINVAL;
		d = desc_read(table, (uint16_t)i);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			ret = chain_enter_indirect(vq, &d, nested, &table, &table_size);
			if (ret < 0)
				return ret;
			nested = true;
			budget = table_size;
			i = 0;
			continue;
		}
		ret = visit(vq, ctx, &d);
		if (ret < 0)
			return ret;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

static int chain_add_visit(struct virtqueue *vq, void *ctx, const struct virtq_desc *d)
{
	return chain_add(vq, ctx, d);
}

static int chain_walk(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	c->head = head;
	c->n_out = c->n_in = 0;
	c->out_len = c->in_len = 0;
	return chain_visit(vq, head, chain_add_visit, c);
}

/* The buffers the device may have written: all of the chain's writable ones. */
static int chain_mark_visit(struct virtqueue *vq, void *ctx, const struct virtq_desc *d)
{
	void *hva;

	(void)ctx;
	if (!(d->flags & VIRTQ_DESC_F_WRITE) || d->len == 0)
		return 0;
	hva = gmem_ptr(vq->gmem, d->addr, d->len);
	if (hva)
		gmem_mark_dirty(vq->gmem, hva, d->len);
	return 0;
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t avail_idx = RING_LOAD_ACQ(&vq->avail[AVAIL_IDX]);
	uint16_t head;
	int ret;

	vq->avail_shadow = avail_idx;
	if (avail_idx == vq->last_avail)
		return 0;
	/* The driver cannot have more entries outstanding than the ring holds. */
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return -EINVAL;
	head = RING_LOAD(&vq->avail[AVAIL_RING(vq->last_avail & (vq->size - 1))]);
	ret = chain_walk(vq, head, c);
	if (ret < 0)
		return ret;
	vq->last_avail++;
	return 1;
}

int vq_next(struct virtqueue *vq, struct vq_chain *c)
{
	for (;;) {
		int ret = vq_pop(vq, c);

		if (ret > 0)
			vq_disable_notify(vq);
		if (ret != 0 || !vq_enable_notify(vq))
			return ret;
	}
}

void vq_unpop(struct virtqueue *vq, uint16_t n)
{
	vq->last_avail -= n;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	struct virtq_used_elem *ring = (struct virtq_used_elem *)&vq->used[2];
	struct virtq_used_elem *e = &ring[vq->used_idx & (vq->size - 1)];

	/*
	 * While RAM is being migrated, what the device wrote must be sent again.
	 * The chain is walked anew: a driver that changed it meanwhile only
	 * spoils its own migration.
	 */
	if (written && atomic_load_explicit(&vq->gmem->dirty.on, memory_order_relaxed))
		(void)chain_visit(vq, head, chain_mark_visit, NULL);

	RING_STORE(&e->id, head);
	RING_STORE(&e->len, written);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	RING_STORE_REL(&vq->used[USED_IDX], vq->used_idx);
}

void vq_mark_used_ring(struct virtqueue *vq)
{
	if (vq->used)
		gmem_mark_dirty(vq->gmem, vq->used, used_bytes(vq->size));
}

bool vq_should_signal(struct virtqueue *vq)
{
	uint16_t old = vq->signalled_used, now = vq->used_idx, event;

	/* Our used index store must be visible before we read the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (old == now)
		return false;
	vq->signalled_used = now;
	if (!vq->event_idx)
		return !(RING_LOAD(&vq->avail[AVAIL_FLAGS]) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	event = RING_LOAD(&vq->avail[AVAIL_RING(vq->size)]);
	/* vring_need_event(): did `now` move past the driver's used_event? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->avail)
		return false;
	if (vq->event_idx)
		RING_STORE(&vq->used[USED_AVAIL_EVENT(vq->size)], vq->last_avail);
	else
		RING_STORE(&vq->used[USED_FLAGS], 0);
	/* Publish the wish before looking for entries that raced with it. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_has_avail(vq);
}

bool vq_want_more(struct virtqueue *vq)
{
	/*
	 * What the device last saw, not a fresh read: entries published since
	 * then may have come without a notification, and must count as new.
	 */
	uint16_t seen = vq->avail_shadow;

	if (!vq->avail)
		return false;
	if (vq->event_idx)
		RING_STORE(&vq->used[USED_AVAIL_EVENT(vq->size)], seen);
	else
		RING_STORE(&vq->used[USED_FLAGS], 0);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return RING_LOAD_ACQ(&vq->avail[AVAIL_IDX]) != seen;
}

void vq_disable_notify(struct virtqueue *vq)
{
	if (!vq->event_idx)
		RING_STORE(&vq->used[USED_FLAGS], VIRTQ_USED_F_NO_NOTIFY);
}

/* Calls `fn` on each piece of [off, off + len) of the segments; returns the bytes covered. */
static size_t iov_walk(const struct iovec *iov, unsigned int n, size_t off, size_t len,
		       void (*fn)(uint8_t *seg, size_t done, size_t take, void *ctx), void *ctx)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		size_t take;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		take = MIN(iov[i].iov_len - off, len - done);
		fn((uint8_t *)iov[i].iov_base + off, done, take, ctx);
		done += take;
		off = 0;
	}
	return done;
}

static void copy_out(uint8_t *seg, size_t done, size_t take, void *buf)
{
	memcpy((uint8_t *)buf + done, seg, take);
}

static void copy_in(uint8_t *seg, size_t done, size_t take, void *buf)
{
	memcpy(seg, (const uint8_t *)buf + done, take);
}

static void fill(uint8_t *seg, size_t done, size_t take, void *byte)
{
	memset(seg, *(int *)byte, take);
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t off, void *buf, size_t len)
{
	return iov_walk(iov, n, off, len, copy_out, buf);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t off, const void *buf,
		    size_t len)
{
	return iov_walk(iov, n, off, len, copy_in, (void *)(uintptr_t)buf);
}

size_t iov_memset(const struct iovec *iov, unsigned int n, size_t off, int c, size_t len)
{
	return iov_walk(iov, n, off, len, fill, &c);
}

int iov_slice(const struct iovec *src, unsigned int n, size_t off, size_t len, struct iovec *dst,
	      unsigned int cap)
{
	unsigned int count = 0;

	for (unsigned int i = 0; i < n && len; i++) {
		size_t take;

		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		if (count == cap)
			return -E2BIG;
		take = MIN(src[i].iov_len - off, len);
		dst[count++] = (struct iovec){ .iov_base = (uint8_t *)src[i].iov_base + off,
					       .iov_len = take };
		len -= take;
		off = 0;
	}
	return (int)count;
}

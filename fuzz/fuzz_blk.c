/*
 * virtio-blk's request parser on any chain a driver could hand it: the
 * answer always goes to the chain's last writable byte, and what it is told
 * to read or write is a whole number of sectors inside the disk, made of
 * the chain's own buffers, never a write to a read-only disk, never a
 * command the negotiated features do not allow.
 *
 * Input: a flags byte (read-only, flush, discard, write-zeroes), the disk's
 * size in sectors (8 bytes), the counts of device-readable (0-7) and
 * device-writable (1-8) segments, then each segment as a 2-byte length
 * (1-4096) followed, for readable ones, by its bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "virtio/blk.h"
#include "virtio/virtio.h"

#define MAX_SEGS 15
#define SECTOR	 512

static bool inside_chain(const struct vq_chain *c, const struct iovec *d)
{
	for (unsigned int i = 0; i < c->n_out + c->n_in; i++) {
		const uint8_t *b = c->iov[i].iov_base, *p = d->iov_base;

		if (p >= b && p + d->iov_len <= b + c->iov[i].iov_len)
			return true;
	}
	return false;
}

static void check(const struct vq_chain *c, const struct blk_limits *lim,
		  const struct blk_request *r, const struct iovec *data)
{
	const struct iovec *last = &c->iov[c->n_out + c->n_in - 1];
	uint64_t sum = 0;

	FUZZ_CHECK(r->status_ptr == (uint8_t *)last->iov_base + last->iov_len - 1);
	for (unsigned int i = 0; i < r->ndata; i++) {
		FUZZ_CHECK(inside_chain(c, &data[i]));
		sum += data[i].iov_len;
	}
	switch (r->action) {
	case BLK_READ:
	case BLK_WRITE:
		FUZZ_CHECK(r->len % SECTOR == 0 && sum == r->len);
		FUZZ_CHECK(r->offset / SECTOR + r->len / SECTOR <= lim->sectors);
		FUZZ_CHECK(r->action == BLK_READ || !lim->readonly);
		break;
	case BLK_DISCARD:
	case BLK_WRITE_ZEROES:
		FUZZ_CHECK(!lim->readonly && r->len > 0);
		FUZZ_CHECK(r->offset / SECTOR + r->len / SECTOR <= lim->sectors);
		FUZZ_CHECK(lim->features &
			   VIRTIO_BIT(r->action == BLK_DISCARD ? VIRTIO_BLK_F_DISCARD
							       : VIRTIO_BLK_F_WRITE_ZEROES));
		break;
	case BLK_FLUSH:
		FUZZ_CHECK(lim->features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
		break;
	case BLK_GET_ID:
		FUZZ_CHECK(r->len <= 20 && sum == r->len);
		break;
	default:
		FUZZ_CHECK(r->status <= VIRTIO_BLK_S_UNSUPP);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct iovec iov[MAX_SEGS], data[MAX_SEGS];
	uint8_t *bufs[MAX_SEGS] = { 0 };
	struct vq_chain c = { .iov = iov, .cap = MAX_SEGS };
	struct blk_limits lim = { 0 };
	struct blk_request r;
	size_t off = 11;
	unsigned int n;

	if (size < off)
		return 0;
	lim.readonly = in[0] & 1;
	lim.features = (in[0] & 2 ? VIRTIO_BIT(VIRTIO_BLK_F_FLUSH) : 0) |
		       (in[0] & 4 ? VIRTIO_BIT(VIRTIO_BLK_F_DISCARD) : 0) |
		       (in[0] & 8 ? VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES) : 0);
	memcpy(&lim.sectors, in + 1, 8);
	lim.sectors &= (1ULL << 40) - 1;
	c.n_out = in[9] % 8;
	c.n_in = 1 + in[10] % 8;
	n = c.n_out + c.n_in;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t len = 1;

		if (off + 2 <= size) {
			memcpy(&len, in + off, 2);
			off += 2;
		}
		len = (uint16_t)(1 + len % 4096);
		bufs[i] = calloc(1, len);
		if (i < c.n_out) {
			size_t take = size - off < len ? size - off : len;

			memcpy(bufs[i], in + off, take);
			off += take;
			c.out_len += len;
		} else {
			c.in_len += len;
		}
		iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = len };
	}
	if (virtio_blk_parse(&c, &lim, &r, data, MAX_SEGS) == 0)
		check(&c, &lim, &r, data);
	for (unsigned int i = 0; i < n; i++)
		free(bufs[i]);
	return 0;
}

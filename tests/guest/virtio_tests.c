/*
 * The virtio tests: virtio-rng (entropy requests), virtio-blk (every block
 * device: identity, reads, writes or the read-only refusal, a read past the
 * end) and virtio-bad-chain (a looping descriptor chain must make the device
 * set DEVICE_NEEDS_RESET, and a reset must bring it back). Each prints its
 * KV lines, then PASS or FAIL.
 */
#include "guest.h"
#include "virtio.h"

#define RNG_REQUEST  64
#define RNG_REQUESTS 4

/* virtio-blk (virtio 1.2, 5.2). */
#define VIRTIO_BLK_F_RO	    5
#define VIRTIO_BLK_F_FLUSH  9
#define VIRTIO_BLK_T_IN	    0
#define VIRTIO_BLK_T_OUT    1
#define VIRTIO_BLK_T_FLUSH  4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK	    0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_ID_BYTES 20
#define STATUS_UNTOUCHED    0xff
#define SECTOR		    512
#define BLK_SECTORS	    8 /* one 4 KiB transfer */
#define BLK_BYTES	    (BLK_SECTORS * SECTOR)
#define BLK_READ_SECTOR	    8 /* the host fills sectors 8..15 */
#define BLK_TAG_BYTES	    16

struct virtio_blk_req {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

/* Written before every use, so out of .bss; page aligned: no page crossing. */
static uint8_t rng_buf[RNG_REQUESTS * RNG_REQUEST] __noinit;
static uint8_t blk_wbuf[BLK_BYTES] __noinit __attribute__((aligned(4096)));
static uint8_t blk_rbuf[BLK_BYTES] __noinit __attribute__((aligned(4096)));
static struct virtio_blk_req blk_hdr;
static uint8_t blk_status;
static char blk_id[VIRTIO_BLK_ID_BYTES + 1];

/* One device-writable buffer; the device may fill less than asked. */
static const char *rng_request(struct virtio_dev *d, uint8_t *buf, uint32_t *got)
{
	struct virtio_buf b = { buf, RNG_REQUEST, true };
	const char *err = virtio_request(d, &b, 1, false, got);

	if (!err && (*got == 0 || *got > RNG_REQUEST))
		err = "used length out of 1..64";
	return err;
}

void test_virtio_rng(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_RNG, 0);
	uint32_t total = 0, got = 0;
	bool varied = false;
	const char *err;

	if (!d) {
		virtio_fail_missing("virtio-rng", "virtio-rng");
		return;
	}
	err = virtio_init(d, 0);
	for (unsigned int i = 0; !err && i < RNG_REQUESTS; i++) {
		uint8_t *buf = rng_buf + i * RNG_REQUEST;

		err = rng_request(d, buf, &got);
		/* Compared with the very first byte: one short answer cannot pass alone. */
		for (uint32_t k = 0; !err && k < got; k++)
			varied |= buf[k] != rng_buf[0];
		total += err ? 0 : got;
	}
	virtio_stop(d);
	gprintf("KV virtio_rng_bytes=%u\n", total);
	gprintf("KV virtio_rng_irqs=%u\n", d->irqs);
	if (err)
		test_fail("virtio-rng", "%s", err);
	else if (!varied)
		test_fail("virtio-rng", "all %u bytes are equal", total);
	else
		test_pass("virtio-rng");
}

/*
 * A looping chain (0 -> 1 -> 0) is a driver error the device must survive:
 * it sets DEVICE_NEEDS_RESET (2.1.2), and a reset makes it usable again.
 */
void test_virtio_bad_chain(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_RNG, 0);
	const char *err;
	bool needs_reset;
	uint32_t got;

	if (!d) {
		virtio_fail_missing("virtio-bad-chain", "virtio-rng");
		return;
	}
	err = virtio_init(d, 0);
	if (!err && d->vq[0].size < 2)
		err = "queue too small for a two-descriptor loop";
	if (err) {
		virtio_stop(d);
		test_fail("virtio-bad-chain", "%s", err);
		return;
	}
	d->vq[0].desc[0] = (struct virtq_desc){ (uintptr_t)rng_buf, RNG_REQUEST,
						VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
	d->vq[0].desc[1] = (struct virtq_desc){ (uintptr_t)rng_buf + RNG_REQUEST, RNG_REQUEST,
						VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0 };
	virtio_publish(d, 0);
	needs_reset = virtio_wait_needs_reset(d);
	gprintf("KV virtio_needs_reset=%d\n", needs_reset);
	/* Reported, not required: with DRIVER_OK set, 2.1.2 asks for a config interrupt. */
	virtio_take_irq(d);
	gprintf("KV virtio_config_irq=%d\n", !!(d->isr_seen & VIRTIO_MMIO_INT_CONFIG));
	/* virtio_init() starts with the reset: Status 0, then wait for it to read 0. */
	err = virtio_init(d, 0);
	if (!err)
		err = rng_request(d, rng_buf, &got);
	virtio_stop(d);
	if (!err)
		gprintf("KV virtio_after_reset=ok\n");
	if (!needs_reset)
		test_fail("virtio-bad-chain", "no DEVICE_NEEDS_RESET after a looping chain");
	else if (err)
		test_fail("virtio-bad-chain", "after the reset: %s", err);
	else
		test_pass("virtio-bad-chain");
}

/* One block device under test: blkN. */
struct blk {
	struct virtio_dev *d;
	unsigned int n;
	uint64_t capacity;
	bool ro;
};

/* Header, data buffers, status byte (5.2.6); the status is STATUS_UNTOUCHED if never written. */
static const char *blk_request(struct blk *b, uint32_t type, uint64_t sector,
			       const struct virtio_buf *data, unsigned int n, bool indirect)
{
	struct virtio_buf bufs[VIRTQ_MAX_CHAIN];
	uint32_t len;

	blk_hdr = (struct virtio_blk_req){ .type = type, .sector = sector };
	blk_status = STATUS_UNTOUCHED;
	bufs[0] = (struct virtio_buf){ &blk_hdr, sizeof(blk_hdr), false };
	for (unsigned int i = 0; i < n; i++)
		bufs[1 + i] = data[i];
	bufs[n + 1] = (struct virtio_buf){ &blk_status, 1, true };
	return virtio_request(b->d, bufs, n + 2, indirect, &len);
}

static const char *status_name(uint8_t s)
{
	switch (s) {
	case VIRTIO_BLK_S_OK:
		return "ok";
	case VIRTIO_BLK_S_IOERR:
		return "ioerr";
	case VIRTIO_BLK_S_UNSUPP:
		return "unsupp";
	case STATUS_UNTOUCHED:
		return "not written";
	default:
		return "invalid";
	}
}

static const char *expect_ok(const char *err)
{
	if (!err && blk_status != VIRTIO_BLK_S_OK)
		err = status_name(blk_status);
	return err;
}

/* The serial number: up to 20 bytes, NUL-terminated only when shorter (5.2.6). */
static const char *blk_get_id(struct blk *b)
{
	struct virtio_buf data = { blk_id, VIRTIO_BLK_ID_BYTES, true };
	const char *err;

	memset(blk_id, 0, sizeof(blk_id));
	err = expect_ok(blk_request(b, VIRTIO_BLK_T_GET_ID, 0, &data, 1, false));
	if (err)
		return err;
	/* Keep the serial line parseable whatever the device wrote. */
	for (unsigned int i = 0; blk_id[i]; i++)
		if (blk_id[i] < 0x20 || blk_id[i] > 0x7e)
			blk_id[i] = '?';
	gprintf("KV blk%u_id=%s\n", b->n, blk_id);
	return NULL;
}

/* The same hash as the initrd test, which the host computes too. */
static uint32_t fnv1a(const uint8_t *p, size_t n)
{
	uint32_t hash = 0x811c9dc5;

	for (size_t i = 0; i < n; i++)
		hash = (hash ^ p[i]) * 0x01000193;
	return hash;
}

/* Sectors 8..15 in two data descriptors, to exercise scatter-gather. */
static const char *blk_read(struct blk *b)
{
	struct virtio_buf data[2] = {
		{ blk_rbuf, SECTOR, true },
		{ blk_rbuf + SECTOR, BLK_BYTES - SECTOR, true },
	};
	const char *err;

	/* Stale bytes from another disk must not pass for this one's. */
	memset(blk_rbuf, 0, BLK_BYTES);
	err = expect_ok(blk_request(b, VIRTIO_BLK_T_IN, BLK_READ_SECTOR, data, 2, false));
	if (err)
		return err;
	gprintf("KV blk%u_read_fnv1a=%x\n", b->n, fnv1a(blk_rbuf, BLK_BYTES));
	return NULL;
}

/* Bytes (s * 7 + i) & 0xff, the first 16 replaced by "EMBER-BLK s=<s>" and spaces. */
static void fill_sector(uint8_t *p, unsigned int s)
{
	static const char tag[] = "EMBER-BLK s=";
	char digits[10];
	unsigned int i, nd = 0;

	for (i = 0; i < SECTOR; i++)
		p[i] = (uint8_t)(s * 7 + i);
	memcpy(p, tag, sizeof(tag) - 1);
	do {
		digits[nd++] = (char)('0' + s % 10);
		s /= 10;
	} while (s);
	for (i = sizeof(tag) - 1; nd && i < BLK_TAG_BYTES; i++)
		p[i] = (uint8_t)digits[--nd];
	for (; i < BLK_TAG_BYTES; i++)
		p[i] = ' ';
}

/* Sectors 0..7, through an indirect table when negotiated, flushed, read back. */
static const char *blk_write(struct blk *b)
{
	struct virtio_buf out = { blk_wbuf, BLK_BYTES, false };
	struct virtio_buf in = { blk_rbuf, BLK_BYTES, true };
	bool indirect = virtio_has(b->d, VIRTIO_RING_F_INDIRECT_DESC);
	const char *err;

	for (unsigned int s = 0; s < BLK_SECTORS; s++)
		fill_sector(blk_wbuf + s * SECTOR, s);
	err = expect_ok(blk_request(b, VIRTIO_BLK_T_OUT, 0, &out, 1, indirect));
	if (!err && virtio_has(b->d, VIRTIO_BLK_F_FLUSH))
		err = expect_ok(blk_request(b, VIRTIO_BLK_T_FLUSH, 0, NULL, 0, false));
	if (!err)
		err = expect_ok(blk_request(b, VIRTIO_BLK_T_IN, 0, &in, 1, false));
	if (!err && memcmp(blk_wbuf, blk_rbuf, BLK_BYTES) != 0)
		err = "sectors 0..7 read back differ from what was written";
	if (!err)
		gprintf("KV blk%u_write=ok\n", b->n);
	return err;
}

/* A read-only disk must refuse a write with IOERR (5.2.6.2). */
static const char *blk_ro_write(struct blk *b)
{
	struct virtio_buf out = { blk_wbuf, SECTOR, false };
	const char *err;

	fill_sector(blk_wbuf, 0);
	err = blk_request(b, VIRTIO_BLK_T_OUT, 0, &out, 1, false);
	if (err)
		return err;
	gprintf("KV blk%u_ro_write=%s\n", b->n, status_name(blk_status));
	return blk_status == VIRTIO_BLK_S_IOERR ? NULL : "write to a read-only disk not refused";
}

static const char *blk_write_or_refuse(struct blk *b)
{
	return b->ro ? blk_ro_write(b) : blk_write(b);
}

/* One sector at sector == capacity: past the end, so IOERR. */
static const char *blk_past_end(struct blk *b)
{
	struct virtio_buf in = { blk_rbuf, SECTOR, true };
	const char *err = blk_request(b, VIRTIO_BLK_T_IN, b->capacity, &in, 1, false);

	if (err)
		return err;
	gprintf("KV blk%u_past_end=%s\n", b->n, status_name(blk_status));
	return blk_status == VIRTIO_BLK_S_IOERR ? NULL : "read past the end not refused";
}

static const struct {
	const char *name;
	const char *(*run)(struct blk *b);
} blk_steps[] = {
	{ "GET_ID", blk_get_id },
	{ "read", blk_read },
	{ "write", blk_write_or_refuse },
	{ "past-end read", blk_past_end },
};

/* Every step on disk blkN; false after printing the FAIL line. */
static bool blk_test_one(struct blk *b)
{
	const char *err = virtio_init(b->d, 1ULL << VIRTIO_BLK_F_RO | 1ULL << VIRTIO_BLK_F_FLUSH);
	const char *step = "init";

	if (!err) {
		b->capacity = virtio_config64(b->d, 0);
		b->ro = virtio_has(b->d, VIRTIO_BLK_F_RO);
		gprintf("KV blk%u_capacity=%llu\n", b->n, (unsigned long long)b->capacity);
		gprintf("KV blk%u_ro=%d\n", b->n, b->ro);
	}
	for (unsigned int i = 0; !err && i < ARRAY_SIZE(blk_steps); i++) {
		step = blk_steps[i].name;
		err = blk_steps[i].run(b);
	}
	virtio_stop(b->d);
	gprintf("KV blk%u_irqs=%u\n", b->n, b->d->irqs);
	if (err)
		test_fail("virtio-blk", "blk%u %s: %s", b->n, step, err);
	return !err;
}

void test_virtio_blk(void)
{
	struct blk b = { .d = virtio_find(VIRTIO_ID_BLOCK, 0) };

	if (!b.d) {
		virtio_fail_missing("virtio-blk", "virtio-blk");
		return;
	}
	for (; b.d; b.d = virtio_find(VIRTIO_ID_BLOCK, ++b.n))
		if (!blk_test_one(&b))
			return;
	test_pass("virtio-blk");
}

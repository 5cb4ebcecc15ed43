/*
 * The I/O benchmarks that bench/io.py runs in ember and in QEMU on the same
 * guest: bench-blk (4 KiB random reads 32 deep, then 128 KiB sequential
 * reads and writes 16 deep, on the first block device) and bench-net
 * (frames of 1514 and of 60 bytes sent as fast as the first network device
 * takes them). Like a polling driver (Linux's io_poll, DPDK), they keep
 * requests in flight and poll the used ring with the device's interrupts
 * suppressed, so what is measured is the VMM's data path rather than this
 * guest's interrupt handling.
 *
 * The host times each phase between its two lines, so the guest needs no
 * clock it would have to calibrate:
 *   BENCH <phase> start
 *   BENCH <phase> done ops=<n> bytes=<n>
 */
#include "guest.h"
#include "io.h"
#include "virtio.h"

#define VIRTIO_BLK_T_IN	   0
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_S_OK	   0
#define SECTOR		   512
#define RAND_BYTES	   4096
#define RAND_DEPTH	   32
#define SEQ_BYTES	   (128 * 1024)
#define SEQ_DEPTH	   16
#define BLK_DESCS	   3 /* header, data, status */
#define DEFAULT_BLK_OPS	   20000
#define DEFAULT_BLK_MIB	   256
#define DEFAULT_NET_FRAMES 200000
#define BENCH_QUEUE	   VIRTQ_BIG_SIZE
#define STALL_MS	   5000 /* no completion for this long fails the phase */

#define VIRTIO_NET_F_MAC 5
#define NET_TXQ		 1
#define NET_HDR_LEN	 12 /* struct virtio_net_hdr_v1, all zero: no offloads */
#define ETH_ALEN	 6
#define BIG_FRAME	 1514
#define SMALL_FRAME	 60
#define ETHERTYPE_LOCAL	 0x88b5 /* IEEE 802 local experimental: no host stack wants it */

struct blk_req {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

static uint8_t blk_data[SEQ_DEPTH][SEQ_BYTES] __noinit __attribute__((aligned(4096)));
static struct blk_req blk_hdr[RAND_DEPTH] __noinit;
static uint8_t blk_status[RAND_DEPTH] __noinit;
static uint8_t frame[NET_HDR_LEN + BIG_FRAME] __noinit __attribute__((aligned(64)));

_Static_assert(RAND_DEPTH *RAND_BYTES <= sizeof(blk_data), "random reads outgrow the buffers");
_Static_assert(RAND_DEPTH *BLK_DESCS <= BENCH_QUEUE, "random reads outgrow the queue");
_Static_assert(SEQ_DEPTH *BLK_DESCS <= BENCH_QUEUE, "sequential I/O outgrows the queue");

/*
 * One phase: `total` requests, at most `depth` in flight, request slot s in
 * descriptors s * descs .. s * descs + descs - 1, written by prepare().
 */
struct phase {
	const char *name;
	struct virtio_dev *d;
	unsigned int q, depth, descs;
	uint64_t total, bytes_each;
	void (*prepare)(struct phase *p, unsigned int slot, uint64_t nr);
	bool (*ok)(unsigned int slot);
	/* bench-blk */
	uint32_t type;
	uint64_t blocks; /* of bytes_each in the disk */
	uint64_t rand;	 /* xorshift64 state */
};

static void blk_prepare(struct phase *p, unsigned int slot, uint64_t nr)
{
	struct virtq_desc *t = p->d->vq[0].desc + slot * BLK_DESCS;
	uint64_t block = nr % p->blocks;
	uint8_t *data =
		p->bytes_each == RAND_BYTES ? blk_data[0] + slot * RAND_BYTES : blk_data[slot];

	if (p->rand) {
		p->rand ^= p->rand << 13;
		p->rand ^= p->rand >> 7;
		p->rand ^= p->rand << 17;
		block = p->rand % p->blocks;
	}
	blk_hdr[slot] =
		(struct blk_req){ .type = p->type, .sector = block * (p->bytes_each / SECTOR) };
	blk_status[slot] = 0xff;
	t[0] = (struct virtq_desc){ (uintptr_t)&blk_hdr[slot], sizeof(struct blk_req),
				    VIRTQ_DESC_F_NEXT, slot * BLK_DESCS + 1 };
	t[1] = (struct virtq_desc){ (uintptr_t)data, (uint32_t)p->bytes_each,
				    VIRTQ_DESC_F_NEXT |
					    (p->type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0),
				    slot * BLK_DESCS + 2 };
	t[2] = (struct virtq_desc){ (uintptr_t)&blk_status[slot], 1, VIRTQ_DESC_F_WRITE, 0 };
}

static bool blk_ok(unsigned int slot)
{
	return blk_status[slot] == VIRTIO_BLK_S_OK;
}

/* Every frame is the same bytes: the device only reads them. */
static void net_prepare(struct phase *p, unsigned int slot, uint64_t nr)
{
	(void)nr;
	p->d->vq[NET_TXQ].desc[slot] =
		(struct virtq_desc){ (uintptr_t)frame, (uint32_t)(NET_HDR_LEN + p->bytes_each), 0,
				     0 };
}

static bool net_ok(unsigned int slot)
{
	(void)slot;
	return true;
}

static const char *take_used(struct phase *p, uint64_t *done, uint16_t *heads, unsigned int *n)
{
	uint32_t id, len;

	while (virtio_next_used(p->d, p->q, &id, &len)) {
		unsigned int slot = id / p->descs;

		if (id % p->descs || slot >= p->depth)
			return "the used ring returned a descriptor never made available";
		if (*n == p->depth)
			return "the used ring returned more requests than were in flight";
		if (!p->ok(slot))
			return "a request failed";
		++*done;
		heads[(*n)++] = (uint16_t)id;
	}
	return NULL;
}

/*
 * Without completions: once a timer tick (a register read is an exit, so not
 * on every spin), whether the device gave up or the phase stalled.
 */
static const char *check_stall(struct phase *p, uint64_t last_done, uint64_t *checked)
{
	uint64_t now = timer_ticks();

	if (now == *checked)
		return NULL;
	*checked = now;
	if (virtio_needs_reset(p->d))
		return "the device set DEVICE_NEEDS_RESET";
	if (now - last_done > STALL_MS)
		return "no request completed for 5 s";
	return NULL;
}

/* Keeps the queue full until `total` requests completed. */
static const char *run_requests(struct phase *p)
{
	uint16_t heads[BENCH_QUEUE];
	uint64_t submitted = 0, done = 0, last_done = timer_ticks(), checked = last_done;
	unsigned int n;
	const char *err = NULL;

	for (n = 0; n < p->depth && submitted < p->total; n++) {
		p->prepare(p, n, submitted++);
		heads[n] = (uint16_t)(n * p->descs);
	}
	virtio_publish_on(p->d, p->q, heads, n);
	while (!err && done < p->total) {
		unsigned int completed = 0, again = 0;

		err = take_used(p, &done, heads, &completed);
		for (; again < completed && submitted < p->total; again++)
			p->prepare(p, heads[again] / p->descs, submitted++);
		if (again)
			virtio_publish_on(p->d, p->q, heads, again);
		if (completed)
			last_done = timer_ticks();
		else if (!err)
			err = check_stall(p, last_done, &checked);
	}
	return err;
}

/* The BENCH lines around the requests; the timer runs for the stall check. */
static const char *run_phase(struct phase *p)
{
	const char *err;

	gprintf("BENCH %s start\n", p->name);
	timer_start();
	sti();
	err = run_requests(p);
	cli();
	timer_stop();
	if (!err)
		gprintf("BENCH %s done ops=%llu bytes=%llu\n", p->name,
			(unsigned long long)p->total,
			(unsigned long long)(p->total * p->bytes_each));
	return err;
}

static uint64_t or_default(uint64_t v, uint64_t dflt)
{
	return v ? v : dflt;
}

static const char *blk_phases(struct virtio_dev *d)
{
	uint64_t sectors = virtio_config64(d, 0);
	uint64_t seq_ops = or_default(config.blk_mib, DEFAULT_BLK_MIB) * MIB / SEQ_BYTES;
	struct phase p = { .d = d, .descs = BLK_DESCS, .prepare = blk_prepare, .ok = blk_ok };
	const char *err;

	if (sectors < SEQ_BYTES / SECTOR)
		return "the disk is smaller than one 128 KiB request";
	if (d->vq[0].size < RAND_DEPTH * BLK_DESCS)
		return "the queue holds fewer than 32 requests of 3 descriptors";
	p.name = "blk-randread";
	p.depth = RAND_DEPTH;
	p.total = or_default(config.blk_ops, DEFAULT_BLK_OPS);
	p.bytes_each = RAND_BYTES;
	p.blocks = sectors / (RAND_BYTES / SECTOR);
	p.type = VIRTIO_BLK_T_IN;
	p.rand = 0x9e3779b97f4a7c15ULL;
	err = run_phase(&p);
	p.depth = SEQ_DEPTH;
	p.total = seq_ops;
	p.bytes_each = SEQ_BYTES;
	p.blocks = sectors / (SEQ_BYTES / SECTOR);
	p.rand = 0;
	if (!err) {
		p.name = "blk-seqread";
		err = run_phase(&p);
	}
	if (!err) {
		p.name = "blk-seqwrite";
		p.type = VIRTIO_BLK_T_OUT;
		err = run_phase(&p);
	}
	return err;
}

/* To a unicast address no host has, from the device's: the host drops it early. */
static void build_frame(const struct virtio_dev *d)
{
	static const uint8_t nobody[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0xfe };
	uint8_t *eth = frame + NET_HDR_LEN;

	memset(frame, 0, sizeof(frame));
	memcpy(eth, nobody, ETH_ALEN);
	if (virtio_has(d, VIRTIO_NET_F_MAC))
		virtio_config_bytes(d, 0, eth + ETH_ALEN, ETH_ALEN);
	else
		eth[ETH_ALEN] = 0x02;
	eth[2 * ETH_ALEN] = ETHERTYPE_LOCAL >> 8;
	eth[2 * ETH_ALEN + 1] = ETHERTYPE_LOCAL & 0xff;
}

static const char *net_phases(struct virtio_dev *d)
{
	struct phase p = { .d = d, .q = NET_TXQ, .descs = 1, .prepare = net_prepare, .ok = net_ok };
	const char *err;

	build_frame(d);
	p.depth = d->vq[NET_TXQ].size;
	p.total = or_default(config.net_frames, DEFAULT_NET_FRAMES);
	p.name = "net-tx-1514";
	p.bytes_each = BIG_FRAME;
	err = run_phase(&p);
	if (!err) {
		p.name = "net-tx-60";
		p.bytes_each = SMALL_FRAME;
		err = run_phase(&p);
	}
	return err;
}

/*
 * The first device of `id`, polled with big queues (`nr_queues`, features
 * `wanted`), through `phases`; then PASS or FAIL `test`.
 */
static void run_bench(const char *test, uint32_t id, const char *what, uint64_t wanted,
		      unsigned int nr_queues, const char *(*phases)(struct virtio_dev *d))
{
	struct virtio_dev *d = virtio_find(id, 0);
	const char *err;

	if (!d) {
		virtio_fail_missing(test, what);
		return;
	}
	d->queue_cap = BENCH_QUEUE;
	d->polled = true;
	err = virtio_init_queues(d, wanted, nr_queues);
	if (!err)
		err = phases(d);
	virtio_stop(d);
	if (err)
		test_fail(test, "%s", err);
	else
		test_pass(test);
}

void test_bench_blk(void)
{
	run_bench("bench-blk", VIRTIO_ID_BLOCK, "virtio-blk", 0, 1, blk_phases);
}

/* Both queues; the receive queue gets no buffers, so the device holds what comes in. */
void test_bench_net(void)
{
	run_bench("bench-net", VIRTIO_ID_NET, "virtio-net", 1ULL << VIRTIO_NET_F_MAC, 2,
		  net_phases);
}

/*
 * hostile: a guest that breaks the rules on purpose, one case at a time, on
 * the first entropy device (and, for a reset with requests in flight, the
 * first block, network and vsock devices). After each case the device must either have done
 * nothing or say DEVICE_NEEDS_RESET, and a reset must bring it back: a
 * normal request works again. A canary page next to the buffers must come
 * out untouched. Each case prints "KV hostile_<case>=<what happened>".
 *
 * Then the legacy devices ember emulates get garbage on their ports (the
 * keyboard controller, the CMOS clock) and must still answer properly.
 *
 * The host checks the rest: ember is still running and exits as asked, and
 * the disk images are unchanged (only reads reach them).
 */
#include "guest.h"
#include "io.h"
#include "virtio.h"

#define H_BUF	     64
#define H_CANARY     0xa5
#define H_FLOOD_IRQS 100000
#define H_UART_FLOOD 65536
#define H_INFLIGHT   4
#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_S_OK     0
#define COM1_THR     0x3f8
#define COM1_LSR     0x3fd
#define LSR_THRE     0x20
#define I8042_DATA   0x60
#define I8042_CMD    0x64
#define I8042_OBF    0x01
#define CMOS_INDEX   0x70
#define CMOS_DATA    0x71
#define H_PORT_FLOOD 20000

/* The buffers, then a page nothing may touch; both written before use. */
static uint8_t h_buf[4096] __noinit __attribute__((aligned(4096)));
static uint8_t h_canary[4096] __noinit __attribute__((aligned(4096)));
static uint8_t h_blk[H_INFLIGHT][512] __noinit __attribute__((aligned(512)));
struct h_req {
	uint32_t type, reserved;
	uint64_t sector;
};
static struct h_req h_hdr[H_INFLIGHT];
static uint8_t h_status[H_INFLIGHT];
/* Frames and packets in flight (a network frame: a 12-byte header, 60 bytes of Ethernet). */
#define H_FRAMES      8
#define H_NET_HDR     12
#define H_FRAME_LEN   (H_NET_HDR + 60)
#define H_RX_LEN      2048
#define H_WAIT_MS     5000
#define H_VSOCK_PORT  9 /* nobody listens there: the device answers with a reset */
#define H_VSOCK_LOCAL 50000
static uint8_t h_tx[H_FRAMES][H_FRAME_LEN] __attribute__((aligned(64)));
static uint8_t h_rx[H_FRAMES][H_RX_LEN] __noinit __attribute__((aligned(4096)));

static const char *rng_ok(struct virtio_dev *d)
{
	struct virtio_buf b = { h_buf, H_BUF, true };
	uint32_t got;
	const char *err = virtio_init(d, 0);

	if (!err)
		err = virtio_request(d, &b, 1, false, &got);
	return err;
}

/* A one-descriptor request that the device must refuse: it then needs a reset. */
static const char *bad_descriptor(struct virtio_dev *d, uint64_t addr, uint32_t len)
{
	const char *err = virtio_init(d, 0);

	if (err)
		return err;
	d->vq[0].desc[0] = (struct virtq_desc){ addr, len, VIRTQ_DESC_F_WRITE, 0 };
	virtio_publish(d, 0);
	return virtio_wait_needs_reset(d) ? NULL : "no DEVICE_NEEDS_RESET";
}

/* Status up to FEATURES_OK with VERSION_1 only, by hand. */
static void raw_features_ok(struct virtio_dev *d)
{
	virtio_reset(d);
	virtio_reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	virtio_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, 1); /* VERSION_1 */
	virtio_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	virtio_reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, 0);
	virtio_reg_write(d, VIRTIO_MMIO_STATUS,
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				 VIRTIO_STATUS_FEATURES_OK);
}

/* A queue size the driver may not choose: the queue must not go live. */
static const char *bad_queue_size(struct virtio_dev *d, uint32_t num)
{
	const struct virtq *vq = &d->vq[0]; /* rings as virtio_init() placed them */
	uint32_t ready, status;

	raw_features_ok(d);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_SEL, 0);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)vq->desc);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)vq->avail);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)vq->used);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	ready = virtio_reg_read(d, VIRTIO_MMIO_QUEUE_READY);
	status = virtio_reg_read(d, VIRTIO_MMIO_STATUS);
	return !ready || (status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) ? NULL : "the queue went live";
}

/* Notifications before DRIVER_OK, and for queues that do not exist: ignored. */
static const char *early_notify(struct virtio_dev *d)
{
	raw_features_ok(d);
	for (uint32_t q = 0; q < 100; q++)
		virtio_reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q % 2 ? q : 0);
	return virtio_reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET
		       ? "a notification before DRIVER_OK broke the device"
		       : NULL;
}

/* Writes past the (empty) config space and to read-only registers: nothing changes. */
static const char *config_out_of_range(struct virtio_dev *d)
{
	const char *err = virtio_init(d, 0);
	uint32_t id = virtio_reg_read(d, VIRTIO_MMIO_DEVICE_ID);

	if (err)
		return err;
	for (unsigned int off = 0; off < 0xf00; off += 0x40)
		virtio_reg_write(d, VIRTIO_MMIO_CONFIG + off, 0xdeadbeef);
	virtio_reg_write(d, VIRTIO_MMIO_DEVICE_ID, 7);
	virtio_reg_write(d, VIRTIO_MMIO_QUEUE_NUM_MAX, 1);
	if (virtio_config32(d, 0) != 0 || virtio_reg_read(d, VIRTIO_MMIO_DEVICE_ID) != id)
		return "a write changed what reads back";
	return NULL;
}

static const char *notify_flood(struct virtio_dev *d)
{
	const char *err = virtio_init(d, 0);

	for (uint32_t i = 0; !err && i < H_FLOOD_IRQS; i++)
		virtio_reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return err;
}

/* Four reads in flight on the first disk, then a reset at once. */
static const char *reset_in_flight(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_BLOCK, 0);
	const char *err;

	if (!d)
		return "no block device";
	err = virtio_init(d, 0);
	if (err)
		return err;
	for (uint16_t i = 0; i < H_INFLIGHT; i++) {
		uint16_t base = (uint16_t)(3 * i);

		h_hdr[i].type = BLK_T_IN;
		h_hdr[i].sector = i;
		h_status[i] = 0xff;
		d->vq[0].desc[base] = (struct virtq_desc){ (uintptr_t)&h_hdr[i], 16,
							   VIRTQ_DESC_F_NEXT, base + 1 };
		d->vq[0].desc[base + 1] =
			(struct virtq_desc){ (uintptr_t)h_blk[i], 512,
					     VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, base + 2 };
		d->vq[0].desc[base + 2] =
			(struct virtq_desc){ (uintptr_t)&h_status[i], 1, VIRTQ_DESC_F_WRITE, 0 };
		virtio_publish(d, base);
	}
	if (!virtio_reset(d))
		return "the device did not finish its reset";
	/* And it serves again: one read of sector 0. */
	err = virtio_init(d, 0);
	if (!err) {
		struct virtio_buf b[3] = { { &h_hdr[0], 16, false },
					   { h_blk[0], 512, true },
					   { &h_status[0], 1, true } };
		uint32_t len;

		h_hdr[0] = (struct h_req){ .type = BLK_T_IN, .sector = 0 };
		h_status[0] = 0xff;
		err = virtio_request(d, b, 3, false, &len);
		if (!err && h_status[0] != 0)
			err = "the read after the reset failed";
	}
	virtio_stop(d);
	return err;
}

/*
 * A write to sector 0 of the read-only disk (the second block device), its
 * read-only feature left unacknowledged as a careless driver would: the
 * device must refuse it (the host checks the image is unchanged).
 */
static const char *readonly_write(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_BLOCK, 1);
	struct virtio_buf b[3] = { { &h_hdr[0], 16, false },
				   { h_blk[0], 512, false },
				   { &h_status[0], 1, true } };
	uint32_t len;
	const char *err;

	if (!d)
		return "no second block device";
	err = virtio_init(d, 0);
	if (err)
		return err;
	memset(h_blk[0], 0xee, sizeof(h_blk[0]));
	h_hdr[0] = (struct h_req){ .type = BLK_T_OUT, .sector = 0 };
	h_status[0] = 0xff;
	err = virtio_request(d, b, 3, false, &len);
	if (!err && (h_status[0] == BLK_S_OK || h_status[0] == 0xff))
		err = "the write to the read-only disk was not refused";
	virtio_stop(d);
	return err;
}

/* The next used entry on queue `q`, within H_WAIT_MS. */
static const char *wait_used_on(struct virtio_dev *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	const char *err;

	timer_start();
	err = virtio_wait_queue(d, q, timer_ticks() + H_WAIT_MS,
				"timeout waiting for the used ring");
	timer_stop();
	if (!err && !virtio_next_used(d, q, id, len))
		err = "the used ring lost its entry";
	return err;
}

/* Every receive buffer on queue `q` and, on queue `q` + 1, the first `n_tx` packets of h_tx. */
static void publish_both_ways(struct virtio_dev *d, unsigned int q, unsigned int n_tx,
			      uint32_t tx_len)
{
	uint16_t heads[H_FRAMES];

	for (uint16_t i = 0; i < H_FRAMES; i++) {
		d->vq[q].desc[i] =
			(struct virtq_desc){ (uintptr_t)h_rx[i], H_RX_LEN, VIRTQ_DESC_F_WRITE, 0 };
		d->vq[q + 1].desc[i] = (struct virtq_desc){ (uintptr_t)h_tx[i], tx_len, 0, 0 };
		heads[i] = i;
	}
	virtio_publish_on(d, q, heads, H_FRAMES);
	virtio_publish_on(d, q + 1, heads, n_tx);
}

/* Broadcast frames of a local experimental EtherType, nothing in them. */
static void net_frames(void)
{
	for (unsigned int i = 0; i < H_FRAMES; i++) {
		uint8_t *f = h_tx[i] + H_NET_HDR;

		memset(h_tx[i], 0, H_FRAME_LEN);
		memset(f, 0xff, 6);
		f[6] = 0x02;
		f[11] = (uint8_t)(i + 1);
		f[12] = 0x88;
		f[13] = 0xb5;
	}
}

/*
 * `d` set up with `nq` queues, every packet of h_tx (`tx_len` bytes each) and
 * every receive buffer handed over on queues `q` + 1 and `q`, then reset at
 * once, and set up again.
 */
static const char *reset_with_traffic(struct virtio_dev *d, unsigned int nq, unsigned int q,
				      uint32_t tx_len)
{
	const char *err = virtio_init_queues(d, 0, nq);

	if (err)
		return err;
	publish_both_ways(d, q, H_FRAMES, tx_len);
	if (!virtio_reset(d))
		return "the device did not finish its reset";
	return virtio_init_queues(d, 0, nq);
}

/*
 * Frames both ways on the first network device, then a reset at once; then
 * the device serves again: a frame goes out.
 */
static const char *net_reset_in_flight(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_NET, 0);
	uint32_t id, len;
	const char *err;

	if (!d)
		return "no network device";
	net_frames();
	err = reset_with_traffic(d, 2, 0, H_FRAME_LEN);
	if (!err) {
		publish_both_ways(d, 0, 1, H_FRAME_LEN);
		err = wait_used_on(d, 1, &id, &len);
	}
	if (!err && id != 0)
		err = "the transmit queue returned another descriptor";
	virtio_stop(d);
	return err;
}

/* Connection requests to host ports where nobody listens, from `n` guest ports. */
static void vsock_requests(uint64_t cid, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct vsock_hdr *h = (struct vsock_hdr *)h_tx[i];

		*h = (struct vsock_hdr){ .src_cid = cid,
					 .dst_cid = VSOCK_HOST_CID,
					 .src_port = H_VSOCK_LOCAL + i,
					 .dst_port = H_VSOCK_PORT,
					 .type = VSOCK_TYPE_STREAM,
					 .op = VSOCK_OP_REQUEST,
					 .buf_alloc = 4096 };
	}
}

/* The reset the device answers a refused request with, on the receive queue. */
static const char *vsock_expect_rst(struct virtio_dev *d)
{
	const struct vsock_hdr *h;
	uint32_t id, len;
	const char *err = wait_used_on(d, VSOCK_RXQ, &id, &len);

	if (err)
		return err;
	if (id >= H_FRAMES || len < VSOCK_HDR_LEN)
		return "a malformed receive entry";
	h = (const struct vsock_hdr *)h_rx[id];
	if (h->op != VSOCK_OP_RST || h->dst_port != H_VSOCK_LOCAL || h->src_port != H_VSOCK_PORT)
		return "no reset for the refused connection";
	return NULL;
}

/*
 * Connection requests and receive buffers on the first vsock device, then a
 * reset at once; then it serves again: a request is refused with a reset.
 */
static const char *vsock_reset_in_flight(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_VSOCK, 0);
	uint32_t id, len;
	const char *err;

	if (!d)
		return "no vsock device";
	vsock_requests(virtio_config64(d, 0), H_FRAMES);
	err = reset_with_traffic(d, 3, VSOCK_RXQ, VSOCK_HDR_LEN);
	if (!err) {
		vsock_requests(virtio_config64(d, 0), 1);
		publish_both_ways(d, VSOCK_RXQ, 1, VSOCK_HDR_LEN);
		err = wait_used_on(d, VSOCK_TXQ, &id, &len);
	}
	if (!err)
		err = vsock_expect_rst(d);
	virtio_stop(d);
	return err;
}

/* Up to `n` bytes waiting in the keyboard controller, read and dropped. */
static void i8042_drain(unsigned int n)
{
	while (n-- && (inb(I8042_CMD) & I8042_OBF))
		(void)inb(I8042_DATA);
}

/*
 * Every controller command but those that pull the reset line (0xd1 writes
 * the output port, whose bit 0 is that line; 0xf0-0xff pulse it), each
 * followed by a data byte: then it must still pass its self-test.
 */
static const char *i8042_flood(void)
{
	unsigned int wait = 100000;

	for (unsigned int i = 0; i < H_PORT_FLOOD; i++) {
		uint8_t cmd = (uint8_t)(i * 37);

		if (cmd == 0xd1 || cmd >= 0xf0)
			continue;
		outb(I8042_CMD, cmd);
		outb(I8042_DATA, (uint8_t)(i * 11));
		i8042_drain(4);
	}
	i8042_drain(64);
	outb(I8042_CMD, 0xaa); /* self-test: 0x55 */
	while (wait-- && !(inb(I8042_CMD) & I8042_OBF))
		;
	return inb(I8042_DATA) == 0x55 ? NULL : "the keyboard controller stopped answering";
}

/*
 * Garbage into every CMOS register (NMI bit set or not), then the clock's
 * own registers put back: it must still tell the time.
 */
static const char *cmos_flood(void)
{
	uint8_t a, b;

	outb(CMOS_INDEX, 0x0a);
	a = inb(CMOS_DATA);
	outb(CMOS_INDEX, 0x0b);
	b = inb(CMOS_DATA);
	for (unsigned int i = 0; i < H_PORT_FLOOD; i++) {
		outb(CMOS_INDEX, (uint8_t)i);
		outb(CMOS_DATA, (uint8_t)(i * 73));
		(void)inb(CMOS_DATA);
	}
	outb(CMOS_INDEX, 0x0a);
	outb(CMOS_DATA, a);
	outb(CMOS_INDEX, 0x0b);
	outb(CMOS_DATA, b);
	outb(CMOS_INDEX, 0x0d); /* register D: "valid RAM and time" */
	return inb(CMOS_DATA) & 0x80 ? NULL : "the clock lost its valid bit";
}

/* 64 KiB on COM1 as fast as the UART takes it: one long line of dots. */
static void uart_flood(void)
{
	gprintf("FLOOD ");
	for (unsigned int i = 0; i < H_UART_FLOOD; i++) {
		while (!(inb(COM1_LSR) & LSR_THRE))
			;
		outb(COM1_THR, '.');
	}
	gprintf("\n");
}

static void report(const char *name, const char *err, unsigned int *failed)
{
	gprintf("KV hostile_%s=%s\n", name, err ? err : "ok");
	*failed += err != NULL;
}

void test_hostile(void)
{
	struct virtio_dev *d = virtio_find(VIRTIO_ID_RNG, 0);
	unsigned int failed = 0;
	uint32_t max;
	const char *err;

	if (!d) {
		virtio_fail_missing("hostile", "virtio-rng");
		return;
	}
	memset(h_canary, H_CANARY, sizeof(h_canary));
	report("outside_ram", bad_descriptor(d, 0xfffffffffffff000ULL, H_BUF), &failed);
	report("after_outside_ram", rng_ok(d), &failed);
	report("wraps_around", bad_descriptor(d, 0xfffffffffffffff0ULL, 0x100), &failed);
	report("huge_length", bad_descriptor(d, (uintptr_t)h_buf, 0xffffffffu), &failed);
	report("after_huge_length", rng_ok(d), &failed);
	max = virtio_reg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	report("queue_size_3", bad_queue_size(d, 3), &failed);
	report("queue_size_over_max", bad_queue_size(d, max * 2), &failed);
	report("queue_size_0", bad_queue_size(d, 0), &failed);
	report("early_notify", early_notify(d), &failed);
	report("after_early_notify", rng_ok(d), &failed);
	report("config_out_of_range", config_out_of_range(d), &failed);
	report("notify_flood", notify_flood(d), &failed);
	report("after_notify_flood", rng_ok(d), &failed);
	virtio_stop(d);
	report("reset_in_flight", reset_in_flight(), &failed);
	report("readonly_write", readonly_write(), &failed);
	report("net_reset_in_flight", net_reset_in_flight(), &failed);
	report("vsock_reset_in_flight", vsock_reset_in_flight(), &failed);
	report("i8042_flood", i8042_flood(), &failed);
	report("cmos_flood", cmos_flood(), &failed);
	uart_flood();
	err = NULL;
	for (unsigned int i = 0; i < sizeof(h_canary) && !err; i++)
		if (h_canary[i] != H_CANARY)
			err = "the canary page changed";
	report("canary", err, &failed);
	if (failed)
		test_fail("hostile", "%u case(s) failed", failed);
	else
		test_pass("hostile");
}

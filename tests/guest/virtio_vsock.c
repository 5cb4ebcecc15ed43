/*
 * virtio-vsock (virtio 1.2, 5.10): one stream each way with a host program
 * (tests/tools/vsock-peer).
 *
 * 1. The guest listens on port VSOCK_GUEST_PORT: the host connects, sends a
 *    line, gets "ECHO <line>" back, and closes (a SHUTDOWN, answered with a
 *    reset).
 * 2. The guest connects to host port VSOCK_HOST_PORT, sends a line, reads
 *    the host's answer line, and shuts down; the host side ends with a reset.
 *
 * Requests for other ports are refused with a reset. Queues: 0 receive
 * (every entry a 256-byte buffer, each going straight back once copied), 1
 * transmit (one packet in flight), 2 events (given no buffers: no event is
 * expected without a migration). The guest announces 4 KiB of receive
 * credit and counts what it has consumed (5.10.6.3); the test's lines are
 * far shorter.

 */
#include "guest.h"
#include "virtio.h"

#define VSOCK_GUEST_PORT 1234
#define VSOCK_HOST_PORT	 5000
#define VSOCK_OWN_PORT	 49152 /* the guest's end of the stream it opens */

#define VSOCK_RX_BUF	 256
#define VSOCK_LINE_MAX	 120
#define VSOCK_BUF_ALLOC	 4096
#define VSOCK_WAIT_MS	 30000 /* for each step: the host program may start late */
#define VSOCK_TX_WAIT_MS 3000
#define VSOCK_READY	 "READY virtio-vsock\n"
#define VSOCK_GREETING	 "hello from the guest\n"

static uint8_t rx_bufs[VIRTQ_MAX_SIZE][VSOCK_RX_BUF] __noinit __attribute__((aligned(256)));
static uint8_t tx_buf[VSOCK_HDR_LEN + VSOCK_LINE_MAX + 8] __noinit __attribute__((aligned(256)));

struct vs {
	struct virtio_dev *d;
	uint64_t cid;
	uint32_t local, peer; /* the stream's ports: the guest's and the host's */
	uint32_t fwd_cnt;     /* payload bytes consumed on this stream */
	uint64_t end;	      /* timer tick at which the current step gives up */
	struct vsock_hdr h;   /* the packet last received */
	char data[VSOCK_LINE_MAX + 1];
	unsigned int len; /* bytes of the current line in data */
};

/* One packet on the transmit queue, one descriptor; waits for its used entry. */
static const char *vs_send(struct vs *s, uint16_t op, uint32_t flags, uint32_t src, uint32_t dst,
			   const char *data, uint32_t len)
{
	struct vsock_hdr h = { .src_cid = s->cid,
			       .dst_cid = VSOCK_HOST_CID,
			       .src_port = src,
			       .dst_port = dst,
			       .len = len,
			       .type = VSOCK_TYPE_STREAM,
			       .op = op,
			       .flags = flags,
			       .buf_alloc = VSOCK_BUF_ALLOC,
			       .fwd_cnt = s->fwd_cnt };
	struct virtq *tx = &s->d->vq[VSOCK_TXQ];
	uint16_t head = 0;
	uint32_t id, used;
	const char *err;

	memcpy(tx_buf, &h, sizeof(h));
	memcpy(tx_buf + sizeof(h), data, len);
	tx->desc[head] = (struct virtq_desc){ (uintptr_t)tx_buf, (uint32_t)sizeof(h) + len, 0, 0 };
	virtio_publish_on(s->d, VSOCK_TXQ, &head, 1);
	err = virtio_wait_queue(s->d, VSOCK_TXQ, timer_ticks() + VSOCK_TX_WAIT_MS,
				"timeout waiting for the transmit queue");
	if (err)
		return err;
	virtio_next_used(s->d, VSOCK_TXQ, &id, &used);
	return id == head ? NULL : "the transmit queue returned another descriptor";
}

static void vs_fill_rx(struct vs *s)
{
	struct virtq *rx = &s->d->vq[VSOCK_RXQ];
	uint16_t heads[VIRTQ_MAX_SIZE];

	for (uint16_t i = 0; i < rx->size; i++) {
		rx->desc[i] = (struct virtq_desc){ (uintptr_t)rx_bufs[i], VSOCK_RX_BUF,
						   VIRTQ_DESC_F_WRITE, 0 };
		heads[i] = i;
	}
	virtio_publish_on(s->d, VSOCK_RXQ, heads, rx->size);
}

/* The next packet into s->h (its payload into s->data after the line so far). */
static const char *vs_recv(struct vs *s)
{
	const struct virtq *rx = &s->d->vq[VSOCK_RXQ];
	uint32_t id, len;
	uint16_t head;
	const char *err;

	while (!virtio_next_used(s->d, VSOCK_RXQ, &id, &len)) {
		err = virtio_wait_queue(s->d, VSOCK_RXQ, s->end, "timeout waiting for a packet");
		if (err)
			return err;
	}
	if (id >= rx->size || len < VSOCK_HDR_LEN || len > VSOCK_RX_BUF)
		return "a bad used entry in the receive queue";
	head = (uint16_t)id;
	memcpy(&s->h, rx_bufs[id], VSOCK_HDR_LEN);
	if (s->h.len != len - VSOCK_HDR_LEN)
		return "a packet whose length is not its used length";
	if (s->h.op == VSOCK_OP_RW && s->h.len > VSOCK_LINE_MAX - s->len)
		return "a line longer than 120 bytes";
	if (s->h.op == VSOCK_OP_RW)
		memcpy(s->data + s->len, rx_bufs[id] + VSOCK_HDR_LEN, s->h.len);
	virtio_publish_on(s->d, VSOCK_RXQ, &head, 1);
	if (s->h.src_cid != VSOCK_HOST_CID || s->h.dst_cid != s->cid)
		return "a packet with wrong addresses";
	return NULL;
}

/* Whether the last packet belongs to the current stream. */
static bool vs_ours(const struct vs *s)
{
	return s->h.dst_port == s->local && s->h.src_port == s->peer;
}

/*
 * Packets until one of the current stream has operation `op`; requests for
 * anything else are refused, credit requests answered.
 */
static const char *vs_expect(struct vs *s, uint16_t op)
{
	const char *err;

	s->end = timer_ticks() + VSOCK_WAIT_MS;
	for (;;) {
		err = vs_recv(s);
		if (err)
			return err;
		if (vs_ours(s) && s->h.op == op)
			return NULL;
		if (vs_ours(s) && s->h.op == VSOCK_OP_RST)
			return "the host reset the stream";
		if (vs_ours(s) && s->h.op == VSOCK_OP_CREDIT_REQ)
			err = vs_send(s, VSOCK_OP_CREDIT_UPD, 0, s->local, s->peer, NULL, 0);
		else if (s->h.op == VSOCK_OP_REQUEST)
			err = vs_send(s, VSOCK_OP_RST, 0, s->h.dst_port, s->h.src_port, NULL, 0);
		if (err)
			return err;
	}
}

/* Data on the current stream until a whole line (s->data, s->len, no '\n'). */
static const char *vs_read_line(struct vs *s)
{
	const char *err;

	s->len = 0;
	for (;;) {
		err = vs_expect(s, VSOCK_OP_RW);
		if (err)
			return err;
		s->fwd_cnt += s->h.len;
		s->len += s->h.len;
		if (s->len && s->data[s->len - 1] == '\n')
			break;
	}
	s->data[--s->len] = '\0';
	return NULL;
}

/* Part 1: the host connects to the guest's port, and gets its line echoed. */
static const char *vs_serve_host(struct vs *s)
{
	char reply[VSOCK_LINE_MAX + 8] = "ECHO ";
	const char *err;

	s->local = VSOCK_GUEST_PORT;
	s->peer = 0;
	s->end = timer_ticks() + VSOCK_WAIT_MS;
	do {
		err = vs_recv(s);
		if (!err && s->h.op == VSOCK_OP_REQUEST && s->h.dst_port != VSOCK_GUEST_PORT)
			err = vs_send(s, VSOCK_OP_RST, 0, s->h.dst_port, s->h.src_port, NULL, 0);
	} while (!err && !(s->h.op == VSOCK_OP_REQUEST && s->h.dst_port == VSOCK_GUEST_PORT));
	if (err)
		return err;
	s->peer = s->h.src_port;
	s->fwd_cnt = 0;
	err = vs_send(s, VSOCK_OP_RESPONSE, 0, s->local, s->peer, NULL, 0);
	if (!err)
		err = vs_read_line(s);
	if (err)
		return err;
	gprintf("KV vsock_from_host=%s\n", s->data);
	memcpy(reply + 5, s->data, s->len);
	reply[5 + s->len] = '\n';
	err = vs_send(s, VSOCK_OP_RW, 0, s->local, s->peer, reply, 5 + s->len + 1);
	/* The host closes: it says so, and the guest ends the stream. */
	if (!err)
		err = vs_expect(s, VSOCK_OP_SHUTDOWN);
	if (!err)
		err = vs_send(s, VSOCK_OP_RST, 0, s->local, s->peer, NULL, 0);
	return err;
}

/* Part 2: the guest connects to the host, talks, and closes. */
static const char *vs_call_host(struct vs *s)
{
	const char *err;

	s->local = VSOCK_OWN_PORT;
	s->peer = VSOCK_HOST_PORT;
	s->fwd_cnt = 0;
	err = vs_send(s, VSOCK_OP_REQUEST, 0, s->local, s->peer, NULL, 0);
	if (!err)
		err = vs_expect(s, VSOCK_OP_RESPONSE);
	if (!err)
		err = vs_send(s, VSOCK_OP_RW, 0, s->local, s->peer, VSOCK_GREETING,
			      sizeof(VSOCK_GREETING) - 1);
	if (!err)
		err = vs_read_line(s);
	if (err)
		return err;
	gprintf("KV vsock_from_host_service=%s\n", s->data);
	/* Both directions done: the host side answers with the reset that ends the stream. */
	err = vs_send(s, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, s->local, s->peer, NULL, 0);
	return err ? err : vs_expect(s, VSOCK_OP_RST);
}

void test_virtio_vsock(void)
{
	struct vs s = { .d = virtio_find(VIRTIO_ID_VSOCK, 0) };
	const char *err;

	if (!s.d) {
		virtio_fail_missing("virtio-vsock", "virtio-vsock");
		return;
	}
	err = virtio_setup(s.d, 0, 3);
	if (!err) {
		s.cid = virtio_config64(s.d, 0);
		gprintf("KV vsock_cid=%llu\n", (unsigned long long)s.cid);
		vs_fill_rx(&s);
		virtio_driver_ok(s.d);
		timer_start();
		gprintf(VSOCK_READY);
		err = vs_serve_host(&s);
		if (!err)
			err = vs_call_host(&s);
		timer_stop();
		virtio_take_irq(s.d);
	}
	virtio_stop(s.d);
	if (err)
		test_fail("virtio-vsock", "%s", err);
	else
		test_pass("virtio-vsock");
}

/*
 * virtio-vsock end to end: the test plays the guest's driver on the queues
 * and host programs on the Unix sockets.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <cmocka.h>

#include "virtio/vsock.h"
#include "sandbox/seccomp.h"
#include "vmmio.h"

#define QSIZE	    16
#define CID	    3
#define RXBUF	    0x1000
#define RX_GPA	    0x20000 /* receive buffer i at RX_GPA + i * RXBUF */
#define TX_GPA	    0x40000 /* transmit packet i at TX_GPA + i * RXBUF */
#define GUEST_ALLOC 65536

enum {
	OP_REQUEST = 1,
	OP_RESPONSE,
	OP_RST,
	OP_SHUTDOWN,
	OP_RW,
	OP_CREDIT_UPDATE,
	OP_CREDIT_REQUEST
};

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct fixture {
	struct vdriver rx, tx, ev;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	char dir[32];
	char uds[64];

	uint16_t tx_next;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_vsock_opts o = { .guest_cid = CID, .request_timeout_ms = 300 };
	struct err err = { { 0 } };

	strcpy(f->dir, "/tmp/ember-vsock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->uds, sizeof(f->uds), "%s/v.sock", f->dir);
	o.uds = f->uds;
	vd_init(&f->rx, QSIZE);
	vd_init_queue(&f->tx, &f->rx, 1);
	vd_init_queue(&f->ev, &f->rx, 2);
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &f->dev, &err), 0);
	f->t = vm_attach(f->dev);
	assert_int_equal(vm_setup(f->t, &f->rx, VIRTIO_BIT(VIRTIO_F_VERSION_1), 3), 15);
	for (uint16_t i = 0; i < QSIZE; i++) {
		vd_set_desc(&f->rx, i, RX_GPA + i * RXBUF, RXBUF, VIRTQ_DESC_F_WRITE, 0);
		vd_publish(&f->rx, i);
	}
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[160];

	vm_detach(f->dev, f->t);
	/* The device removes its own socket; a test may have left listeners. */
	for (int port = 70; port < 80; port++) {
		snprintf(path, sizeof(path), "%s_%d", f->uds, port);
		unlink(path);
	}
	unlink(f->uds);
	rmdir(f->dir);
	vd_fini(&f->ev);
	vd_fini(&f->tx);
	vd_fini(&f->rx);
	free(f);
	return 0;
}

/* The next used entry of `vd`, waiting up to 5 s for interrupts; -1 on timeout. */
static int wait_used(struct fixture *f, struct vdriver *vd, uint32_t *len)
{
	struct pollfd p = { .fd = f->t->irq_fd, .events = POLLIN };
	uint64_t v;
	int id;

	for (int i = 0; i < 50; i++) {
		id = vd_take_used(vd, len);
		if (id >= 0)
			return id;
		if (poll(&p, 1, 100) == 1 && read(f->t->irq_fd, &v, sizeof(v)) == sizeof(v))
			vm_wr(f->t, 0x64, vm_rd(f->t, 0x60));
	}
	return vd_take_used(vd, len);
}

/* A packet from the guest to the host, header (as given) and payload in one descriptor. */
static void guest_send_raw(struct fixture *f, struct hdr h, const void *data, uint32_t len)
{
	uint16_t i = f->tx_next++ % QSIZE;
	uint8_t *buf = vd_ptr(&f->tx, TX_GPA + i * RXBUF);
	uint32_t used;

	h.src_cid = h.src_cid ? h.src_cid : CID;
	h.dst_cid = h.dst_cid ? h.dst_cid : VSOCK_HOST_CID;
	h.type = h.type ? h.type : 1;
	h.buf_alloc = h.buf_alloc ? h.buf_alloc : GUEST_ALLOC;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), data, len);
	vd_set_desc(&f->tx, i, TX_GPA + i * RXBUF, (uint32_t)sizeof(h) + len, 0, 0);
	vd_publish(&f->tx, i);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(wait_used(f, &f->tx, &used), i);
	assert_int_equal(used, 0);
}

static void guest_send(struct fixture *f, struct hdr h, const void *data, uint32_t len)
{
	h.len = len;
	guest_send_raw(f, h, data, len);
}

/* The next packet to the guest (its buffer goes straight back); payload into `data`. */
static struct hdr guest_recv(struct fixture *f, void *data, size_t cap)
{
	struct hdr h;
	uint32_t len;
	int id = wait_used(f, &f->rx, &len);
	uint8_t *buf;

	assert_true(id >= 0);
	buf = vd_ptr(&f->rx, RX_GPA + (uint64_t)id * RXBUF);
	assert_true(len >= sizeof(h));
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(len, sizeof(h) + h.len);
	assert_true(h.len <= cap);
	memcpy(data, buf + sizeof(h), h.len);
	assert_int_equal(h.dst_cid, CID);
	vd_publish(&f->rx, (uint16_t)id);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	return h;
}

static bool guest_quiet(struct fixture *f)
{
	struct timespec pause = { 0, 200 * 1000 * 1000 };
	uint32_t len;

	nanosleep(&pause, NULL);
	return vd_take_used(&f->rx, &len) < 0;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int unix_listen(struct fixture *f, int port)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%d", f->uds, port);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* Reads exactly n bytes within 5 s. */
static void host_read(int fd, void *buf, size_t n)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t r;

	while (got < n) {
		assert_int_equal(poll(&p, 1, 5000), 1);
		r = read(fd, (char *)buf + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

/* The device closed the program's socket (within 5 s). */
static bool host_sees_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	return poll(&p, 1, 5000) == 1 && read(fd, &c, 1) == 0;
}

/* A host program connects to guest port `port`; returns its socket and the host port. */
static int host_connect(struct fixture *f, uint32_t port, uint32_t *host_port)
{
	int fd = unix_connect(f->uds);
	char line[32], ok[32];
	struct hdr h;
	uint8_t none[1];

	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	h = guest_recv(f, none, 0);
	assert_int_equal(h.op, OP_REQUEST);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_port, port);
	assert_true(h.src_port >= (1u << 30));
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
	guest_send(f, (struct hdr){ .op = OP_RESPONSE, .src_port = port, .dst_port = h.src_port },
		   NULL, 0);
	snprintf(ok, sizeof(ok), "OK %u\n", h.src_port);
	host_read(fd, line, strlen(ok));
	assert_memory_equal(line, ok, strlen(ok));
	*host_port = h.src_port;
	return fd;
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	uint64_t cid;

	assert_int_equal(vm_rd(f->t, 0x08), 19);
	virtio_mmio_ops.read(f->t, 0x100, &cid, 8);
	assert_int_equal(cid, CID);
}

static void test_host_connects_and_both_talk(void **state)
{
	struct fixture *f = *state;
	uint32_t hp;
	int fd = host_connect(f, 52, &hp);
	char got[64];
	struct hdr h;

	assert_int_equal(write(fd, "hello", 5), 5);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.src_port, hp);
	assert_int_equal(h.dst_port, 52);
	assert_memory_equal(got, "hello", 5);
	guest_send(f, (struct hdr){ .op = OP_RW, .src_port = 52, .dst_port = hp }, "world", 5);
	host_read(fd, got, 5);
	assert_memory_equal(got, "world", 5);
	/* The program goes away: the guest hears that neither side will send. */
	close(fd);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_SHUTDOWN);
	assert_int_equal(h.flags, 3);
	guest_send(f, (struct hdr){ .op = OP_RST, .src_port = 52, .dst_port = hp }, NULL, 0);
	/* The connection is gone: data for it now gets a reset. */
	guest_send(f, (struct hdr){ .op = OP_RW, .src_port = 52, .dst_port = hp }, "x", 1);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 52);
}

static void test_guest_connects_to_a_host_program(void **state)
{
	struct fixture *f = *state;
	int lfd = unix_listen(f, 77), fd;
	char got[16];
	struct hdr h;

	guest_send(f, (struct hdr){ .op = OP_REQUEST, .src_port = 1000, .dst_port = 77 }, NULL, 0);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RESPONSE);
	assert_int_equal(h.src_port, 77);
	assert_int_equal(h.dst_port, 1000);
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	guest_send(f, (struct hdr){ .op = OP_RW, .src_port = 1000, .dst_port = 77 }, "ping", 4);
	host_read(fd, got, 4);
	assert_memory_equal(got, "ping", 4);
	/* The guest closes: its shutdown reaches the program as end of file, then a reset. */
	guest_send(f,
		   (struct hdr){ .op = OP_SHUTDOWN, .src_port = 1000, .dst_port = 77, .flags = 3 },
		   NULL, 0);
	assert_true(host_sees_eof(fd));
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	close(fd);
	close(lfd);
}

static void test_nobody_listening_means_reset(void **state)
{
	struct fixture *f = *state;
	char got[16];
	struct hdr h;

	guest_send(f, (struct hdr){ .op = OP_REQUEST, .src_port = 1001, .dst_port = 78 }, NULL, 0);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 1001);
	assert_int_equal(h.src_port, 78);
}

static void test_host_respects_the_guests_credit(void **state)
{
	struct fixture *f = *state;
	uint32_t hp;
	int fd = unix_connect(f->uds);
	char big[100], got[128], line[32];
	struct hdr h;

	assert_int_equal(write(fd, "CONNECT 60\n", 11), 11);
	h = guest_recv(f, got, 0);
	hp = h.src_port;
	/* The guest has room for 10 bytes only. */
	guest_send(
		f,
		(struct hdr){ .op = OP_RESPONSE, .src_port = 60, .dst_port = hp, .buf_alloc = 10 },
		NULL, 0);
	host_read(fd, line, (size_t)snprintf(got, sizeof(got), "OK %u\n", hp));
	memset(big, 'z', sizeof(big));
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.len, 10);
	assert_true(guest_quiet(f));
	/* It read them: ten more; then a credit request gets the device's own credit back. */
	for (uint16_t op = OP_CREDIT_UPDATE; op <= OP_CREDIT_REQUEST; op++)
		guest_send(f,
			   (struct hdr){ .op = op,
					 .src_port = 60,
					 .dst_port = hp,
					 .buf_alloc = 10,
					 .fwd_cnt = 10 },
			   NULL, 0);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RW);
	assert_int_equal(h.len, 10);
	h = guest_recv(f, got, sizeof(got));

	assert_int_equal(h.op, OP_CREDIT_UPDATE);
	assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
	close(fd);
}

static void test_device_tells_the_guest_of_room(void **state)
{
	struct fixture *f = *state;
	uint32_t hp, sent = 0;
	int fd = host_connect(f, 61, &hp);
	static char chunk[3000], sink[3000];
	char got[64];
	struct hdr h;

	/* The program drains at once: a credit update comes before the guest runs dry. */
	while (sent < VSOCK_CONN_BUF / 2 + sizeof(chunk)) {
		guest_send(f, (struct hdr){ .op = OP_RW, .src_port = 61, .dst_port = hp }, chunk,
			   sizeof(chunk));
		sent += sizeof(chunk);
		host_read(fd, sink, sizeof(sink));
	}
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_CREDIT_UPDATE);
	assert_true(h.fwd_cnt > 0 && h.fwd_cnt <= sent);
	close(fd);
}

/* A host program still saying CONNECT is nothing the guest can name (its ports are 0). */
static void test_guest_cannot_touch_a_handshake(void **state)
{
	struct fixture *f = *state;
	int fd = unix_connect(f->uds);
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	char got[16];
	struct hdr h;

	nanosleep(&pause, NULL); /* accepted by now */
	guest_send(f, (struct hdr){ .op = OP_RST, .src_port = 0, .dst_port = 0 }, NULL, 0);
	guest_send(f, (struct hdr){ .op = OP_RW, .src_port = 0, .dst_port = 0 }, "x", 1);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST); /* for the RW: a reset for an unknown stream */
	assert_int_equal(write(fd, "CONNECT 52\n", 11), 11);
	h = guest_recv(f, got, 0);
	assert_int_equal(h.op, OP_REQUEST);
	assert_int_equal(h.dst_port, 52);
	close(fd);
}

static void test_bad_connect_line_is_closed(void **state)
{
	struct fixture *f = *state;
	int fd = unix_connect(f->uds);

	assert_int_equal(write(fd, "HELLO 5\n", 8), 8);
	assert_true(host_sees_eof(fd));
	assert_true(guest_quiet(f));
	close(fd);
}

static void test_packets_for_others_are_refused(void **state)
{
	struct fixture *f = *state;
	char got[16];
	struct hdr h;

	/* Another VM's address: a reset from that address, as if nobody were there. */
	guest_send(f, (struct hdr){ .op = OP_REQUEST, .dst_cid = 7, .src_port = 5, .dst_port = 9 },
		   NULL, 0);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.src_cid, 7);
	/* A forged source address: dropped without a word. */

	guest_send(f, (struct hdr){ .op = OP_REQUEST, .src_cid = 9, .src_port = 5, .dst_port = 9 },
		   NULL, 0);
	assert_true(guest_quiet(f));
	/* A length beyond the payload: refused, the device still serves. */
	guest_send_raw(f, (struct hdr){ .op = OP_RW, .src_port = 5, .dst_port = 9, .len = 100 },
		       "abc", 3);
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	assert_false(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_guest_that_never_answers_times_out(void **state)
{
	struct fixture *f = *state;
	int fd = unix_connect(f->uds);
	char got[16];
	struct hdr h;

	assert_int_equal(write(fd, "CONNECT 62\n", 11), 11);
	h = guest_recv(f, got, 0);
	assert_int_equal(h.op, OP_REQUEST);
	/* No answer: the program's socket closes, the guest gets a reset. */
	assert_true(host_sees_eof(fd));
	h = guest_recv(f, got, sizeof(got));
	assert_int_equal(h.op, OP_RST);
	assert_int_equal(h.dst_port, 62);
	close(fd);
}

static void test_device_reset_closes_connections(void **state)
{
	struct fixture *f = *state;
	uint32_t hp;
	int fd = host_connect(f, 63, &hp);

	vm_wr(f->t, 0x70, 0);
	assert_true(host_sees_eof(fd));
	close(fd);
}

static void test_writable_transmit_buffer_needs_reset(void **state)
{
	struct fixture *f = *state;

	vd_set_desc(&f->tx, 0, TX_GPA, 64, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->tx, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_true(vm_wait_irq(f->t) & VIRTIO_INT_CONFIG);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* Migration on one host: the path goes to the receiver, and comes back when it failed. */
static void test_handover_gives_the_socket_path_away_and_back(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds = f->uds };
	struct virtio_dev *receiver;
	struct err err = { { 0 } };
	uint32_t hp;
	int fd;

	assert_int_equal(f->dev->ops->handover(f->dev, true), 0);
	assert_int_equal(access(f->uds, F_OK), -1);
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &receiver, &err), 0);
	/* Taken while the receiver has it: refused, the receiver's socket untouched. */
	assert_int_equal(f->dev->ops->handover(f->dev, false), -EADDRINUSE);
	assert_int_equal(access(f->uds, F_OK), 0);
	receiver->ops->destroy(receiver);
	assert_int_equal(f->dev->ops->handover(f->dev, false), 0);
	fd = host_connect(f, 52, &hp);
	close(fd);
}

static void test_socket_path_rules(void **state)
{
	struct fixture *f = *state;
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds = f->uds };
	struct virtio_dev *d2;
	struct err err = { { 0 } };
	char path[160];
	int fd;

	/* In use by the device itself: refused. */
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &d2, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "another process listens on it"));
	/* A stale socket file (nobody listening) is replaced. */
	fd = unix_listen(f, 70);

	close(fd);
	snprintf(path, sizeof(path), "%s_70", f->uds);
	o.uds = path;
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &d2, &err), 0);
	d2->ops->destroy(d2);
	assert_int_equal(access(path, F_OK), -1);
	/* A regular file is not ours to remove. */
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	memset(&err, 0, sizeof(err));
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &d2, &err), -EEXIST);
	assert_non_null(strstr(err.msg, "exists and is not a socket"));
	unlink(path);
	/* Reserved addresses. */
	o.guest_cid = 2;
	assert_int_equal(virtio_vsock_create(&f->rx.gm, &o, &d2, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_connects_and_both_talk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_connects_to_a_host_program, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_nobody_listening_means_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_respects_the_guests_credit, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_tells_the_guest_of_room, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_connect_line_is_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_cannot_touch_a_handshake, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_packets_for_others_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_guest_that_never_answers_times_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_device_reset_closes_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_writable_transmit_buffer_needs_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_socket_path_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handover_gives_the_socket_path_away_and_back,
						setup, teardown),
	};

	/* The device threads run under their seccomp filter, as in ember. */
	seccomp_set_level(SC_LEVEL_MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

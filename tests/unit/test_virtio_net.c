/*
 * virtio-net end to end over a SOCK_SEQPACKET socket pair standing in for
 * the tap: the test plays the network on one end and the driver on the
 * other.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/tap.h"
#include "virtio/net.h"
#include "sandbox/seccomp.h"
#include "vmmio.h"

#define QSIZE 16
#define HDR   VIRTIO_NET_HDR_LEN

struct fixture {
	struct vdriver rx, tx;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int wire; /* the network's end */
};

static const uint8_t mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };

static int setup_with(void **state, uint64_t pps)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct virtio_net_opts o = { .has_mac = true, .pps = pps, .clock_ns = fake_clock };
	struct err err = { { 0 } };
	int sv[2];

	memcpy(o.mac, mac, 6);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	f->wire = sv[0];
	vd_init(&f->rx, QSIZE);
	vd_init_queue(&f->tx, &f->rx, 1);
	assert_int_equal(virtio_net_create_fd(&f->rx.gm, sv[1], false, &o, &f->dev, &err), 0);
	f->t = vm_attach(f->dev);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, 0);
}

/* 10 frames a second each way: the eleventh received waits for the clock. */
static int setup_limited(void **state)
{
	fake_clock_set(5000000000ULL);
	return setup_with(state, 10);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_detach(f->dev, f->t);
	close(f->wire);
	vd_fini(&f->tx);
	vd_fini(&f->rx);
	free(f);
	return 0;
}

static void start(struct fixture *f, uint64_t extra)
{
	assert_int_equal(vm_setup(f->t, &f->rx, VIRTIO_BIT(VIRTIO_F_VERSION_1) | extra, 2), 15);
}

/* Posts receive buffer `i`: `len` device-writable bytes at 0x20000 + i * 0x1000. */
static void post_rx(struct fixture *f, uint16_t i, uint32_t len)
{
	vd_set_desc(&f->rx, i, 0x20000 + i * 0x1000, len, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->rx, i);
}

static void kick(struct fixture *f, unsigned int q)
{
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/* A frame of `len` bytes after a zero header, bytes i & 0xff. */
static void send_from_wire(struct fixture *f, size_t len)
{
	static uint8_t buf[HDR + 8192];

	memset(buf, 0, HDR);
	for (size_t i = 0; i < len; i++)
		buf[HDR + i] = (uint8_t)i;
	assert_int_equal(write(f->wire, buf, HDR + len), (ssize_t)(HDR + len));
}

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;
	uint8_t got[6];
	uint16_t status;

	for (unsigned int i = 0; i < 6; i++)
		virtio_mmio_ops.read(f->t, 0x100 + i, &got[i], 1);
	assert_memory_equal(got, mac, 6);
	virtio_mmio_ops.read(f->t, 0x106, &status, 2);
	assert_int_equal(status, VIRTIO_NET_S_LINK_UP);
	assert_true(vm_rd(f->t, 0x10) & VIRTIO_BIT(VIRTIO_NET_F_MAC));
	assert_true(vm_rd(f->t, 0x10) & VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
}

static void test_transmit(void **state)
{
	struct fixture *f = *state;
	uint8_t *hdr = vd_ptr(&f->tx, 0x30000), *frame = vd_ptr(&f->tx, 0x31000), got[256];
	struct pollfd p = { .fd = f->wire, .events = POLLIN };
	uint32_t len;

	start(f, 0);
	memset(hdr, 0, HDR);
	memset(frame, 0x42, 60);
	vd_set_desc(&f->tx, 0, 0x30000, HDR, VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->tx, 1, 0x31000, 60, 0, 0);
	vd_publish(&f->tx, 0);
	kick(f, 1);
	assert_int_equal(vm_wait_used(f->t, &f->tx, &len), 0);
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(read(f->wire, got, sizeof(got)), HDR + 60);
	assert_int_equal(got[HDR + 59], 0x42);
	/* A header alone is no frame: dropped, the buffer returned. */
	vd_set_desc(&f->tx, 2, 0x30000, HDR, 0, 0);
	vd_publish(&f->tx, 2);
	kick(f, 1);
	assert_int_equal(vm_wait_used(f->t, &f->tx, &len), 2);
	assert_int_equal(read(f->wire, got, sizeof(got)), -1);
}

static void test_receive_one_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = vd_ptr(&f->rx, 0x20000);
	uint16_t nbuf;
	uint32_t len;

	start(f, 0);
	post_rx(f, 0, HDR + 1514);
	kick(f, 0);
	send_from_wire(f, 100);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 0);
	assert_int_equal(len, HDR + 100);
	memcpy(&nbuf, buf + 10, 2);
	assert_int_equal(nbuf, 1); /* num_buffers is 1 without mergeable buffers */
	assert_int_equal(buf[HDR + 99], 99);
}

static void test_receive_merged_buffers(void **state)
{
	struct fixture *f = *state;
	uint32_t len = 0, total = 0;
	uint16_t nbuf;

	start(f, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF));
	for (uint16_t i = 0; i < 4; i++)
		post_rx(f, i, 1024);
	kick(f, 0);
	send_from_wire(f, 3000);
	assert_true(vm_wait_irq(f->t) & VIRTIO_INT_USED);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(vd_take_used(&f->rx, &len), i);
		total += len;
	}
	assert_int_equal(total, HDR + 3000);
	memcpy(&nbuf, vd_ptr(&f->rx, 0x20000 + 10), 2);
	assert_int_equal(nbuf, 3);
	assert_int_equal(*(uint8_t *)vd_ptr(&f->rx, 0x22000 + (HDR + 3000 - 2048 - 1)),
			 (uint8_t)2999);
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* No receive buffers: the frame waits, nobody spins, and it arrives once there are some. */
static void test_backpressure_without_busy_loop(void **state)
{
	struct fixture *f = *state;
	struct timespec wait = { 0, 300 * 1000 * 1000 };
	double before;
	uint32_t len;

	start(f, VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX));
	send_from_wire(f, 2000);
	send_from_wire(f, 50);
	before = cpu_seconds();
	nanosleep(&wait, NULL);
	assert_true(cpu_seconds() - before < 0.1);
	/* One buffer is not enough for the 2000-byte frame: still waiting. */
	post_rx(f, 0, 1024);
	kick(f, 0);
	nanosleep(&wait, NULL);
	assert_int_equal(vd_take_used(&f->rx, &len), -1);
	/* A second one is: the frame lands in both, then the next needs a third. */
	post_rx(f, 1, 1024);
	kick(f, 0);
	assert_true(vm_wait_irq(f->t) & VIRTIO_INT_USED);
	assert_int_equal(vd_take_used(&f->rx, &len), 0);
	assert_int_equal(vd_take_used(&f->rx, &len), 1);
	post_rx(f, 2, 1024);
	kick(f, 0);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 2);
	assert_int_equal(len, HDR + 50);
}

static void test_frame_too_big_for_the_buffer_is_dropped(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	start(f, 0);
	post_rx(f, 0, HDR + 500);
	kick(f, 0);
	send_from_wire(f, 1000);
	send_from_wire(f, 300);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 0);
	assert_int_equal(len, HDR + 300);
}

static void test_receive_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct timespec pause = { 0, 150 * 1000 * 1000 };
	uint32_t len;
	int got = 0;

	start(f, 0);
	for (uint16_t i = 0; i < 12; i++)
		post_rx(f, i, HDR + 1514);
	kick(f, 0);
	for (int i = 0; i < 11; i++)
		send_from_wire(f, 60);
	while (got < 10 && vm_wait_irq(f->t))
		while (vd_take_used(&f->rx, &len) >= 0)
			got++;
	assert_int_equal(got, 10);
	nanosleep(&pause, NULL); /* the limit's timer fires; the clock still says wait */
	assert_int_equal(vd_take_used(&f->rx, &len), -1);
	fake_clock_set(5100000000ULL);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 10);
	assert_int_equal(len, HDR + 60);
}

/* Paused, the device's thread leaves the guest's memory alone; resumed, it catches up. */
static void test_pause_holds_the_device(void **state)
{
	struct fixture *f = *state;
	struct timespec wait = { 0, 300 * 1000 * 1000 };
	uint32_t len;

	start(f, 0);
	post_rx(f, 0, HDR + 1514);
	kick(f, 0);
	virtio_dev_pause(f->dev);
	send_from_wire(f, 80);
	kick(f, 0);
	nanosleep(&wait, NULL);
	assert_int_equal(vd_take_used(&f->rx, &len), -1);
	virtio_dev_resume(f->dev);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 0);
	assert_int_equal(len, HDR + 80);
	/* Paused twice and stopped while parked: no hang. */
	virtio_dev_pause(f->dev);
	virtio_dev_pause(f->dev);
}

static void test_readable_receive_buffer_needs_reset(void **state)
{
	struct fixture *f = *state;

	start(f, 0);
	vd_set_desc(&f->rx, 0, 0x20000, 2048, 0, 0);
	vd_publish(&f->rx, 0);
	kick(f, 0);
	send_from_wire(f, 60);
	assert_int_equal(vm_wait_irq(f->t), VIRTIO_INT_CONFIG);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

#define TAP_NAME "ember-t0"
#define NO_NETNS 77 /* the child could not have a network namespace or a tap: skip */

/* Whether another process could attach to the tap now (its device let go of it). */
static bool tap_free(void)
{
	struct err err = { { 0 } };
	int fd = -1;
	bool ok = tap_open(TAP_NAME, &fd, &err) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/* As `ip tuntap add`: a tap that outlives this descriptor. */
static bool make_persistent_tap(void)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	bool ok;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
	ok = fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) == 0 && ioctl(fd, TUNSETPERSIST, 1) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* The device's tap across a hand-over and back: 0, or the step that went wrong. */
static int tap_steps(struct virtio_dev *dev, bool persistent)
{
	if (tap_free())
		return 1; /* the device does not hold its tap */
	if (dev->ops->handover(dev, true) < 0)
		return 2;
	if (tap_free() != persistent)
		return 3; /* it lets go of a persistent tap only */
	if (dev->ops->handover(dev, false) < 0)
		return 4;
	return tap_free() ? 5 : 0; /* held again */
}

/* In a network namespace of its own, where the test may make taps. */
static int handover_in_netns(bool persistent)
{
	struct virtio_net_opts o = { .tap = TAP_NAME };
	struct err err = { { 0 } };
	struct virtio_mmio *t;
	struct virtio_dev *dev;
	struct vdriver drv;
	int ret;

	if (unshare(CLONE_NEWNET) < 0 || (persistent && !make_persistent_tap()))
		return NO_NETNS;
	vd_init(&drv, QSIZE);
	if (virtio_net_create(&drv.gm, &o, &dev, &err) < 0)
		return NO_NETNS;
	t = vm_attach(dev);
	ret = tap_steps(dev, persistent);
	vm_detach(dev, t);
	vd_fini(&drv);
	return ret;
}

static void test_handover_lets_go_of_a_persistent_tap_only(void **state)
{
	for (int persistent = 0; persistent <= 1; persistent++) {
		pid_t pid = fork();
		int status;

		if (pid == 0)
			_exit(handover_in_netns(persistent));
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) == NO_NETNS)
			skip(); /* not root, or no /dev/net/tun */
		if (WEXITSTATUS(status) != 0)
			fail_msg("persistent=%d: failed at step %d", persistent,
				 WEXITSTATUS(status));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_config_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_merged_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure_without_busy_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_frame_too_big_for_the_buffer_is_dropped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_readable_receive_buffer_needs_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pause_holds_the_device, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_rate_limit, setup_limited, teardown),
		cmocka_unit_test(test_handover_lets_go_of_a_persistent_tap_only),
	};

	/* The device threads run under their seccomp filter, as in ember. */
	seccomp_set_level(SC_LEVEL_MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

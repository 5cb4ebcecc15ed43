/* virtio-console end to end: output to a pipe, input with backpressure. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "virtio/console.h"
#include "sandbox/seccomp.h"
#include "vmmio.h"

#define QSIZE 16

struct fixture {
	struct vdriver rx, tx;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
	int out[2]; /* what the guest writes comes out of out[0] */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_int_equal(pipe2(f->out, O_NONBLOCK), 0);
	vd_init(&f->rx, QSIZE);
	vd_init_queue(&f->tx, &f->rx, 1);
	assert_int_equal(virtio_console_create(&f->rx.gm, f->out[1], &f->dev), 0);
	f->t = vm_attach(f->dev);
	assert_int_equal(
		vm_setup(f->t, &f->rx,
			 VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
			 2),
		15);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_detach(f->dev, f->t);
	close(f->out[0]);
	close(f->out[1]);
	vd_fini(&f->tx);
	vd_fini(&f->rx);
	free(f);
	return 0;
}

static void test_output(void **state)
{
	struct fixture *f = *state;
	struct pollfd p = { .fd = f->out[0], .events = POLLIN };
	char got[32] = { 0 };
	uint32_t len, emerg = 'Z';

	memcpy(vd_ptr(&f->tx, 0x30000), "hello ", 6);
	memcpy(vd_ptr(&f->tx, 0x31000), "hvc0\n", 5);
	vd_set_desc(&f->tx, 0, 0x30000, 6, VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->tx, 1, 0x31000, 5, 0, 0);
	vd_publish(&f->tx, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	assert_int_equal(vm_wait_used(f->t, &f->tx, &len), 0);
	assert_int_equal(poll(&p, 1, 1000), 1);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 11);
	assert_string_equal(got, "hello hvc0\n");
	/* The emergency write register: one character, no queue involved. */
	virtio_mmio_ops.write(f->t, 0x100 + 8, &emerg, 4);
	assert_int_equal(read(f->out[0], got, sizeof(got)), 1);
	assert_int_equal(got[0], 'Z');
}

static void test_input_with_backpressure(void **state)
{
	struct fixture *f = *state;
	struct pollfd p = { .fd = virtio_console_space_fd(f->dev), .events = POLLIN };
	uint64_t v;
	uint32_t len;

	/* Activation announces room once: drain it. */
	assert_int_equal(read(p.fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(virtio_console_push(f->dev, (const uint8_t *)"abc", 3), 0);
	assert_int_equal(poll(&p, 1, 100), 0);
	vd_set_desc(&f->rx, 0, 0x20000, 2, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->rx, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(poll(&p, 1, 2000), 1); /* buffers came: push again */
	assert_int_equal(read(p.fd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(virtio_console_push(f->dev, (const uint8_t *)"abc", 3), 2);
	assert_int_equal(vm_wait_used(f->t, &f->rx, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(vd_ptr(&f->rx, 0x20000), "ab", 2);
}

static void test_readable_receive_buffer_needs_reset(void **state)
{
	struct fixture *f = *state;

	vd_set_desc(&f->rx, 0, 0x20000, 8, 0, 0);
	vd_publish(&f->rx, 0);
	assert_int_equal(virtio_console_push(f->dev, (const uint8_t *)"x", 1), 0);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* DRIVER_OK with the receive queue never made ready: input waits, nothing breaks. */
static void test_push_without_a_ready_queue(void **state)
{
	struct fixture *f = *state;

	vm_wr(f->t, 0x70, 0);
	vm_wr(f->t, 0x70, 1 | 2);
	vm_wr(f->t, 0x24, 1);
	vm_wr(f->t, 0x20, 1);
	vm_wr(f->t, 0x70, 1 | 2 | 8);
	vm_wr(f->t, 0x70, 1 | 2 | 8 | 4);
	assert_int_equal(vm_rd(f->t, 0x70), 15);
	assert_int_equal(virtio_console_push(f->dev, (const uint8_t *)"x", 1), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_with_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_receive_buffer_needs_reset, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_push_without_a_ready_queue, setup, teardown),
	};

	/* The device threads run under their seccomp filter, as in ember. */
	seccomp_set_level(SC_LEVEL_MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

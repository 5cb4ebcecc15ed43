/* The virtio-mmio transport with the virtio-rng device behind it, end to end. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "virtio/rng.h"
#include "sandbox/seccomp.h"
#include "vmmio.h"

#define QSIZE 16

struct fixture {
	struct vdriver vd;
	struct virtio_dev *dev;
	struct virtio_mmio *t;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vd_init(&f->vd, QSIZE);
	assert_int_equal(virtio_rng_create(&f->vd.gm, &f->dev), 0);
	f->t = vm_attach(f->dev);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vm_detach(f->dev, f->t);
	vd_fini(&f->vd);
	free(f);
	return 0;
}

static const uint64_t features = VIRTIO_BIT(VIRTIO_F_VERSION_1);

/* One 64-byte device-writable buffer in descriptor `i`, published and notified. */
static void request_random(struct fixture *f, uint16_t i, uint64_t gpa)
{
	vd_set_desc(&f->vd, i, gpa, 64, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->vd, i);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

static void test_identity_registers(void **state)
{
	struct fixture *f = *state;
	uint16_t half;

	assert_int_equal(vm_rd(f->t, 0x000), 0x74726976);
	assert_int_equal(vm_rd(f->t, 0x004), 2);
	assert_int_equal(vm_rd(f->t, 0x008), VIRTIO_ID_RNG);
	vm_wr(f->t, 0x014, 1);
	assert_int_equal(vm_rd(f->t, 0x010), 1); /* VERSION_1 is bit 32 */
	vm_wr(f->t, 0x030, 0);
	assert_int_equal(vm_rd(f->t, 0x034), 256);
	vm_wr(f->t, 0x030, 1); /* no such queue */
	assert_int_equal(vm_rd(f->t, 0x034), 0);
	/* Registers are 32-bit: other widths read as zero. */
	virtio_mmio_ops.read(f->t, 0x000, &half, 2);
	assert_int_equal(half, 0);
	assert_int_equal(vm_rd(f->t, 0xb0), 0xffffffff); /* no shared memory */
}

static void test_random_bytes_arrive(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = vd_ptr(&f->vd, 0x20000), zero[64] = { 0 };
	uint32_t len;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	request_random(f, 0, 0x20000);
	assert_int_equal(vm_wait_used(f->t, &f->vd, &len), 0);
	assert_int_equal(len, 64);
	assert_memory_not_equal(buf, zero, 64);
	assert_int_equal(vm_rd(f->t, 0x60), 0); /* acked */
}

static void test_event_idx_and_indirect_negotiated(void **state)
{
	struct fixture *f = *state;
	uint64_t all = features | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		       VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC);
	struct virtq_desc *table = vd_ptr(&f->vd, 0x8000);
	uint32_t len;

	assert_int_equal(vm_setup(f->t, &f->vd, all, 1), 15);
	table[0] = (struct virtq_desc){ 0x20000, 10, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1 };
	table[1] = (struct virtq_desc){ 0x30000, 20, VIRTQ_DESC_F_WRITE, 0 };
	vd_set_desc(&f->vd, 2, 0x8000, 32, VIRTQ_DESC_F_INDIRECT, 0);
	vd_publish(&f->vd, 2);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vm_wait_used(f->t, &f->vd, &len), 2);
	assert_int_equal(len, 30);
}

static void test_features_without_version_1_are_refused(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vm_setup(f->t, &f->vd, VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX), 1), 3);
	/* Nor may a driver accept what was not offered. */
	assert_int_equal(vm_setup(f->t, &f->vd, features | VIRTIO_BIT(40), 1), 3);
}

static void test_driver_ok_needs_features_ok(void **state)
{
	struct fixture *f = *state;

	vm_wr(f->t, 0x70, 1 | 2 | 4);
	assert_int_equal(vm_rd(f->t, 0x70), 3);
}

static void test_looping_chain_needs_reset_then_recovers(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	vd_set_desc(&f->vd, 0, 0x20000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->vd, 1, 0x20000, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
	vd_publish(&f->vd, 0);
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	assert_int_equal(vm_wait_irq(f->t), VIRTIO_INT_CONFIG);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* Further notifications are ignored until the reset. */
	vm_wr(f->t, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	vm_wr(f->t, 0x70, 0);
	assert_int_equal(vm_rd(f->t, 0x70), 0);
	vd_fini(&f->vd);
	vd_init(&f->vd, QSIZE);
	f->dev->gmem = &f->vd.gm;
	assert_int_equal(vm_setup(f->t, &f->vd, features, 1), 15);
	request_random(f, 3, 0x20000);
	assert_int_equal(vm_wait_used(f->t, &f->vd, &len), 3);
	assert_int_equal(len, 64);
}

static void test_queue_ready_needs_features_ok(void **state)
{
	struct fixture *f = *state;

	vm_wr(f->t, 0x70, 1 | 2);
	vm_wr(f->t, 0x30, 0);
	vm_wr(f->t, 0x38, QSIZE);
	vm_wr(f->t, 0x80, VD_DESC_GPA);
	vm_wr(f->t, 0x90, VD_AVAIL_GPA);
	vm_wr(f->t, 0xa0, VD_USED_GPA);
	vm_wr(f->t, 0x44, 1);
	assert_int_equal(vm_rd(f->t, 0x44), 0);
}

static void test_rings_outside_ram_need_reset(void **state)
{
	struct fixture *f = *state;

	vm_wr(f->t, 0x70, 1 | 2);
	vm_wr(f->t, 0x24, 1);
	vm_wr(f->t, 0x20, 1);
	vm_wr(f->t, 0x70, 1 | 2 | 8);
	vm_wr(f->t, 0x30, 0);
	vm_wr(f->t, 0x38, QSIZE);
	vm_wr(f->t, 0x80, 0);
	vm_wr(f->t, 0x84, 1); /* 4 GiB: no RAM there */
	vm_wr(f->t, 0x44, 1);
	assert_int_equal(vm_rd(f->t, 0x44), 0);
	assert_true(vm_rd(f->t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	/* A queue larger than offered is refused the same way. */
	vm_wr(f->t, 0x70, 0);
	vm_wr(f->t, 0x38, 1024);
	assert_int_equal(vm_rd(f->t, 0x38), 0);
}

static void test_many_requests(void **state)
{
	struct fixture *f = *state;
	uint32_t len, got = 0;

	assert_int_equal(vm_setup(f->t, &f->vd, features | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX), 1),
			 15);
	for (unsigned int round = 0; round < 100; round++) {
		request_random(f, round % QSIZE, 0x20000 + 64 * (round % QSIZE));
		/* used_event: interrupt for every entry. */
		vd_avail(&f->vd)[2 + QSIZE] = (uint16_t)round;
		if (vm_wait_used(f->t, &f->vd, &len) >= 0)
			got += len;
	}
	assert_int_equal(got, 6400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_identity_registers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_bytes_arrive, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_and_indirect_negotiated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_features_without_version_1_are_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_driver_ok_needs_features_ok, setup, teardown),
		cmocka_unit_test_setup_teardown(test_looping_chain_needs_reset_then_recovers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_queue_ready_needs_features_ok, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rings_outside_ram_need_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_requests, setup, teardown),
	};

	/* The device threads run under their seccomp filter, as in ember. */
	seccomp_set_level(SC_LEVEL_MAX);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

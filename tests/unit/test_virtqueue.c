#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vdriver.h"

#define QSIZE 16

struct fixture {
	struct vdriver vd;
	struct virtqueue vq;
	struct iovec iov[32];
	struct vq_chain c;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	vd_init(&f->vd, QSIZE);
	vd_queue(&f->vd, &f->vq, 256);
	f->c = (struct vq_chain){ .iov = f->iov, .cap = ARRAY_SIZE(f->iov) };
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vd_fini(&f->vd);
	free(f);
	return 0;
}

static void activate(struct fixture *f, bool event_idx, bool indirect)
{
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, event_idx, indirect), 0);
}

static void test_simple_chain(void **state)
{
	struct fixture *f = *state;
	uint32_t len;

	activate(f, false, false);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0); /* empty */
	vd_set_desc(&f->vd, 3, 0x10000, 16, VIRTQ_DESC_F_NEXT, 7);
	vd_set_desc(&f->vd, 7, 0x20000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 9);
	vd_set_desc(&f->vd, 9, 0x30000, 1, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->vd, 3);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 3);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.out_len, 16);
	assert_int_equal(f->c.in_len, 513);
	assert_ptr_equal(f->iov[0].iov_base, f->vd.ram + 0x10000);
	assert_ptr_equal(f->iov[2].iov_base, f->vd.ram + 0x30000);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	vq_push(&f->vq, 3, 513);
	assert_int_equal(vd_take_used(&f->vd, &len), 3);
	assert_int_equal(len, 513);
	assert_int_equal(vd_take_used(&f->vd, &len), -1);
}

static bool page_bit(const uint64_t *bm, uint64_t gpa)
{
	return bm[(gpa >> 12) / 64] & (1ULL << ((gpa >> 12) % 64));
}

/* While migrating, what the device wrote (the chain's writable buffers) must be sent again. */
static void test_push_logs_written_buffers_while_migrating(void **state)
{
	struct fixture *f = *state;
	uint64_t bm[VD_RAM_SIZE / 4096 / 64] = { 0 };

	activate(f, false, false);
	assert_int_equal(gmem_dirty_start(&f->vd.gm, f->vd.ram, VD_RAM_SIZE), 0);
	vd_set_desc(&f->vd, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->vd, 1, 0x20ff0, 0x20, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 2);
	vd_set_desc(&f->vd, 2, 0x30000, 1, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	gmem_dirty_take(&f->vd.gm, bm);
	assert_false(page_bit(bm, 0x20000)); /* taking a chain writes nothing */
	vq_push(&f->vq, 0, 0x21);
	vq_mark_used_ring(&f->vq);
	gmem_dirty_take(&f->vd.gm, bm);
	assert_true(page_bit(bm, 0x20000) && page_bit(bm, 0x21000) && page_bit(bm, 0x30000));
	assert_true(page_bit(bm, VD_USED_GPA));
	assert_false(page_bit(bm, 0x10000)); /* device-readable */
	/* Taking clears; with logging off nothing is marked. */
	memset(bm, 0, sizeof(bm));
	gmem_dirty_take(&f->vd.gm, bm);
	assert_false(page_bit(bm, 0x20000));
	gmem_dirty_stop(&f->vd.gm);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	vq_push(&f->vq, 0, 0x21);
	gmem_dirty_take(&f->vd.gm, bm);
	assert_false(page_bit(bm, 0x30000));
	gmem_dirty_fini(&f->vd.gm);
}

static void test_loop_is_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->vd, 1, 0x10000, 16, VIRTQ_DESC_F_NEXT, 0);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	/* The entry stays unconsumed: the device is broken until reset. */
	assert_int_equal(f->vq.last_avail, 0);
}

static void test_self_loop_is_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 5, 0x10000, 0, VIRTQ_DESC_F_NEXT, 5);
	vd_publish(&f->vd, 5);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
}

static void test_bad_indices_and_addresses(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	/* head beyond the table */
	vd_publish(&f->vd, QSIZE);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	/* next beyond the table */
	vd_set_desc(&f->vd, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT, QSIZE + 3);
	vd_avail(&f->vd)[2] = 0;
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
}

static void test_buffer_outside_ram(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 0, VD_RAM_SIZE - 8, 16, 0, 0); /* straddles the end */
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	f->vq.last_avail = 1;
	vd_set_desc(&f->vd, 1, UINT64_MAX - 4, 16, 0, 0); /* wraps */
	vd_publish(&f->vd, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	f->vq.last_avail = 2;
	vd_set_desc(&f->vd, 2, 0x10000, 0x100000, 0, 0); /* longer than RAM */
	vd_publish(&f->vd, 2);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
}

static void test_readable_after_writable_is_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 0, 0x10000, 16, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	vd_set_desc(&f->vd, 1, 0x20000, 16, 0, 0);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
}

static void test_more_segments_than_the_device_takes(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	f->c.cap = 8;
	for (uint16_t i = 0; i < 9; i++)

		vd_set_desc(&f->vd, i, 0x10000 + i * 16, 16, i < 8 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -E2BIG);
}

static void test_avail_index_jump_is_refused(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 0, 0x10000, 16, 0, 0);
	vd_avail(&f->vd)[1] = QSIZE + 1; /* more entries than the ring holds */
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
}

static void test_zero_length_buffers_are_skipped(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vd_set_desc(&f->vd, 0, 0xdeadbeef00ULL, 0, VIRTQ_DESC_F_NEXT, 1);
	vd_set_desc(&f->vd, 1, 0x10000, 4, 0, 0);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.out_len, 4);
}

static void test_indirect_table(void **state)
{
	struct fixture *f = *state;
	uint64_t table = vd_alloc(&f->vd, 3 * 16);
	struct virtq_desc *t = vd_ptr(&f->vd, table);

	activate(f, false, true);
	t[0] = (struct virtq_desc){ 0x20000, 16, VIRTQ_DESC_F_NEXT, 2 };
	t[2] = (struct virtq_desc){ 0x21000, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1 };
	t[1] = (struct virtq_desc){ 0x22000, 1, VIRTQ_DESC_F_WRITE, 0 };
	vd_set_desc(&f->vd, 4, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	vd_publish(&f->vd, 4);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.head, 4);
	assert_int_equal(f->c.n_out, 1);
	assert_int_equal(f->c.n_in, 2);
	assert_int_equal(f->c.in_len, 101);
}

static void test_indirect_rules(void **state)
{
	struct fixture *f = *state;
	uint64_t table = vd_alloc(&f->vd, 2 * 16);
	struct virtq_desc *t = vd_ptr(&f->vd, table);

	/* Not negotiated. */
	activate(f, false, false);
	vd_set_desc(&f->vd, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	t[0] = (struct virtq_desc){ 0x20000, 16, 0, 0 };
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	/* Negotiated, but: nested, with NEXT, partial entries, empty, looping. */
	f->vq.indirect = true;
	t[0] = (struct virtq_desc){ table, 32, VIRTQ_DESC_F_INDIRECT, 0 };
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	t[0] = (struct virtq_desc){ 0x20000, 16, 0, 0 };
	vd_set_desc(&f->vd, 0, table, 32, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	vd_set_desc(&f->vd, 0, table, 24, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	vd_set_desc(&f->vd, 0, table, 0, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	vd_set_desc(&f->vd, 0, VD_RAM_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	t[0] = (struct virtq_desc){ 0x20000, 16, VIRTQ_DESC_F_NEXT, 1 };
	t[1] = (struct virtq_desc){ 0x20000, 16, VIRTQ_DESC_F_NEXT, 0 };
	vd_set_desc(&f->vd, 0, table, 32, VIRTQ_DESC_F_INDIRECT, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), -EINVAL);
	/* And the good case still works afterwards. */
	t[1] = (struct virtq_desc){ 0x20000, 16, 0, 0 };
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(f->c.out_len, 32);
}

static void test_activate_checks(void **state)
{
	struct fixture *f = *state;

	f->vq.size = 12; /* not a power of two */
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), -EINVAL);
	f->vq.size = 512; /* beyond max */
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), -EINVAL);
	f->vq.size = 0;
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), -EINVAL);
	f->vq.size = QSIZE;
	f->vq.desc_gpa = VD_DESC_GPA + 8; /* misaligned */
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), -EINVAL);
	f->vq.desc_gpa = VD_DESC_GPA;
	f->vq.used_gpa = VD_RAM_SIZE - 64; /* runs past RAM */
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), -EINVAL);
	f->vq.used_gpa = VD_USED_GPA;
	assert_int_equal(vq_activate(&f->vq, &f->vd.gm, false, false), 0);
}

static void test_interrupt_suppression_flags(void **state)
{
	struct fixture *f = *state;

	activate(f, false, false);
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_signal(&f->vq));
	assert_false(vq_should_signal(&f->vq)); /* nothing new */
	vd_avail(&f->vd)[0] = VIRTQ_AVAIL_F_NO_INTERRUPT;
	vq_push(&f->vq, 1, 0);
	assert_false(vq_should_signal(&f->vq));
	vq_disable_notify(&f->vq);
	assert_int_equal(vd_used(&f->vd)[0], VIRTQ_USED_F_NO_NOTIFY);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(vd_used(&f->vd)[0], 0);
	vd_publish(&f->vd, 0);
	assert_true(vq_enable_notify(&f->vq)); /* raced in: take it now */
}

static void test_event_idx(void **state)
{
	struct fixture *f = *state;
	uint16_t *used_event = &vd_avail(&f->vd)[2 + QSIZE];

	activate(f, true, false);
	vq_push(&f->vq, 0, 0);
	assert_true(vq_should_signal(&f->vq)); /* the first one always */
	*used_event = 3;		       /* wake me when entry 3 is used */
	vq_push(&f->vq, 1, 0);		       /* used idx 2 */
	assert_false(vq_should_signal(&f->vq));
	vq_push(&f->vq, 2, 0); /* 3 */
	assert_false(vq_should_signal(&f->vq));
	vq_push(&f->vq, 3, 0); /* 4: crossed used_event */
	assert_true(vq_should_signal(&f->vq));
	/* avail_event follows what the device has taken. */
	vd_set_desc(&f->vd, 0, 0x10000, 4, 0, 0);
	vd_publish(&f->vd, 0);
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(vd_used(&f->vd)[2 + 4 * QSIZE], 1);
}

/* Entries published after the device ran short, before it asked for more, count. */
static void test_want_more_sees_what_came_after_the_last_pop(void **state)
{
	struct fixture *f = *state;

	activate(f, true, false);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	vd_set_desc(&f->vd, 0, 0x10000, 16, VIRTQ_DESC_F_WRITE, 0);
	vd_publish(&f->vd, 0); /* the driver saw no reason to notify */
	assert_true(vq_want_more(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->c), 1);
	assert_int_equal(vq_pop(&f->vq, &f->c), 0);
	assert_false(vq_want_more(&f->vq));
	/* The next entry the driver publishes crosses avail_event: it notifies. */
	assert_int_equal(vd_used(&f->vd)[2 + 4 * QSIZE], 1);
}

static void test_iov_helpers(void **state)
{
	uint8_t a[3] = { 1, 2, 3 }, b[5] = { 4, 5, 6, 7, 8 }, out[8] = { 0 };
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } }, sl[2];

	(void)state;
	assert_int_equal(iov_to_buf(iov, 2, 2, out, 4), 4);
	assert_memory_equal(out, ((uint8_t[]){ 3, 4, 5, 6 }), 4);
	assert_int_equal(iov_to_buf(iov, 2, 6, out, 10), 2); /* short at the end */
	assert_int_equal(iov_from_buf(iov, 2, 1, "xyz", 3), 3);
	assert_memory_equal(a, "\1xy", 3);
	assert_int_equal(b[0], 'z');
	assert_int_equal(iov_memset(iov, 2, 7, 0, 5), 1);
	assert_int_equal(b[4], 0);
	assert_int_equal(iov_slice(iov, 2, 2, 3, sl, 2), 2);
	assert_ptr_equal(sl[0].iov_base, a + 2);
	assert_int_equal(sl[0].iov_len, 1);
	assert_int_equal(sl[1].iov_len, 2);
	assert_int_equal(iov_slice(iov, 2, 0, 8, sl, 1), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_simple_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loop_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_loop_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indices_and_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_after_writable_is_refused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_more_segments_than_the_device_takes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_avail_index_jump_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_buffers_are_skipped, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_indirect_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_rules, setup, teardown),
		cmocka_unit_test_setup_teardown(test_activate_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_interrupt_suppression_flags, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_want_more_sees_what_came_after_the_last_pop,
						setup, teardown),
		cmocka_unit_test(test_iov_helpers),
		cmocka_unit_test_setup_teardown(test_push_logs_written_buffers_while_migrating,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "kvm/gmem.h"

static uint8_t low[4096], high[4096];

static void setup_gmem(struct gmem *gm)
{
	gm->count = 0;
	assert_int_equal(gmem_add_region(gm, 0, sizeof(low), low), 0);
	assert_int_equal(gmem_add_region(gm, 0x100000000ULL, sizeof(high), high), 0);
}

static void test_dirty_pages_are_marked_and_taken(void **state)
{
	static uint8_t ram[64 * 4096] __attribute__((aligned(4096)));
	struct gmem gm = { 0 };
	uint64_t bm[1] = { 0 };

	(void)state;
	gmem_mark_dirty(&gm, ram, 1); /* not logging: nothing, no crash */
	assert_int_equal(gmem_dirty_start(&gm, ram, sizeof(ram)), 0);
	gmem_mark_dirty(&gm, ram + 4095, 2);	     /* straddles pages 0 and 1 */
	gmem_mark_dirty(&gm, ram + 63 * 4096, 9000); /* runs past the end: clipped */
	gmem_mark_dirty(&gm, ram + 5 * 4096, 0);     /* empty */
	gmem_mark_dirty(&gm, low, 1);		     /* not this mapping */
	gmem_dirty_take(&gm, bm);
	assert_true(bm[0] == ((1ULL << 0) | (1ULL << 1) | (1ULL << 63)));
	bm[0] = 0;
	gmem_dirty_take(&gm, bm);
	assert_true(bm[0] == 0);
	gmem_dirty_stop(&gm);
	gmem_mark_dirty(&gm, ram, 1);
	gmem_dirty_take(&gm, bm);
	assert_true(bm[0] == 0);
	gmem_dirty_fini(&gm);
}

static void test_translate_inside(void **state)
{
	struct gmem gm;

	(void)state;
	setup_gmem(&gm);
	assert_ptr_equal(gmem_ptr(&gm, 0, 4096), low);
	assert_ptr_equal(gmem_ptr(&gm, 4095, 1), low + 4095);
	assert_ptr_equal(gmem_ptr(&gm, 0x100000010ULL, 16), high + 16);
	assert_ptr_equal(gmem_ptr(&gm, 4096, 0), NULL); /* just past the end */
}

static void test_reject_outside_and_straddling(void **state)
{
	struct gmem gm;
	uint8_t buf[8];

	(void)state;
	setup_gmem(&gm);
	assert_null(gmem_ptr(&gm, 4090, 8));
	assert_null(gmem_ptr(&gm, 4096, 1));
	assert_null(gmem_ptr(&gm, 0xffffffffULL, 2));
	assert_null(gmem_ptr(&gm, 0x100000000ULL + 4095, 2));
	assert_null(gmem_ptr(&gm, 8, UINT64_MAX));
	assert_null(gmem_ptr(&gm, UINT64_MAX, 1));
	assert_int_equal(gmem_read(&gm, 4092, buf, 8), -EFAULT);
	assert_int_equal(gmem_write(&gm, 0xc0000000ULL, buf, 1), -EFAULT);
	assert_int_equal(gmem_fill(&gm, 0, 0, 4097), -EFAULT);
}

static void test_read_write_round_trip(void **state)
{
	struct gmem gm;
	uint64_t v = 0x1122334455667788ULL, r = 0;

	(void)state;
	setup_gmem(&gm);
	assert_int_equal(gmem_write(&gm, 0x100000100ULL, &v, sizeof(v)), 0);
	assert_int_equal(gmem_read(&gm, 0x100000100ULL, &r, sizeof(r)), 0);
	assert_int_equal(r, v);
}

static void test_region_table_rules(void **state)
{
	struct gmem gm = { .count = 0 };
	uint8_t page[16];

	(void)state;
	assert_int_equal(gmem_add_region(&gm, 0, 16, page), 0);
	assert_int_equal(gmem_add_region(&gm, 8, 16, page), -EEXIST);
	assert_int_equal(gmem_add_region(&gm, 32, 0, page), -EINVAL);
	assert_int_equal(gmem_add_region(&gm, UINT64_MAX - 4, 16, page), -EINVAL);
	assert_int_equal(gmem_add_region(&gm, 64, 16, NULL), -EINVAL);
	for (unsigned int i = 1; i < GMEM_MAX_REGIONS; i++)
		assert_int_equal(gmem_add_region(&gm, i * 4096, 16, page), 0);
	assert_int_equal(gmem_add_region(&gm, 1 << 30, 16, page), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate_inside),
		cmocka_unit_test(test_reject_outside_and_straddling),
		cmocka_unit_test(test_read_write_round_trip),
		cmocka_unit_test(test_region_table_rules),
		cmocka_unit_test(test_dirty_pages_are_marked_and_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/tokenbucket.h"

#define MS 1000000ULL

static void test_unlimited(void **state)
{
	struct token_bucket tb;

	(void)state;
	tb_init(&tb, 0, 0);
	assert_int_equal(tb_wait_ns(&tb, UINT64_MAX, 0), 0);
	tb_take(&tb, UINT64_MAX);
	assert_int_equal(tb_wait_ns(&tb, 1, 0), 0);
}

static void test_burst_then_refill(void **state)
{
	struct token_bucket tb;

	(void)state;
	tb_init(&tb, 10, 0); /* 10 per second, 10 saved up */
	for (int i = 0; i < 10; i++) {
		assert_int_equal(tb_wait_ns(&tb, 1, 0), 0);
		tb_take(&tb, 1);
	}
	assert_int_equal(tb_wait_ns(&tb, 1, 0), 100 * MS);
	assert_int_equal(tb_wait_ns(&tb, 1, 50 * MS), 50 * MS);
	assert_int_equal(tb_wait_ns(&tb, 1, 100 * MS), 0);
	tb_take(&tb, 1);
	assert_int_equal(tb_wait_ns(&tb, 2, 150 * MS), 150 * MS); /* half a token is kept */
	assert_int_equal(tb_wait_ns(&tb, 10, 10000 * MS), 0);	  /* never more than the rate */
}

static void test_request_bigger_than_the_bucket(void **state)
{
	struct token_bucket tb;

	(void)state;
	tb_init(&tb, 1000, 0);
	tb_take(&tb, 600);
	/* 10 000 bytes at 1000/s: waits for a full bucket, not forever. */
	assert_int_equal(tb_wait_ns(&tb, 10000, 0), 600 * MS);
	assert_int_equal(tb_wait_ns(&tb, 10000, 600 * MS), 0);
	tb_take(&tb, 10000);
	assert_int_equal(tb_wait_ns(&tb, 1, 600 * MS), 1 * MS);
}

static void test_large_rates_and_long_gaps(void **state)
{
	struct token_bucket tb;

	(void)state;
	tb_init(&tb, UINT64_MAX, 0); /* clamped */
	assert_int_equal(tb.rate, TB_MAX_RATE);
	tb_take(&tb, TB_MAX_RATE);
	assert_int_equal(tb_wait_ns(&tb, TB_MAX_RATE, 999 * MS), 1 * MS);
	assert_int_equal(tb_wait_ns(&tb, TB_MAX_RATE, UINT64_MAX), 0);
	/* A clock that goes backwards refills nothing and breaks nothing. */
	tb_take(&tb, TB_MAX_RATE);
	assert_true(tb_wait_ns(&tb, 1, 0) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unlimited),
		cmocka_unit_test(test_burst_then_refill),
		cmocka_unit_test(test_request_bigger_than_the_bucket),
		cmocka_unit_test(test_large_rates_and_long_gaps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

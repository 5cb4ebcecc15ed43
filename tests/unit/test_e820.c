#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "arch/arch.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static uint64_t ram_total(const struct e820_entry *e, unsigned int n)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			sum += e[i].size;
	return sum;
}

static void assert_sorted_disjoint(const struct e820_entry *e, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_small_guest(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = e820_build(128 * MiB, e);

	(void)state;
	assert_int_equal(n, 4);
	assert_sorted_disjoint(e, n);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, 0x9fc00);
	assert_int_equal(e[0].type, E820_RAM);
	assert_int_equal(e[1].type, E820_RESERVED);
	assert_int_equal(e[2].addr, 0xe0000);
	assert_int_equal(e[2].type, E820_RESERVED);
	assert_int_equal(e[3].addr, MiB);
	assert_int_equal(e[3].addr + e[3].size, 128 * MiB);
	/* Everything but the 385 KiB between the EBDA and 1 MiB is usable RAM. */
	assert_int_equal(ram_total(e, n), 128 * MiB - (MiB - 0x9fc00));
}

static void test_exactly_3g_has_no_high_ram(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = e820_build(3 * GiB, e);

	(void)state;
	assert_int_equal(n, 4);
	assert_int_equal(e[3].addr + e[3].size, LAYOUT_MMIO_HOLE);
}

static void test_4g_splits_around_the_hole(void **state)
{
	struct e820_entry e[E820_MAX_ENTRIES];
	unsigned int n = e820_build(4 * GiB, e);

	(void)state;
	assert_int_equal(n, 5);
	assert_sorted_disjoint(e, n);
	assert_int_equal(e[3].addr + e[3].size, 3 * GiB);
	assert_int_equal(e[4].addr, 4 * GiB);
	assert_int_equal(e[4].size, 1 * GiB);
	assert_int_equal(e[4].type, E820_RAM);
	/* No RAM is lost to the hole: it moves above 4 GiB. */
	assert_int_equal(ram_total(e, n), 4 * GiB - (MiB - 0x9fc00));
}

static void test_ram_regions_match_map(void **state)
{
	struct ram_region r[ARCH_MAX_RAM_REGIONS];

	(void)state;
	assert_int_equal(arch_ram_regions(128 * MiB, r), 1);
	assert_int_equal(r[0].gpa, 0);
	assert_int_equal(r[0].size, 128 * MiB);
	assert_int_equal(arch_ram_regions(6 * GiB, r), 2);
	assert_int_equal(r[0].size, 3 * GiB);
	assert_int_equal(r[1].gpa, 4 * GiB);
	assert_int_equal(r[1].size, 3 * GiB);
	assert_int_equal(e820_low_ram_end(6 * GiB), 3 * GiB);
	assert_int_equal(e820_low_ram_end(64 * MiB), 64 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_guest),
		cmocka_unit_test(test_exactly_3g_has_no_high_ram),
		cmocka_unit_test(test_4g_splits_around_the_hole),
		cmocka_unit_test(test_ram_regions_match_map),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

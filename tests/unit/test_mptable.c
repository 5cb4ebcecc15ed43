#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/mptable.h"

#define BASE 0xf0000u

static uint8_t area[0x10000];

static void test_checksums_and_cpus(void **state)
{
	unsigned int counts[] = { 1, 2, 64, 254 };

	(void)state;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		unsigned int cpus = 0, bsp = 0;
		uint16_t len, entries;
		uint32_t phys;
		const uint8_t *mpc, *p;
		int n = mptable_build(counts[c], (uint8_t)counts[c], area, sizeof(area), BASE);

		assert_true(n > 0);
		assert_memory_equal(area, "_MP_", 4);
		assert_int_equal(acpi_checksum(area, 16), 0);
		memcpy(&phys, area + 4, 4);
		assert_int_equal(phys, BASE + 16);
		mpc = area + 16;
		assert_memory_equal(mpc, "PCMP", 4);
		memcpy(&len, mpc + 4, 2);
		memcpy(&entries, mpc + 34, 2);
		assert_int_equal(acpi_checksum(mpc, len), 0);
		assert_int_equal(16 + len, n);
		p = mpc + 44;
		for (unsigned int i = 0; i < entries; i++) {
			if (p[0] == 0) {
				assert_int_equal(p[1], cpus);
				cpus++;
				bsp += (p[3] & 2) != 0;
				p += 20;
			} else {
				p += 8;
			}
		}
		assert_ptr_equal(p, mpc + len);
		assert_int_equal(cpus, counts[c]);
		assert_int_equal(bsp, 1);
	}
}

static void test_limits(void **state)
{
	(void)state;
	assert_int_equal(mptable_build(0, 0, area, sizeof(area), BASE), -EINVAL);
	assert_int_equal(mptable_build(255, 0, area, sizeof(area), BASE), -EINVAL);
	assert_int_equal(mptable_build(8, 8, area, 64, BASE), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksums_and_cpus),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

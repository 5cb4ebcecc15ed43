#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/cpuid.h"

static struct kvm_cpuid_entry2 entries[8];

static unsigned int fill(bool amd)
{
	memset(entries, 0, sizeof(entries));
	entries[0] = (struct kvm_cpuid_entry2){ .function = 0,
						.eax = 0x1f,
						.ebx = amd ? 0x68747541 : 0x756e6547 };
	entries[1] = (struct kvm_cpuid_entry2){ .function = 1,
						.ebx = 0xdeadbe00 | 0x11,
						.edx = 1u << 28 };
	entries[2] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 0 };
	entries[3] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 1 };
	entries[4] = (struct kvm_cpuid_entry2){ .function = 0xb, .index = 2, .ecx = 0x0303 };
	entries[5] = (struct kvm_cpuid_entry2){ .function = 4,
						.index = 2,
						.eax = (3 << 5) | 3 }; /* L3 unified */
	entries[6] = (struct kvm_cpuid_entry2){ .function = 0x80000008 };
	entries[7] = (struct kvm_cpuid_entry2){ .function = 0x8000001e };
	return 8;
}

static void test_id_bits(void **state)
{
	(void)state;
	assert_int_equal(cpuid_id_bits(1), 0);
	assert_int_equal(cpuid_id_bits(2), 1);
	assert_int_equal(cpuid_id_bits(3), 2);
	assert_int_equal(cpuid_id_bits(64), 6);
	assert_int_equal(cpuid_id_bits(65), 7);
}

static void test_leaf1_identifies_the_vcpu(void **state)
{
	struct cpuid_topology t = { .cpu = 5, .nr_cpus = 8, .tsc_deadline = true };
	unsigned int n = fill(false);

	(void)state;
	cpuid_patch(entries, n, &t);
	assert_int_equal(entries[1].ebx >> 24, 5);
	assert_int_equal((entries[1].ebx >> 16) & 0xff, 8);
	assert_int_equal((entries[1].ebx >> 8) & 0xff, 8);
	assert_true(entries[1].ecx & (1u << 31)); /* hypervisor */
	assert_true(entries[1].ecx & (1u << 24)); /* TSC deadline */
	assert_true(entries[1].edx & (1u << 28));
}

static void test_single_cpu_clears_htt(void **state)
{
	struct cpuid_topology t = { .cpu = 0, .nr_cpus = 1 };
	unsigned int n = fill(false);

	(void)state;
	cpuid_patch(entries, n, &t);
	assert_false(entries[1].edx & (1u << 28));
	assert_int_equal((entries[1].ebx >> 16) & 0xff, 1);
}

static void test_extended_topology(void **state)
{
	struct cpuid_topology t = { .cpu = 3, .nr_cpus = 6 };
	unsigned int n = fill(false);

	(void)state;
	cpuid_patch(entries, n, &t);
	/* SMT level: 1 thread; core level: 6 cores, 3 bits of APIC ID. */
	assert_int_equal(entries[2].ebx, 1);
	assert_int_equal((entries[2].ecx >> 8) & 0xff, 1);
	assert_int_equal(entries[3].eax, 3);
	assert_int_equal(entries[3].ebx, 6);
	assert_int_equal((entries[3].ecx >> 8) & 0xff, 2);
	assert_int_equal((entries[4].ecx >> 8) & 0xff, 0);
	for (int i = 2; i <= 4; i++)
		assert_int_equal(entries[i].edx, 3);
	/* The L3 cache is shared by all six. */
	assert_int_equal((entries[5].eax >> 14) & 0xfff, 5);
	assert_int_equal(entries[5].eax >> 26, 5);
}

static void test_amd_leaves(void **state)
{
	struct cpuid_topology t = { .cpu = 2, .nr_cpus = 4 };
	unsigned int n = fill(true);

	(void)state;
	cpuid_patch(entries, n, &t);
	assert_int_equal(entries[6].ecx & 0xff, 3);
	assert_int_equal((entries[6].ecx >> 12) & 0xf, 2);
	assert_int_equal(entries[7].eax, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id_bits),
		cmocka_unit_test(test_leaf1_identifies_the_vcpu),
		cmocka_unit_test(test_single_cpu_clears_htt),
		cmocka_unit_test(test_extended_topology),
		cmocka_unit_test(test_amd_leaves),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

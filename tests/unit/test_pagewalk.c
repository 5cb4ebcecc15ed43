#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/pagewalk.h"
#include "kvm/gmem.h"

#define RAM_SIZE (64u << 10)

static uint8_t ram[RAM_SIZE];
static struct gmem gm;

static void put64(uint64_t addr, uint64_t v)
{
	memcpy(ram + addr, &v, 8);
}

static void put32(uint64_t addr, uint32_t v)
{
	memcpy(ram + addr, &v, 4);
}

static int setup(void **state)
{
	(void)state;
	memset(ram, 0, sizeof(ram));
	gm.count = 0;
	assert_int_equal(gmem_add_region(&gm, 0, RAM_SIZE, ram), 0);
	return 0;
}

static void test_paging_off(void **state)
{
	struct paging_regs r = { .cr0 = 1 };
	uint64_t gpa;

	(void)state;
	assert_int_equal(pagewalk(&gm, &r, 0x12345, &gpa), 0);
	assert_int_equal(gpa, 0x12345);
}

static void test_long_mode_4k_and_2m(void **state)
{
	struct paging_regs r = { .cr0 = 0x80000011, .cr3 = 0x1000, .cr4 = 0x20, .efer = 0x500 };
	uint64_t gva = 0xffffffff81234567ULL, gpa;

	(void)state;
	/* PML4[511] -> PDPT 0x2000, PDPT[510] -> PD 0x3000, PD[9] -> PT 0x4000. */
	put64(0x1000 + 511 * 8, 0x2000 | 3);
	put64(0x2000 + 510 * 8, 0x3000 | 3);
	put64(0x3000 + 9 * 8, 0x4000 | 3);
	put64(0x4000 + 0x34 * 8, 0x7000 | 3);
	assert_int_equal(pagewalk(&gm, &r, gva, &gpa), 0);
	assert_int_equal(gpa, 0x7567);
	/* A 2 MiB page at PD[8]. */
	put64(0x3000 + 8 * 8, 0x40000000ULL | 0x83);
	assert_int_equal(pagewalk(&gm, &r, 0xffffffff81012345ULL, &gpa), 0);
	assert_int_equal(gpa, 0x40012345ULL);
	/* A 1 GiB page at PDPT[0] of PML4[0]. */
	put64(0x1000, 0x5000 | 3);
	put64(0x5000, 0x80000000ULL | 0x83);
	assert_int_equal(pagewalk(&gm, &r, 0x3456789, &gpa), 0);
	assert_int_equal(gpa, 0x83456789ULL);
}

static void test_not_present_and_outside_ram(void **state)
{
	struct paging_regs r = { .cr0 = 0x80000011, .cr3 = 0x1000, .cr4 = 0x20, .efer = 0x500 };
	uint64_t gpa;

	(void)state;
	assert_int_equal(pagewalk(&gm, &r, 0x1000, &gpa), -EFAULT);
	put64(0x1000, 0x7fff000000ULL | 3); /* next table beyond guest RAM */
	assert_int_equal(pagewalk(&gm, &r, 0x1000, &gpa), -EFAULT);
	r.cr3 = 0x10000000; /* CR3 itself outside RAM */
	assert_int_equal(pagewalk(&gm, &r, 0x1000, &gpa), -EFAULT);
}

static void test_32bit_paging(void **state)
{
	struct paging_regs r = { .cr0 = 0x80000011, .cr3 = 0x1000, .cr4 = 0x10 };
	uint64_t gpa;

	(void)state;
	put32(0x1000 + 0x300 * 4, 0x2000 | 3);
	put32(0x2000 + 0x12 * 4, 0x9000 | 3);
	assert_int_equal(pagewalk(&gm, &r, 0xc0012abc, &gpa), 0);
	assert_int_equal(gpa, 0x9abc);
	put32(0x1000 + 0x301 * 4, 0x00800000 | 0x83); /* 4 MiB page with PSE */
	assert_int_equal(pagewalk(&gm, &r, 0xc0512345, &gpa), 0);
	assert_int_equal(gpa, 0x00912345);
}

static void test_pae(void **state)
{
	struct paging_regs r = { .cr0 = 0x80000011, .cr3 = 0x1000, .cr4 = 0x20 };
	uint64_t gpa;

	(void)state;
	put64(0x1000 + 3 * 8, 0x2000 | 1);
	put64(0x2000 + 1 * 8, 0x3000 | 3);
	put64(0x3000 + 5 * 8, 0x8000 | 3);
	assert_int_equal(pagewalk(&gm, &r, 0xc0205123, &gpa), 0);
	assert_int_equal(gpa, 0x8123);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_paging_off, setup),
		cmocka_unit_test_setup(test_long_mode_4k_and_2m, setup),
		cmocka_unit_test_setup(test_not_present_and_outside_ram, setup),
		cmocka_unit_test_setup(test_32bit_paging, setup),
		cmocka_unit_test_setup(test_pae, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

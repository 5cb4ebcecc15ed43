#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/loader.h"

#define MiB	    (1ULL << 20)
#define SETUP_SECTS 4
#define PAYLOAD	    0x4000
#define IMG_SIZE    ((SETUP_SECTS + 1) * 512 + PAYLOAD)

static const struct ram_region ram_regions[] = { { 0, 64 * MiB } };
static const struct guest_ram ram = { ram_regions, 1 };

static uint8_t img[IMG_SIZE];

static struct setup_header *hdr(void)
{
	return (struct setup_header *)(img + SETUP_HEADER_OFFSET);
}

/* A minimal bzImage as Linux 6.x builds it, protocol 2.15. */
static void make_bzimage(void)
{
	struct setup_header *h = hdr();

	memset(img, 0, sizeof(img));
	h->setup_sects = SETUP_SECTS;
	h->syssize = PAYLOAD / 16;
	h->boot_flag = 0xaa55;
	h->jump = 0x66eb; /* jmp +0x66: the header ends at 0x268 */
	h->header = SETUP_HDRS_MAGIC;
	h->version = 0x020f;
	h->loadflags = LOADFLAG_LOADED_HIGH;
	h->code32_start = 0x100000;
	h->initrd_addr_max = 0x7fffffff;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = 2047;
	h->pref_address = 0x1000000;
	h->init_size = 0x800000;
}

static int parse(size_t size, struct kernel_plan *p, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return kernel_parse(img, size, &ram, p, e);
}

static void expect_refusal(size_t size, const char *reason)
{
	struct kernel_plan p;
	struct err e;

	assert_int_equal(parse(size, &p, &e), -ENOEXEC);
	if (!strstr(e.msg, reason))
		fail_msg("message '%s' does not say '%s'", e.msg, reason);
}

static void test_valid(void **state)
{
	struct kernel_plan p;
	struct err e;

	(void)state;
	make_bzimage();
	assert_int_equal(parse(IMG_SIZE, &p, &e), 0);
	assert_string_equal(p.format, "bzImage");
	assert_int_equal(p.protocol, BOOT_LINUX64);
	assert_int_equal(p.entry, 0x100200);
	assert_int_equal(p.nr_segs, 1);
	assert_int_equal(p.segs[0].file_offset, (SETUP_SECTS + 1) * 512);
	assert_int_equal(p.segs[0].file_size, PAYLOAD);
	assert_int_equal(p.segs[0].gpa, 0x100000);
	assert_int_equal(p.cmdline_max, 2047);
	assert_int_equal(p.initrd_end_max, 0x80000000ULL);
	/* It decompresses at 16 MiB and needs init_size there. */
	assert_int_equal(p.reserved_start, 0x100000);
	assert_int_equal(p.reserved_end, 0x1000000 + 0x800000);
	assert_true(p.has_setup_header);
	assert_int_equal(p.hdr.version, 0x020f);
}

static void test_zero_setup_sects_means_four(void **state)
{
	struct kernel_plan p;
	struct err e;

	(void)state;
	make_bzimage();
	hdr()->setup_sects = 0;
	assert_int_equal(parse(IMG_SIZE, &p, &e), 0);
	assert_int_equal(p.segs[0].file_offset, 5 * 512);
}

static void test_header_problems(void **state)
{
	(void)state;
	make_bzimage();
	expect_refusal(0x210, "truncated inside its setup header");
	make_bzimage();
	hdr()->boot_flag = 0;
	expect_refusal(IMG_SIZE, "no HdrS");
	make_bzimage();
	hdr()->version = 0x0204;
	expect_refusal(IMG_SIZE, "2.04 is too old");
	make_bzimage();
	hdr()->jump = 0x10eb; /* header ends at 0x212 although 2.15 is claimed */
	expect_refusal(IMG_SIZE, "too short");
}

static void test_flags(void **state)
{
	(void)state;
	make_bzimage();
	hdr()->loadflags = 0;
	expect_refusal(IMG_SIZE, "zImage");
	make_bzimage();
	hdr()->xloadflags = 0;
	expect_refusal(IMG_SIZE, "no 64-bit entry");
	make_bzimage();
	hdr()->kernel_alignment = 0x300000;
	expect_refusal(IMG_SIZE, "not a power of two");
	make_bzimage();
	hdr()->init_size = 0;
	expect_refusal(IMG_SIZE, "init_size");
}

static void test_sizes(void **state)
{
	(void)state;
	make_bzimage();
	expect_refusal((SETUP_SECTS + 1) * 512, "no kernel after the setup code");
	make_bzimage();
	expect_refusal(IMG_SIZE - 0x1000, "header says");
	make_bzimage();
	hdr()->setup_sects = 200;
	expect_refusal(IMG_SIZE, "no kernel after the setup code");
	make_bzimage();
	hdr()->init_size = 0xffffffff; /* cannot decompress in 64 MiB */
	expect_refusal(IMG_SIZE, "raise --memory");
	make_bzimage();
	hdr()->pref_address = 0xfffffffffffff000ULL;
	expect_refusal(IMG_SIZE, "raise --memory");
}

static void test_initrd_magic(void **state)
{
	(void)state;
	assert_true(initrd_magic_known((const uint8_t *)"070701000", 9));
	assert_true(initrd_magic_known((const uint8_t *)"\x1f\x8b\x08", 3));
	assert_true(initrd_magic_known((const uint8_t *)"\x28\xb5\x2f\xfd", 4));
	assert_true(initrd_magic_known((const uint8_t *)"\xfd"
							"7zXZ\x00",
				       6));
	assert_false(initrd_magic_known((const uint8_t *)"hello", 5));
	assert_false(initrd_magic_known((const uint8_t *)"07070", 5));
	assert_false(initrd_magic_known((const uint8_t *)"\x1f", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_zero_setup_sects_means_four),
		cmocka_unit_test(test_header_problems),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_initrd_magic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <elf.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/loader.h"

#define MiB	 (1ULL << 20)
#define IMG_SIZE 0x3000

static const struct ram_region ram_regions[] = { { 0, 128 * MiB } };
static const struct guest_ram ram = { ram_regions, 1 };

/* A small vmlinux-like image: one text segment at 16 MiB and a PVH note. */
struct image {
	uint8_t bytes[IMG_SIZE];
	Elf64_Ehdr *eh;
	Elf64_Phdr *ph;
};

static void add_pvh_note(struct image *im, uint64_t off, uint32_t entry)
{
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };

	memcpy(im->bytes + off, &nh, sizeof(nh));
	memcpy(im->bytes + off + 12, "Xen", 4);
	memcpy(im->bytes + off + 16, &entry, 4);
}

static void make_image(struct image *im, bool pvh)
{
	memset(im, 0, sizeof(*im));
	im->eh = (Elf64_Ehdr *)im->bytes;
	im->ph = (Elf64_Phdr *)(im->bytes + sizeof(Elf64_Ehdr));
	memcpy(im->eh->e_ident, ELFMAG, SELFMAG);
	im->eh->e_ident[EI_CLASS] = ELFCLASS64;
	im->eh->e_ident[EI_DATA] = ELFDATA2LSB;
	im->eh->e_ident[EI_VERSION] = EV_CURRENT;
	im->eh->e_type = ET_EXEC;
	im->eh->e_machine = EM_X86_64;
	im->eh->e_version = EV_CURRENT;
	im->eh->e_entry = 16 * MiB + 0x10;
	im->eh->e_phoff = sizeof(Elf64_Ehdr);
	im->eh->e_phentsize = sizeof(Elf64_Phdr);
	im->eh->e_phnum = pvh ? 2 : 1;
	im->ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD,
				  .p_offset = 0x1000,
				  .p_paddr = 16 * MiB,
				  .p_vaddr = 0xffffffff81000000ULL,
				  .p_filesz = 0x1000,
				  .p_memsz = 0x5000,
				  .p_align = 0x1000 };
	if (pvh) {
		im->ph[1] = (Elf64_Phdr){
			.p_type = PT_NOTE, .p_offset = 0x2000, .p_filesz = 20, .p_align = 4
		};
		add_pvh_note(im, 0x2000, 16 * MiB + 0x40);
	}
}

static int parse(struct image *im, size_t size, struct kernel_plan *p, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return kernel_parse(im->bytes, size, &ram, p, e);
}

static void expect_refusal(struct image *im, size_t size, const char *reason)
{
	struct kernel_plan p;
	struct err e;

	assert_int_equal(parse(im, size, &p, &e), -ENOEXEC);
	if (!strstr(e.msg, reason))
		fail_msg("message '%s' does not say '%s'", e.msg, reason);
}

static void test_pvh_kernel(void **state)
{
	struct image im;
	struct kernel_plan p;
	struct err e;

	(void)state;
	make_image(&im, true);
	assert_int_equal(parse(&im, IMG_SIZE, &p, &e), 0);
	assert_int_equal(p.protocol, BOOT_PVH);
	assert_int_equal(p.entry, 16 * MiB + 0x40);
	assert_int_equal(p.nr_segs, 1);
	assert_int_equal(p.segs[0].gpa, 16 * MiB);
	assert_int_equal(p.segs[0].file_size, 0x1000);
	assert_int_equal(p.segs[0].mem_size, 0x5000);
	assert_int_equal(p.reserved_end, 16 * MiB + 0x5000);
	assert_int_equal(p.cmdline_max, 2047);
}

static void test_plain_elf_uses_64bit_entry(void **state)
{
	struct image im;
	struct kernel_plan p;
	struct err e;

	(void)state;
	make_image(&im, false);
	assert_int_equal(parse(&im, IMG_SIZE, &p, &e), 0);
	assert_int_equal(p.protocol, BOOT_LINUX64);
	assert_int_equal(p.entry, 16 * MiB + 0x10);
}

static void test_truncated(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, true);
	expect_refusal(&im, 40, "truncated ELF header");
	expect_refusal(&im, sizeof(Elf64_Ehdr) + 10, "program headers lie beyond");
	expect_refusal(&im, 0x1800, "beyond the end of the file");
}

static void test_not_x86_64(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, false);
	im.eh->e_ident[EI_CLASS] = ELFCLASS32;
	expect_refusal(&im, IMG_SIZE, "64-bit");
	make_image(&im, false);
	im.eh->e_machine = EM_AARCH64;
	expect_refusal(&im, IMG_SIZE, "not for x86-64");
}

static void test_user_space_programs(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, false);
	im.eh->e_type = ET_DYN;
	expect_refusal(&im, IMG_SIZE, "user-space");
	make_image(&im, true);
	im.ph[1].p_type = PT_INTERP;
	expect_refusal(&im, IMG_SIZE, "program interpreter");
	make_image(&im, true);
	im.ph[1].p_type = PT_TLS;
	expect_refusal(&im, IMG_SIZE, "thread-local storage");
	make_image(&im, true);
	im.ph[1].p_type = PT_DYNAMIC;
	expect_refusal(&im, IMG_SIZE, "dynamic linking");
}

static void test_segment_placement(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, false);
	im.ph[0].p_paddr = 0x7000; /* over ember's boot_params */
	expect_refusal(&im, IMG_SIZE, "below 1 MiB");
	make_image(&im, false);
	im.ph[0].p_paddr = 128 * MiB - 0x1000; /* memsz runs past the end of RAM */
	expect_refusal(&im, IMG_SIZE, "does not fit in guest RAM");
	make_image(&im, false);
	im.ph[0].p_paddr = UINT64_MAX - 0x100;
	expect_refusal(&im, IMG_SIZE, "does not fit in guest RAM");
	make_image(&im, false);
	im.ph[0].p_filesz = 0x6000;
	expect_refusal(&im, IMG_SIZE, "larger in the file");
	make_image(&im, false);
	im.ph[0].p_offset = UINT64_MAX - 8;
	expect_refusal(&im, IMG_SIZE, "beyond the end of the file");
}

static void test_overlapping_segments(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, true);
	im.ph[1] = im.ph[0];
	im.ph[1].p_paddr += 0x4000;
	expect_refusal(&im, IMG_SIZE, "overlap");
}

static void test_bad_entry_points(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, false);
	im.eh->e_entry = 32 * MiB;
	expect_refusal(&im, IMG_SIZE, "outside the loaded image");
	make_image(&im, false);
	im.eh->e_entry = 16 * MiB + 0x2000; /* in the zeroed bss, not in the file */
	expect_refusal(&im, IMG_SIZE, "outside the loaded image");
	make_image(&im, true);
	add_pvh_note(&im, 0x2000, 0x500);
	expect_refusal(&im, IMG_SIZE, "PVH entry point 0x500");
}

static void test_malformed_notes(void **state)
{
	struct image im;
	Elf64_Nhdr nh = { .n_namesz = 0xffffffff, .n_descsz = 4, .n_type = 18 };

	(void)state;
	make_image(&im, true);
	memcpy(im.bytes + 0x2000, &nh, sizeof(nh));
	expect_refusal(&im, IMG_SIZE, "note runs past");
	make_image(&im, true);
	nh = (Elf64_Nhdr){ .n_namesz = 4, .n_descsz = 3, .n_type = 18 };
	memcpy(im.bytes + 0x2000, &nh, sizeof(nh));
	expect_refusal(&im, IMG_SIZE, "PVH entry note has 3 bytes");
	make_image(&im, true);
	im.ph[1].p_filesz = 0x10000;
	expect_refusal(&im, IMG_SIZE, "note segment beyond");
}

/* 8-byte aligned notes, as GNU property notes come: the PVH note after one. */
static void test_notes_aligned_to_8(void **state)
{
	struct image im;
	struct kernel_plan p;
	struct err e;
	Elf64_Nhdr gnu = { .n_namesz = 4, .n_descsz = 12, .n_type = 5 };
	Elf64_Nhdr xen = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	uint32_t entry = 16 * MiB + 0x80;

	(void)state;
	make_image(&im, true);
	memcpy(im.bytes + 0x2000, &gnu, 12);
	memcpy(im.bytes + 0x200c, "GNU", 4);
	/* desc at 0x2010 (12 bytes), next note at 0x2020 (aligned up from 0x201c) */
	memcpy(im.bytes + 0x2020, &xen, 12);
	memcpy(im.bytes + 0x202c, "Xen", 4);
	memcpy(im.bytes + 0x2030, &entry, 4);
	im.ph[1].p_filesz = 0x38;
	im.ph[1].p_align = 8;
	assert_int_equal(parse(&im, IMG_SIZE, &p, &e), 0);
	assert_int_equal(p.protocol, BOOT_PVH);
	assert_int_equal(p.entry, entry);
}

static void test_program_header_table(void **state)
{
	struct image im;

	(void)state;
	make_image(&im, false);
	im.eh->e_phnum = 0;
	expect_refusal(&im, IMG_SIZE, "program headers");
	make_image(&im, false);
	im.eh->e_phentsize = 32;
	expect_refusal(&im, IMG_SIZE, "program header size");
	make_image(&im, false);
	im.eh->e_phoff = UINT64_MAX - 16;
	expect_refusal(&im, IMG_SIZE, "beyond the end");
	make_image(&im, false);
	im.ph[0].p_type = PT_NULL;
	expect_refusal(&im, IMG_SIZE, "nothing to load");
}

static void test_not_a_kernel(void **state)
{
	struct image im;

	(void)state;
	memset(&im, 0, sizeof(im));
	memcpy(im.bytes, "#!/bin/sh\necho hi\n", 18);
	expect_refusal(&im, 18, "not a kernel image");
	expect_refusal(&im, 1, "not a kernel image");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pvh_kernel),
		cmocka_unit_test(test_plain_elf_uses_64bit_entry),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_not_x86_64),
		cmocka_unit_test(test_user_space_programs),
		cmocka_unit_test(test_segment_placement),
		cmocka_unit_test(test_overlapping_segments),
		cmocka_unit_test(test_bad_entry_points),
		cmocka_unit_test(test_malformed_notes),
		cmocka_unit_test(test_notes_aligned_to_8),

		cmocka_unit_test(test_program_header_table),
		cmocka_unit_test(test_not_a_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

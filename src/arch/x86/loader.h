/*
 * Kernel image parsers. They read a kernel file held in memory, validate
 * every field they use against the file size and the guest's RAM, and
 * return a plan: which file ranges go where, the entry point and protocol,
 * and the kernel's limits (command line length, highest initrd address).
 * Pure functions: no KVM, no guest memory; unit-tested and fuzzed.
 */
#ifndef EMBER_ARCH_X86_LOADER_H
#define EMBER_ARCH_X86_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/arch.h"
#include "arch/x86/bootproto.h"
#include "util/compiler.h"
#include "util/err.h"

#define LOADER_MAX_SEGMENTS    16
#define LOADER_MAX_KERNEL_SIZE (1ULL << 30) /* 1 GiB: no real kernel comes near */

/* Linux's COMMAND_LINE_SIZE on x86 is 2048 bytes with the NUL. */
#define LOADER_ELF_CMDLINE_MAX 2047

enum boot_protocol {
	BOOT_PVH,     /* 32-bit protected mode, EBX = hvm_start_info */
	BOOT_LINUX64, /* 64-bit long mode, RSI = boot_params */
};

struct load_segment {
	uint64_t file_offset;
	uint64_t file_size;
	uint64_t gpa;
	uint64_t mem_size; /* >= file_size; the rest is zeroed */
};

struct kernel_plan {
	const char *format; /* "ELF" or "bzImage" */
	enum boot_protocol protocol;
	uint64_t entry;
	struct load_segment segs[LOADER_MAX_SEGMENTS];
	unsigned int nr_segs;
	/* Guest memory the kernel occupies until it reads its memory map. */
	uint64_t reserved_start, reserved_end;
	uint64_t initrd_end_max; /* an initrd must end at or below this address */
	uint32_t cmdline_max;	 /* bytes, without the NUL */
	bool has_setup_header;
	struct setup_header hdr; /* bzImage: copied into boot_params */
};

struct guest_ram {
	const struct ram_region *regions;
	unsigned int count;
};

/* Tells the format from the first bytes and calls the matching parser. */
int kernel_parse(const uint8_t *data, size_t size, const struct guest_ram *ram,
		 struct kernel_plan *plan, struct err *err) __must_check;

int elf_parse(const uint8_t *data, size_t size, const struct guest_ram *ram,
	      struct kernel_plan *plan, struct err *err) __must_check;
int bzimage_parse(const uint8_t *data, size_t size, const struct guest_ram *ram,
		  struct kernel_plan *plan, struct err *err) __must_check;

/* True when [gpa, gpa + len) lies wholly inside one RAM region. */
bool guest_ram_contains(const struct guest_ram *ram, uint64_t gpa, uint64_t len);

/*
 * Checks that an initrd starts like something Linux unpacks: a cpio archive
 * or one of the compressed formats its initramfs code knows.
 */
bool initrd_magic_known(const uint8_t *head, size_t len);

#endif

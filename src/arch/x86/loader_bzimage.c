/* The Linux x86 boot protocol, Documentation/arch/x86/boot.rst (64-bit entry). */
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/loader.h"

#define BZIMAGE_MIN_VERSION 0x020c /* 2.12: xloadflags tells us of the 64-bit entry */
#define BZIMAGE_ENTRY64	    0x200  /* from the start of the protected-mode code */
#define BZIMAGE_LOAD_ADDR   LAYOUT_HIMEM

/* Copies the header, zeroing what lies past the end this kernel declares. */
static int bzimage_read_header(const uint8_t *data, size_t size, struct setup_header *hdr,
			       struct err *err)
{
	size_t hdr_end, len;

	if (size < SETUP_HEADER_OFFSET + sizeof(*hdr))
		return err_set(err, -ENOEXEC, "bzImage is truncated inside its setup header");
	memset(hdr, 0, sizeof(*hdr));
	/* The byte at 0x201 is the jump's offset, so 0x202 + it is the header's end. */
	hdr_end = 0x202 + data[0x201];
	len = MIN(sizeof(*hdr), hdr_end - SETUP_HEADER_OFFSET);
	memcpy(hdr, data + SETUP_HEADER_OFFSET, len);
	if (hdr->boot_flag != BOOT_FLAG_MAGIC || hdr->header != SETUP_HDRS_MAGIC)
		return err_set(err, -ENOEXEC, "not a bzImage (no HdrS setup header)");
	if (hdr->version < BZIMAGE_MIN_VERSION)
		return err_set(err, -ENOEXEC,
			       "bzImage boot protocol %u.%02u is too old (2.12 or later needed)",
			       hdr->version >> 8, hdr->version & 0xff);
	if (hdr_end < SETUP_OFF(handover_offset))
		return err_set(err, -ENOEXEC, "bzImage setup header is too short for its version");
	return 0;
}

static int bzimage_check_flags(const struct setup_header *hdr, struct err *err)
{
	if (!(hdr->loadflags & LOADFLAG_LOADED_HIGH))
		return err_set(err, -ENOEXEC, "zImage (loaded below 1 MiB) is not supported");
	if (!(hdr->xloadflags & XLF_KERNEL_64))
		return err_set(err, -ENOEXEC, "bzImage has no 64-bit entry point");
	if (hdr->relocatable_kernel &&
	    (hdr->kernel_alignment == 0 || (hdr->kernel_alignment & (hdr->kernel_alignment - 1))))
		return err_set(err, -ENOEXEC, "bzImage kernel_alignment 0x%x is not a power of two",
			       hdr->kernel_alignment);
	if (hdr->init_size == 0)
		return err_set(err, -ENOEXEC, "bzImage declares no init_size");
	return 0;
}

/*
 * Where the kernel decompresses itself: a relocatable kernel goes to the load
 * address rounded up to its alignment but never below its preferred address
 * (arch/x86/boot/compressed/head_64.S); the others to the preferred address.
 */
static uint64_t bzimage_runtime_start(const struct setup_header *hdr)
{
	if (!hdr->relocatable_kernel)
		return hdr->pref_address;
	return MAX(ALIGN_UP(BZIMAGE_LOAD_ADDR, (uint64_t)hdr->kernel_alignment), hdr->pref_address);
}

static int bzimage_plan(const uint8_t *data, size_t size, const struct setup_header *hdr,
			const struct guest_ram *ram, struct kernel_plan *p, struct err *err)
{
	uint64_t setup_size = ((uint64_t)(hdr->setup_sects ? hdr->setup_sects : 4) + 1) * 512;
	uint64_t payload, run;

	(void)data;
	if (setup_size >= size)
		return err_set(err, -ENOEXEC,
			       "bzImage is truncated: no kernel after the setup code");
	payload = size - setup_size;
	if ((uint64_t)hdr->syssize * 16 > ALIGN_UP(payload, 16))
		return err_set(err, -ENOEXEC,
			       "bzImage is truncated: header says %llu bytes of kernel, file has "
			       "%llu",
			       (unsigned long long)hdr->syssize * 16, (unsigned long long)payload);
	if (payload <= BZIMAGE_ENTRY64)
		return err_set(err, -ENOEXEC,
			       "bzImage kernel is too small to hold its entry point");
	if (!guest_ram_contains(ram, BZIMAGE_LOAD_ADDR, payload))
		return err_set(err, -ENOEXEC, "bzImage (%llu bytes) does not fit in guest RAM",
			       (unsigned long long)payload);
	run = bzimage_runtime_start(hdr);
	if (run < LAYOUT_HIMEM || !guest_ram_contains(ram, run, hdr->init_size))
		return err_set(err, -ENOEXEC,
			       "bzImage needs %u bytes of RAM at 0x%llx to decompress: raise "
			       "--memory",
			       hdr->init_size, (unsigned long long)run);
	p->segs[0] = (struct load_segment){ .file_offset = setup_size,
					    .file_size = payload,
					    .gpa = BZIMAGE_LOAD_ADDR,
					    .mem_size = payload };
	p->nr_segs = 1;
	p->entry = BZIMAGE_LOAD_ADDR + BZIMAGE_ENTRY64;
	p->reserved_start = MIN(BZIMAGE_LOAD_ADDR, run);
	p->reserved_end = MAX(BZIMAGE_LOAD_ADDR + payload, run + hdr->init_size);
	return 0;
}

int bzimage_parse(const uint8_t *data, size_t size, const struct guest_ram *ram,
		  struct kernel_plan *p, struct err *err)
{
	int ret;

	memset(p, 0, sizeof(*p));
	p->format = "bzImage";
	ret = bzimage_read_header(data, size, &p->hdr, err);
	if (ret < 0)
		return ret;
	ret = bzimage_check_flags(&p->hdr, err);
	if (ret < 0)
		return ret;
	ret = bzimage_plan(data, size, &p->hdr, ram, p, err);
	if (ret < 0)
		return ret;
	p->protocol = BOOT_LINUX64;
	p->has_setup_header = true;
	p->cmdline_max = p->hdr.cmdline_size;
	/* initrd_addr_max is the highest address the initrd's last byte may have. */
	p->initrd_end_max = (uint64_t)p->hdr.initrd_addr_max + 1;
	return 0;
}

int kernel_parse(const uint8_t *data, size_t size, const struct guest_ram *ram,
		 struct kernel_plan *plan, struct err *err)
{
	if (size >= 4 && memcmp(data, "\177ELF", 4) == 0)
		return elf_parse(data, size, ram, plan, err);
	if (size >= SETUP_OFF(header) + 4 && memcmp(data + SETUP_OFF(header), "HdrS", 4) == 0)
		return bzimage_parse(data, size, ram, plan, err);
	return err_set(err, -ENOEXEC, "not a kernel image: neither an ELF vmlinux nor a bzImage");
}

/* First bytes of what init/initramfs.c and lib/decompress.c accept. */
static const struct {
	const char *magic;
	size_t len;
} initrd_magics[] = {
	{ "070701", 6 },       /* cpio newc */
	{ "070702", 6 },       /* cpio newc with CRC */
	{ "\x1f\x8b", 2 },     /* gzip */
	{ "\x1f\x9e", 2 },     /* old gzip */
	{ "BZh", 3 },	       /* bzip2 */
	{ "\x5d\x00\x00", 3 }, /* lzma */
	{ "\xfd"
	  "7zXZ\x00",
	  6 },			   /* xz */
	{ "\x89LZO\x00", 5 },	   /* lzop */
	{ "\x02\x21\x4c\x18", 4 }, /* lz4 legacy */
	{ "\x28\xb5\x2f\xfd", 4 }, /* zstd */
};

bool initrd_magic_known(const uint8_t *head, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(initrd_magics); i++)
		if (len >= initrd_magics[i].len &&
		    memcmp(head, initrd_magics[i].magic, initrd_magics[i].len) == 0)
			return true;
	return false;
}

/*
 * From the boot protocol's structures to struct boot_info. The VMM's
 * structures live in low memory the guest later reuses (the AP trampoline),
 * so everything is copied into the guest's own .bss first.
 */
#include "guest.h"

/* xen/include/public/arch-x86/hvm/start_info.h */
#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr; /* version 1 and later */
	uint32_t memmap_entries;
	uint32_t reserved;
};

struct hvm_modlist_entry {
	uint64_t paddr;
	uint64_t size;
	uint64_t cmdline_paddr;
	uint64_t reserved;
};

struct hvm_memmap_table_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
	uint32_t reserved;
};

/* Offsets in struct boot_params, Documentation/arch/x86/zero-page.rst. */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK	  0x0c0 /* image, then size */
#define BP_EXT_CMD_LINE	  0x0c8
#define BP_RAMDISK	  0x218 /* image, then size */
#define BP_E820_ENTRIES	  0x1e8
#define BP_CMD_LINE_PTR	  0x228
#define BP_E820_TABLE	  0x2d0
#define BP_E820_ENTRY_LEN 20 /* packed {u64 addr, u64 size, u32 type} */

static struct boot_info info __noinit;

/* info is not zeroed at boot: this is everything that must start empty. */
static void info_init(const char *protocol)
{
	info.protocol = protocol;
	info.error = NULL;
	info.cmdline[0] = '\0';
	info.nr_mem = 0;
	info.rsdp = 0;
	info.initrd_addr = 0;
	info.initrd_size = 0;
}

static void copy_cmdline(uint64_t addr)
{
	const char *s = (const char *)(uintptr_t)addr;
	size_t n = 0;

	if (addr == 0 || addr >= 0x100000000ULL)
		return;
	while (n < CMDLINE_SIZE - 1 && s[n])
		n++;
	memcpy(info.cmdline, s, n);
	info.cmdline[n] = '\0';
}

void boot_from_pvh(uint32_t start_info);
void boot_from_pvh(uint32_t start_info)
{
	const struct hvm_start_info *si = (const void *)(uintptr_t)start_info;

	info_init("pvh");
	if (si->magic != HVM_START_MAGIC) {
		info.error = "hvm_start_info has a bad magic number";
		guest_main(&info);
	}
	copy_cmdline(si->cmdline_paddr);
	info.rsdp = si->rsdp_paddr;
	if (si->nr_modules && si->modlist_paddr && si->modlist_paddr < 0x100000000ULL) {
		const struct hvm_modlist_entry *m = (const void *)(uintptr_t)si->modlist_paddr;

		info.initrd_addr = m->paddr;
		info.initrd_size = m->size;
	}
	if (si->version >= 1 && si->memmap_paddr && si->memmap_paddr < 0x100000000ULL) {
		const struct hvm_memmap_table_entry *e = (const void *)(uintptr_t)si->memmap_paddr;

		for (uint32_t i = 0; i < si->memmap_entries && i < MAX_MEM_RANGES; i++)
			info.mem[info.nr_mem++] =
				(struct mem_range){ e[i].addr, e[i].size, e[i].type };
	}
	guest_main(&info);
}

/* A 64-bit value kept as a low half in the header and a high half elsewhere. */
static uint64_t read_split32(const uint8_t *lo, const uint8_t *hi)
{
	uint32_t l, h;

	memcpy(&l, lo, 4);
	memcpy(&h, hi, 4);
	return ((uint64_t)h << 32) | l;
}

void boot_from_bootparams(uint64_t boot_params);
void boot_from_bootparams(uint64_t boot_params)
{
	const uint8_t *bp = (const uint8_t *)(uintptr_t)boot_params;
	uint32_t cmd_lo, cmd_hi;
	uint8_t n = bp[BP_E820_ENTRIES];

	info_init("bootparams");
	memcpy(&cmd_lo, bp + BP_CMD_LINE_PTR, 4);
	memcpy(&cmd_hi, bp + BP_EXT_CMD_LINE, 4);
	copy_cmdline(((uint64_t)cmd_hi << 32) | cmd_lo);
	memcpy(&info.rsdp, bp + BP_ACPI_RSDP_ADDR, 8);
	info.initrd_addr = read_split32(bp + BP_RAMDISK, bp + BP_EXT_RAMDISK);
	info.initrd_size = read_split32(bp + BP_RAMDISK + 4, bp + BP_EXT_RAMDISK + 4);
	for (unsigned int i = 0; i < n && i < MAX_MEM_RANGES; i++) {
		const uint8_t *e = bp + BP_E820_TABLE + i * BP_E820_ENTRY_LEN;
		struct mem_range *m = &info.mem[info.nr_mem++];

		memcpy(&m->addr, e, 8);
		memcpy(&m->size, e + 8, 8);
		memcpy(&m->type, e + 16, 4);
	}
	guest_main(&info);
}

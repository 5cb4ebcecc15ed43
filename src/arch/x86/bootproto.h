/*
 * The structures a kernel reads at entry: Linux's boot_params ("zero page")
 * and setup header (Documentation/arch/x86/boot.rst and zero-page.rst), and
 * Xen's PVH hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h).
 * Offsets are checked at compile time against the documents.
 */
#ifndef EMBER_ARCH_X86_BOOTPROTO_H
#define EMBER_ARCH_X86_BOOTPROTO_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define SETUP_HEADER_OFFSET 0x1f1
#define BOOT_FLAG_MAGIC	    0xaa55
#define SETUP_HDRS_MAGIC    0x53726448 /* "HdrS" */

#define LOADFLAG_LOADED_HIGH	   0x01
#define XLF_KERNEL_64		   0x01
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02
#define LOADER_TYPE_UNDEFINED	   0xff

struct __packed setup_header {
	uint8_t setup_sects;		/* 0x1f1 */
	uint16_t root_flags;		/* 0x1f2 */
	uint32_t syssize;		/* 0x1f4 */
	uint16_t ram_size;		/* 0x1f8 */
	uint16_t vid_mode;		/* 0x1fa */
	uint16_t root_dev;		/* 0x1fc */
	uint16_t boot_flag;		/* 0x1fe */
	uint16_t jump;			/* 0x200 */
	uint32_t header;		/* 0x202 */
	uint16_t version;		/* 0x206 */
	uint32_t realmode_swtch;	/* 0x208 */
	uint16_t start_sys_seg;		/* 0x20c */
	uint16_t kernel_version;	/* 0x20e */
	uint8_t type_of_loader;		/* 0x210 */
	uint8_t loadflags;		/* 0x211 */
	uint16_t setup_move_size;	/* 0x212 */
	uint32_t code32_start;		/* 0x214 */
	uint32_t ramdisk_image;		/* 0x218 */
	uint32_t ramdisk_size;		/* 0x21c */
	uint32_t bootsect_kludge;	/* 0x220 */
	uint16_t heap_end_ptr;		/* 0x224 */
	uint8_t ext_loader_ver;		/* 0x226 */
	uint8_t ext_loader_type;	/* 0x227 */
	uint32_t cmd_line_ptr;		/* 0x228 */
	uint32_t initrd_addr_max;	/* 0x22c */
	uint32_t kernel_alignment;	/* 0x230 */
	uint8_t relocatable_kernel;	/* 0x234 */
	uint8_t min_alignment;		/* 0x235 */
	uint16_t xloadflags;		/* 0x236 */
	uint32_t cmdline_size;		/* 0x238 */
	uint32_t hardware_subarch;	/* 0x23c */
	uint64_t hardware_subarch_data; /* 0x240 */
	uint32_t payload_offset;	/* 0x248 */
	uint32_t payload_length;	/* 0x24c */
	uint64_t setup_data;		/* 0x250 */
	uint64_t pref_address;		/* 0x258 */
	uint32_t init_size;		/* 0x260 */
	uint32_t handover_offset;	/* 0x264 */
	uint32_t kernel_info_offset;	/* 0x268 */
};

#define SETUP_OFF(field) (SETUP_HEADER_OFFSET + offsetof(struct setup_header, field))
_Static_assert(SETUP_OFF(boot_flag) == 0x1fe, "boot_flag");
_Static_assert(SETUP_OFF(header) == 0x202, "header");
_Static_assert(SETUP_OFF(cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(SETUP_OFF(xloadflags) == 0x236, "xloadflags");
_Static_assert(SETUP_OFF(pref_address) == 0x258, "pref_address");
_Static_assert(SETUP_OFF(init_size) == 0x260, "init_size");

struct __packed boot_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define BOOT_E820_MAX 128

struct __packed boot_params {
	uint8_t pad0[0x070];
	uint64_t acpi_rsdp_addr; /* 0x070 */
	uint8_t pad1[0x0c0 - 0x078];
	uint32_t ext_ramdisk_image; /* 0x0c0 */
	uint32_t ext_ramdisk_size;  /* 0x0c4 */
	uint32_t ext_cmd_line_ptr;  /* 0x0c8 */
	uint8_t pad2[0x1e8 - 0x0cc];
	uint8_t e820_entries; /* 0x1e8 */
	uint8_t pad3[SETUP_HEADER_OFFSET - 0x1e9];
	struct setup_header hdr; /* 0x1f1 */
	uint8_t pad4[0x2d0 - SETUP_HEADER_OFFSET - sizeof(struct setup_header)];
	struct boot_e820_entry e820_table[BOOT_E820_MAX]; /* 0x2d0 */
	uint8_t pad5[0x1000 - 0xcd0];
};
_Static_assert(sizeof(struct boot_params) == 4096, "boot_params is one page");
_Static_assert(offsetof(struct boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(offsetof(struct boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk");

#define HVM_START_MAGIC 0x336ec578

struct hvm_start_info {
	uint32_t magic;
	uint32_t version;
	uint32_t flags;
	uint32_t nr_modules;
	uint64_t modlist_paddr;
	uint64_t cmdline_paddr;
	uint64_t rsdp_paddr;
	uint64_t memmap_paddr;
	uint32_t memmap_entries;
	uint32_t reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");

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

#endif

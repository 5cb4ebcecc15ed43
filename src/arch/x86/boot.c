/*
 * Putting a guest into RAM: kernel and initrd, command line, memory map,
 * ACPI and MP tables, the entry protocol's structure (PVH start info or
 * Linux boot_params), and the boot vCPU's registers.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86/acpi.h"
#include "arch/x86/bootproto.h"
#include "arch/x86/cpu.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/loader.h"
#include "arch/x86/machine.h"
#include "arch/x86/mptable.h"
#include "config/cmdline.h"
#include "config/vm_config.h"
#include "devices/acpi_pm.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "util/file.h"

struct boot_state {
	struct kernel_plan plan;
	size_t cmdline_len;
	uint64_t initrd_gpa, initrd_size;
	struct e820_entry e820[E820_MAX_ENTRIES];
	unsigned int e820_count;
};

static int boot_copy_segments(struct vm *vm, const struct kernel_plan *p,
			      const struct file_view *kf, struct err *err)
{
	for (unsigned int i = 0; i < p->nr_segs; i++) {
		const struct load_segment *s = &p->segs[i];
		uint8_t *dst = gmem_ptr(&vm->gmem, s->gpa, s->mem_size);

		/* The parser checked both ranges; this is the one checked translation. */
		if (!dst)
			return err_set(err, -EFAULT, "kernel segment %u does not fit in guest RAM",
				       i);
		memcpy(dst, kf->data + s->file_offset, s->file_size);
		memset(dst + s->file_size, 0, s->mem_size - s->file_size);
	}
	return 0;
}

static int boot_load_kernel(struct vm *vm, const struct vm_config *cfg, struct boot_state *b,
			    struct err *err)
{
	struct ram_region regions[ARCH_MAX_RAM_REGIONS];
	struct guest_ram ram = { regions, arch_ram_regions(vm->ram_size, regions) };
	struct file_view kf;
	int ret;

	ret = file_view_load(&kf, cfg->kernel_path, "kernel", LOADER_MAX_KERNEL_SIZE, err);
	if (ret < 0)
		return ret;
	ret = kernel_parse(kf.data, kf.size, &ram, &b->plan, err);
	if (ret < 0)
		err_prefix(err, "kernel '%s': ", cfg->kernel_path);
	else
		ret = boot_copy_segments(vm, &b->plan, &kf, err);
	file_view_release(&kf);
	return ret;
}

static int boot_write_cmdline(struct vm *vm, const struct vm_config *cfg, struct boot_state *b,
			      struct err *err)
{
	struct cmdline cl;
	int ret;

	cmdline_init(&cl);
	ret = cmdline_append(&cl, cfg->cmdline ? cfg->cmdline : "");
	if (ret == 0)
		ret = virtio_devices_cmdline(&((struct x86_machine *)vm->machine)->virtio, &cl);
	if (ret == -EINVAL)
		ret = err_set(err, ret, "--cmdline contains control characters");
	else if (ret == 0 && (cl.len > b->plan.cmdline_max || cl.len >= LAYOUT_CMDLINE_MAX))
		ret = err_set(err, -E2BIG,
			      "kernel command line is %zu bytes; this kernel accepts at most %u",
			      cl.len, MIN(b->plan.cmdline_max, LAYOUT_CMDLINE_MAX - 1));
	else if (ret == 0)
		ret = gmem_write(&vm->gmem, LAYOUT_CMDLINE, cmdline_str(&cl), cl.len + 1);
	b->cmdline_len = cl.len;
	cmdline_fini(&cl);
	return ret;
}

/* The initrd goes as high as the kernel allows in low RAM, page aligned. */
static int boot_place_initrd(struct vm *vm, struct boot_state *b, uint64_t size, struct err *err)
{
	uint64_t top =
		ALIGN_DOWN(MIN(e820_low_ram_end(vm->ram_size), b->plan.initrd_end_max), 4096);
	uint64_t floor = ALIGN_UP(b->plan.reserved_end, 4096);

	if (top < floor || size > top - floor)
		return err_set(err, -ENOSPC,
			       "initrd (%llu bytes) does not fit in guest RAM between the kernel "
			       "(ends at 0x%llx) and 0x%llx: raise --memory",
			       (unsigned long long)size, (unsigned long long)floor,
			       (unsigned long long)top);
	b->initrd_gpa = ALIGN_DOWN(top - size, 4096);
	b->initrd_size = size;
	return 0;
}

static int boot_load_initrd(struct vm *vm, const char *path, struct boot_state *b, struct err *err)
{
	uint8_t head[8] = { 0 };
	uint64_t size;
	int fd, ret;

	fd = file_open_regular(path, "initrd", &size, err);
	if (fd < 0)
		return fd;
	ret = file_read_exact(fd, head, MIN(size, sizeof(head)), 0, "initrd", err);
	if (ret == 0 && !initrd_magic_known(head, MIN(size, sizeof(head))))
		ret = err_set(err, -EINVAL,
			      "initrd '%s' is neither a cpio archive nor a compressed image Linux "
			      "can unpack",
			      path);
	if (ret == 0)
		ret = boot_place_initrd(vm, b, size, err);
	if (ret == 0) {
		void *dst = gmem_ptr(&vm->gmem, b->initrd_gpa, size);

		ret = dst ? file_read_exact(fd, dst, size, 0, "initrd", err)
			  : err_set(err, -EFAULT, "initrd placement outside guest RAM");
	}
	close(fd);
	return ret;
}

static int boot_write_tables(struct vm *vm, unsigned int nr_cpus, struct err *err)
{
	const struct virtio_devices *devs = &((struct x86_machine *)vm->machine)->virtio;
	struct acpi_virtio virtio[ACPI_MAX_VIRTIO];
	struct acpi_config ac = {
		.nr_cpus = nr_cpus,
		.ioapic_id = (uint8_t)nr_cpus,
		.pm_port = PORT_ACPI_PM,
		.virtio = virtio,
		.nr_virtio = MIN(devs->count, ACPI_MAX_VIRTIO),
	};

	uint8_t *acpi = gmem_ptr(&vm->gmem, LAYOUT_ACPI, LAYOUT_ACPI_SIZE);
	uint8_t *mp = gmem_ptr(&vm->gmem, LAYOUT_MPTABLE, LAYOUT_MPTABLE_SIZE);

	for (unsigned int i = 0; i < ac.nr_virtio; i++)
		virtio[i] = (struct acpi_virtio){ .base = (uint32_t)devs->slots[i].base,
						  .gsi = devs->slots[i].gsi };

	if (!acpi || !mp)
		return err_set(err, -EFAULT, "guest RAM too small for firmware tables");
	if (acpi_build(&ac, acpi, LAYOUT_ACPI_SIZE, LAYOUT_ACPI) < 0)
		return err_set(err, -ENOSPC, "ACPI tables do not fit their area");
	if (mptable_build(nr_cpus, (uint8_t)nr_cpus, mp, LAYOUT_MPTABLE_SIZE, LAYOUT_MPTABLE) < 0)
		return err_set(err, -ENOSPC, "MP table does not fit its area");
	return 0;
}

static int boot_setup_pvh(struct vm *vm, const struct boot_state *b, struct err *err)
{
	struct hvm_start_info *si = gmem_ptr(&vm->gmem, LAYOUT_PVH_INFO, sizeof(*si));
	struct hvm_modlist_entry *mod = gmem_ptr(&vm->gmem, LAYOUT_PVH_MODLIST, sizeof(*mod));
	struct hvm_memmap_table_entry *mm =
		gmem_ptr(&vm->gmem, LAYOUT_PVH_MEMMAP, E820_MAX_ENTRIES * sizeof(*mm));

	if (!si || !mod || !mm)
		return err_set(err, -EFAULT, "guest RAM too small for the PVH start info");
	*si = (struct hvm_start_info){
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = LAYOUT_CMDLINE,
		.rsdp_paddr = LAYOUT_ACPI,
		.memmap_paddr = LAYOUT_PVH_MEMMAP,
		.memmap_entries = b->e820_count,
	};
	for (unsigned int i = 0; i < b->e820_count; i++)
		mm[i] = (struct hvm_memmap_table_entry){ b->e820[i].addr, b->e820[i].size,
							 b->e820[i].type, 0 };
	if (b->initrd_size) {
		/* The initrd is module 0, as Linux's PVH entry expects. */
		*mod = (struct hvm_modlist_entry){ .paddr = b->initrd_gpa, .size = b->initrd_size };
		si->nr_modules = 1;
		si->modlist_paddr = LAYOUT_PVH_MODLIST;
	}
	return cpu_setup_pvh(vm->vcpus[0], (uint32_t)b->plan.entry, LAYOUT_PVH_INFO, err);
}

static void boot_fill_header(struct boot_params *bp, const struct boot_state *b)
{
	if (b->plan.has_setup_header) {
		bp->hdr = b->plan.hdr;
	} else {
		/* A vmlinux has no header: write the fields a kernel checks. */
		bp->hdr.boot_flag = BOOT_FLAG_MAGIC;
		bp->hdr.header = SETUP_HDRS_MAGIC;
		bp->hdr.kernel_alignment = 0x1000000;
		bp->hdr.cmdline_size = (uint32_t)b->cmdline_len;
	}
	bp->hdr.type_of_loader = LOADER_TYPE_UNDEFINED;
	bp->hdr.cmd_line_ptr = LAYOUT_CMDLINE;
	bp->hdr.ramdisk_image = (uint32_t)b->initrd_gpa;
	bp->hdr.ramdisk_size = (uint32_t)b->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(b->initrd_gpa >> 32);
	bp->ext_ramdisk_size = (uint32_t)(b->initrd_size >> 32);
}

static int boot_setup_linux64(struct vm *vm, const struct boot_state *b, struct err *err)
{
	struct boot_params *bp = gmem_ptr(&vm->gmem, LAYOUT_BOOT_PARAMS, sizeof(*bp));

	if (!bp)
		return err_set(err, -EFAULT, "guest RAM too small for boot_params");
	memset(bp, 0, sizeof(*bp));
	boot_fill_header(bp, b);
	bp->acpi_rsdp_addr = LAYOUT_ACPI;
	bp->e820_entries = (uint8_t)b->e820_count;
	for (unsigned int i = 0; i < b->e820_count; i++)
		bp->e820_table[i] = (struct boot_e820_entry){ b->e820[i].addr, b->e820[i].size,
							      b->e820[i].type };
	return cpu_setup_linux64(vm->vcpus[0], b->plan.entry, LAYOUT_BOOT_PARAMS, err);
}

int arch_load_guest(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct boot_state b;
	int ret;

	memset(&b, 0, sizeof(b));
	ret = boot_load_kernel(vm, cfg, &b, err);
	if (ret == 0)
		ret = boot_write_cmdline(vm, cfg, &b, err);
	if (ret == 0 && cfg->initrd_path)
		ret = boot_load_initrd(vm, cfg->initrd_path, &b, err);
	if (ret == 0)
		ret = boot_write_tables(vm, cfg->cpus, err);
	if (ret < 0)
		return ret;
	b.e820_count = e820_build(vm->ram_size, b.e820);
	if (b.plan.protocol == BOOT_PVH)
		return boot_setup_pvh(vm, &b, err);
	return boot_setup_linux64(vm, &b, err);
}

/*
 * The floor: the least a VMM can do to run the test guest. One vCPU, guest
 * RAM, the PVH entry, and a KVM_RUN loop that serves only the serial port
 * (writes go to stdout, the line status register says "ready"). No
 * interrupt controller, no tables, no threads. It is the benchmark's lower
 * bound for start-up time, exit round-trip time and memory; it trusts its
 * input and is not part of ember.
 *
 * Usage: floor GUEST.ELF "CMDLINE" [MEMORY_MIB]
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define START_INFO 0x1000
#define MEMMAP	   0x1100
#define CMDLINE	   0x2000
#define GDT	   0x500

static uint8_t *ram;
static uint64_t ram_size;

static void die(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *what)
{
	int ret = ioctl(fd, req, arg);

	if (ret < 0)
		die(what);
	return ret;
}

/* Loads PT_LOAD segments by physical address; returns the PVH entry. */
static uint32_t load_elf(const char *path)
{
	struct stat st;
	uint8_t *f;
	int fd = open(path, O_RDONLY);
	uint32_t entry = 0;

	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	f = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die("mmap kernel");
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f;
	for (int i = 0; i < eh->e_phnum; i++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(f + eh->e_phoff) + i;

		if (ph->p_type == PT_LOAD) {
			memcpy(ram + ph->p_paddr, f + ph->p_offset, ph->p_filesz);
		} else if (ph->p_type == PT_NOTE) {
			for (uint64_t o = ph->p_offset; o < ph->p_offset + ph->p_filesz;) {
				const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(f + o);
				uint64_t desc = o + 12 + ((nh->n_namesz + 3) & ~3u);

				if (nh->n_type == 18 && !memcmp(f + o + 12, "Xen", 4))
					memcpy(&entry, f + desc, 4);
				o = desc + ((nh->n_descsz + 3) & ~3u);
			}
		}
	}
	munmap(f, st.st_size);
	close(fd);
	if (!entry) {
		fprintf(stderr, "floor: no PVH entry note\n");
		exit(1);
	}
	return entry;
}

static void write_start_info(const char *cmdline)
{
	uint32_t *si = (uint32_t *)(ram + START_INFO);
	uint64_t *mm = (uint64_t *)(ram + MEMMAP);

	strcpy((char *)ram + CMDLINE, cmdline);
	si[0] = 0x336ec578; /* magic */
	si[1] = 1;	    /* version */
	*(uint64_t *)(ram + START_INFO + 24) = CMDLINE;
	*(uint64_t *)(ram + START_INFO + 40) = MEMMAP;
	si[12] = 2; /* memmap entries */
	mm[0] = 0;
	mm[1] = 0x9fc00;
	mm[2] = 1;
	mm[3] = 0x100000;
	mm[4] = ram_size - 0x100000;
	mm[5] = 1;
}

static void setup_vcpu(int kvm, int vcpu, uint32_t entry)
{
	struct kvm_segment code = { .limit = 0xffffffff,
				    .selector = 0x10,
				    .type = 11,
				    .present = 1,
				    .db = 1,
				    .s = 1,
				    .g = 1 };
	struct kvm_segment data = code;
	struct kvm_segment tr = { .limit = 0x67, .selector = 0x20, .type = 11, .present = 1 };
	struct kvm_regs regs = { .rip = entry, .rbx = START_INFO, .rflags = 2 };
	struct kvm_sregs sregs;
	/* struct kvm_cpuid2 ends in a flexible array: room for 256 entries after it. */
	union {
		struct kvm_cpuid2 c;
		uint8_t bytes[sizeof(struct kvm_cpuid2) + 256 * sizeof(struct kvm_cpuid_entry2)];
	} cpuid = { .c.nent = 256 };

	xioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
	xioctl(vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");
	xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	data.type = 3;
	data.selector = 0x18;
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr = tr;
	sregs.gdt.base = GDT;
	sregs.gdt.limit = 0x27;
	sregs.cr0 = 0x11; /* PE | ET */
	xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");
}

static int handle_io(struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.direction == KVM_EXIT_IO_OUT) {
		if (run->io.port == 0x3f8 && write(STDOUT_FILENO, data, 1) < 0)
			return -1;
		if (run->io.port == 0x64 && data[0] == 0xfe)
			return 1; /* reset: done */
	} else {
		memset(data, run->io.port == 0x3fd ? 0x60 : 0xff, run->io.size);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int kvm, vm, vcpu, ret;
	struct kvm_userspace_memory_region mr = { 0 };
	struct kvm_run *run;

	if (argc < 3) {
		fprintf(stderr, "usage: floor GUEST.ELF CMDLINE [MEMORY_MIB]\n");
		return 2;
	}
	ram_size = (argc > 3 ? strtoull(argv[3], NULL, 10) : 128) << 20;
	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	xioctl(vm, KVM_SET_TSS_ADDR, (void *)0xfffbd000, "KVM_SET_TSS_ADDR");
	ram = mmap(NULL, ram_size, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (ram == MAP_FAILED)
		die("mmap RAM");
	mr.memory_size = ram_size;
	mr.userspace_addr = (uintptr_t)ram;
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr, "KVM_SET_USER_MEMORY_REGION");
	write_start_info(argv[2]);
	vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	setup_vcpu(kvm, vcpu, load_elf(argv[1]));
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0 && errno != EINTR)
			die("KVM_RUN");
		if (run->exit_reason == KVM_EXIT_IO) {
			ret = handle_io(run);
			if (ret)
				return ret < 0;
		} else if (run->exit_reason == KVM_EXIT_HLT) {
			pause(); /* idle guest: wait to be measured and killed */
		} else if (run->exit_reason != KVM_EXIT_MMIO) {
			fprintf(stderr, "floor: exit reason %u\n", run->exit_reason);
			return 1;
		}
	}
}

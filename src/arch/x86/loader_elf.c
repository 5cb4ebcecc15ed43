/* ELF64 per the System V gABI; the PVH note per Xen's elfnote.h. */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/loader.h"

#define ELF_MAX_PHDRS		 64
#define XEN_ELFNOTE_PHYS32_ENTRY 18

bool guest_ram_contains(const struct guest_ram *ram, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < ram->count; i++) {
		const struct ram_region *r = &ram->regions[i];

		if (gpa >= r->gpa && gpa - r->gpa <= r->size && len <= r->size - (gpa - r->gpa))
			return true;
	}
	return false;
}

static bool file_range_ok(size_t size, uint64_t off, uint64_t len)
{
	return off <= size && len <= size - off;
}

static int elf_check_ehdr(const Elf64_Ehdr *eh, size_t size, struct err *err)
{
	if (eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(err, -ENOEXEC, "ELF class %u: only 64-bit x86 kernels are supported",
			       eh->e_ident[EI_CLASS]);
	if (eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
		return err_set(err, -ENOEXEC, "ELF is not for x86-64 (machine %u)", eh->e_machine);
	if (eh->e_ident[EI_VERSION] != EV_CURRENT || eh->e_version != EV_CURRENT)
		return err_set(err, -ENOEXEC, "ELF version %u is unknown", eh->e_version);
	if (eh->e_type == ET_DYN)
		return err_set(err, -ENOEXEC,
			       "ELF is position-independent (ET_DYN): a user-space program or "
			       "library, not a kernel");
	if (eh->e_type != ET_EXEC)
		return err_set(err, -ENOEXEC, "ELF type %u is not an executable", eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return err_set(err, -ENOEXEC, "ELF program header size %u is wrong",
			       eh->e_phentsize);
	if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS)
		return err_set(err, -ENOEXEC, "ELF has %u program headers (1 to %u expected)",
			       eh->e_phnum, ELF_MAX_PHDRS);
	if (!file_range_ok(size, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr)))
		return err_set(err, -ENOEXEC, "ELF program headers lie beyond the end of the file");
	return 0;
}

/* Reads a PVH entry from one note segment; *entry stays 0 when there is none. */
static int elf_scan_notes(const uint8_t *data, const Elf64_Phdr *ph, uint64_t *entry,
			  struct err *err)
{
	uint64_t align = ph->p_align == 8 ? 8 : 4;
	uint64_t off = ph->p_offset, end = ph->p_offset + ph->p_filesz;

	while (end - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_off, desc_off, next;

		memcpy(&nh, data + off, sizeof(nh));
		/* The gABI pads header+name and then desc to the segment's alignment. */
		name_off = off + sizeof(nh);
		desc_off = off + ALIGN_UP(sizeof(nh) + (uint64_t)nh.n_namesz, align);
		next = off + ALIGN_UP(desc_off - off + nh.n_descsz, align);

		if (next > end || desc_off + nh.n_descsz > end)
			return err_set(err, -ENOEXEC, "ELF note runs past its segment");
		if (nh.n_namesz == 4 && memcmp(data + name_off, "Xen", 4) == 0 &&
		    nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t v = 0;

			if (nh.n_descsz != 4 && nh.n_descsz != 8)
				return err_set(err, -ENOEXEC, "PVH entry note has %u bytes",
					       nh.n_descsz);
			memcpy(&v, data + desc_off, nh.n_descsz);
			if (v == 0)
				return err_set(err, -ENOEXEC, "PVH entry point is 0");
			*entry = v;
		}
		off = next;
	}
	return 0;
}

static bool elf_addr_loaded(const struct kernel_plan *p, uint64_t addr)
{
	for (unsigned int i = 0; i < p->nr_segs; i++)
		if (addr >= p->segs[i].gpa && addr - p->segs[i].gpa < p->segs[i].file_size)
			return true;
	return false;
}

static int elf_add_load(const Elf64_Phdr *ph, size_t size, const struct guest_ram *ram,
			struct kernel_plan *p, struct err *err)
{
	unsigned int n = p->nr_segs;

	if (ph->p_filesz > ph->p_memsz)
		return err_set(err, -ENOEXEC, "ELF segment %u is larger in the file than in memory",
			       n);
	if (!file_range_ok(size, ph->p_offset, ph->p_filesz))
		return err_set(err, -ENOEXEC,
			       "ELF segment %u lies beyond the end of the file: truncated?", n);
	if (ph->p_paddr < LAYOUT_HIMEM)
		return err_set(err, -ENOEXEC,
			       "ELF segment %u loads at 0x%llx, below 1 MiB where ember keeps "
			       "its boot structures",
			       n, (unsigned long long)ph->p_paddr);
	if (range_overflows(ph->p_paddr, ph->p_memsz) ||
	    !guest_ram_contains(ram, ph->p_paddr, ph->p_memsz))
		return err_set(err, -ENOEXEC,
			       "ELF segment %u (0x%llx, %llu bytes) does not fit in guest RAM", n,
			       (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
	for (unsigned int i = 0; i < n; i++)
		if (ranges_overlap(p->segs[i].gpa, p->segs[i].mem_size, ph->p_paddr, ph->p_memsz))
			return err_set(err, -ENOEXEC, "ELF segments %u and %u overlap", i, n);
	if (n == LOADER_MAX_SEGMENTS)
		return err_set(err, -ENOEXEC, "ELF has more than %u loadable segments",
			       LOADER_MAX_SEGMENTS);
	p->segs[n] = (struct load_segment){ .file_offset = ph->p_offset,
					    .file_size = ph->p_filesz,
					    .gpa = ph->p_paddr,
					    .mem_size = ph->p_memsz };
	p->nr_segs++;
	p->reserved_start = n ? MIN(p->reserved_start, ph->p_paddr) : ph->p_paddr;
	p->reserved_end = MAX(p->reserved_end, ph->p_paddr + ph->p_memsz);
	return 0;
}

static int elf_walk_phdrs(const uint8_t *data, size_t size, const Elf64_Ehdr *eh,
			  const struct guest_ram *ram, struct kernel_plan *p, uint64_t *pvh,
			  struct err *err)
{
	int ret = 0;

	for (unsigned int i = 0; i < eh->e_phnum && ret == 0; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, data + eh->e_phoff + i * sizeof(ph), sizeof(ph));
		switch (ph.p_type) {
		case PT_INTERP:
		case PT_DYNAMIC:
		case PT_TLS:
			return err_set(err, -ENOEXEC,
				       "ELF has %s: a user-space program, not a kernel",
				       ph.p_type == PT_INTERP	 ? "a program interpreter"
				       : ph.p_type == PT_DYNAMIC ? "dynamic linking"
								 : "thread-local storage");
		case PT_LOAD:
			if (ph.p_memsz)
				ret = elf_add_load(&ph, size, ram, p, err);
			break;
		case PT_NOTE:
			if (!file_range_ok(size, ph.p_offset, ph.p_filesz))
				return err_set(err, -ENOEXEC,
					       "ELF note segment beyond end of file");
			ret = elf_scan_notes(data, &ph, pvh, err);
			break;
		default:
			break;
		}
	}
	return ret;
}

int elf_parse(const uint8_t *data, size_t size, const struct guest_ram *ram, struct kernel_plan *p,
	      struct err *err)
{
	Elf64_Ehdr eh;
	uint64_t pvh = 0;
	int ret;

	memset(p, 0, sizeof(*p));
	p->format = "ELF";
	if (size < sizeof(eh) || memcmp(data, ELFMAG, SELFMAG) != 0)
		return err_set(err, -ENOEXEC, "truncated ELF header");
	memcpy(&eh, data, sizeof(eh));
	ret = elf_check_ehdr(&eh, size, err);
	if (ret < 0)
		return ret;
	ret = elf_walk_phdrs(data, size, &eh, ram, p, &pvh, err);
	if (ret < 0)
		return ret;
	if (p->nr_segs == 0)
		return err_set(err, -ENOEXEC, "ELF has nothing to load");
	p->protocol = pvh ? BOOT_PVH : BOOT_LINUX64;
	p->entry = pvh ? pvh : eh.e_entry;
	if (pvh && pvh >= LAYOUT_MMIO_HOLE_END)
		return err_set(err, -ENOEXEC, "PVH entry 0x%llx is not a 32-bit address",
			       (unsigned long long)pvh);
	if (!elf_addr_loaded(p, p->entry))
		return err_set(err, -ENOEXEC, "%s entry point 0x%llx is outside the loaded image",
			       pvh ? "PVH" : "ELF", (unsigned long long)p->entry);
	p->cmdline_max = LOADER_ELF_CMDLINE_MAX;
	p->initrd_end_max = LAYOUT_MMIO_HOLE;
	return 0;
}

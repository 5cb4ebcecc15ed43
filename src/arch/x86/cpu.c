#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86/cpu.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/layout.h"
#include "arch/x86/machine.h"
#include "kvm/gmem.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

#define CR0_PE	 (1u << 0)
#define CR0_ET	 (1u << 4)
#define CR0_NE	 (1u << 5)
#define CR0_PG	 (1u << 31)
#define CR4_PAE	 (1u << 5)
#define EFER_LME (1u << 8)
#define EFER_LMA (1u << 10)

#define PTE_PRESENT 0x1
#define PTE_RW	    0x2
#define PTE_PS	    0x80

#define GDT_CODE    2 /* selector 0x10: __BOOT_CS of the Linux boot protocol */
#define GDT_DATA    3 /* selector 0x18: __BOOT_DS */
#define GDT_TSS	    4 /* selector 0x20 */
#define GDT_ENTRIES 5

#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_STAR	      0xc0000081
#define MSR_LSTAR	      0xc0000082
#define MSR_CSTAR	      0xc0000083
#define MSR_SYSCALL_MASK      0xc0000084
#define MSR_KERNEL_GS_BASE    0xc0000102

#define MISC_ENABLE_FAST_STRING 0x1
#define MTRR_ENABLE		(1u << 11)
#define MTRR_TYPE_WB		6

#define APIC_LVT_LINT0	 0x350
#define APIC_LVT_LINT1	 0x360
#define APIC_MODE_NMI	 0x4
#define APIC_MODE_EXTINT 0x7

/* A descriptor from flags (G, D/B, L, AVL in 15:12; P, DPL, S, type in 7:0). */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

/* The same descriptor as KVM wants it in kvm_sregs. */
static struct kvm_segment gdt_to_segment(uint64_t e, unsigned int index)
{
	uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));

	/* KVM takes the limit in bytes: scale page-granular limits. */
	if ((e >> 55) & 1)
		limit = (limit << 12) | 0xfff;
	return (struct kvm_segment){
		.base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
		.limit = limit,
		.selector = (uint16_t)(index * 8),
		.type = (e >> 40) & 0xf,
		.present = (e >> 47) & 1,
		.dpl = (e >> 45) & 3,
		.db = (e >> 54) & 1,
		.s = (e >> 44) & 1,
		.l = (e >> 53) & 1,
		.g = (e >> 55) & 1,
		.avl = (e >> 52) & 1,
	};
}

static void boot_gdt(uint64_t gdt[GDT_ENTRIES], bool long_mode)
{
	memset(gdt, 0, GDT_ENTRIES * sizeof(gdt[0]));
	gdt[GDT_CODE] = gdt_entry(long_mode ? 0xa09b : 0xc09b, 0, 0xfffff);
	gdt[GDT_DATA] = gdt_entry(0xc093, 0, 0xfffff);
	gdt[GDT_TSS] = gdt_entry(0x008b, 0, 0x67); /* busy 32-bit TSS: VMX wants a usable TR */
}

static int cpu_write_gdt(const struct gmem *gm, bool long_mode, struct err *err)
{
	uint64_t gdt[GDT_ENTRIES];

	boot_gdt(gdt, long_mode);
	if (gmem_write(gm, LAYOUT_GDT, gdt, sizeof(gdt)) < 0 || gmem_fill(gm, LAYOUT_IDT, 0, 8) < 0)
		return err_set(err, -EFAULT, "guest RAM too small for the boot GDT");
	return 0;
}

/* Identity map of the low 4 GiB with 2 MiB pages: what the 64-bit entry needs. */
static int cpu_write_page_tables(const struct gmem *gm, struct err *err)
{
	uint64_t *pml4 = gmem_ptr(gm, LAYOUT_PML4, 4096);
	uint64_t *pdpt = gmem_ptr(gm, LAYOUT_PDPT, 4096);
	uint64_t *pd = gmem_ptr(gm, LAYOUT_PD, 4 * 4096);

	if (!pml4 || !pdpt || !pd)
		return err_set(err, -EFAULT, "guest RAM too small for boot page tables");
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = LAYOUT_PDPT | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (LAYOUT_PD + i * 4096) | PTE_PRESENT | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_PRESENT | PTE_RW | PTE_PS;
	return 0;
}

int cpu_write_boot_tables(const struct gmem *gm, struct err *err)
{
	int ret = cpu_write_gdt(gm, true, err);

	return ret < 0 ? ret : cpu_write_page_tables(gm, err);
}

static void cpu_load_segments(struct kvm_sregs *sregs, bool long_mode)
{
	uint64_t gdt[GDT_ENTRIES];
	struct kvm_segment data;

	boot_gdt(gdt, long_mode);
	sregs->gdt.base = LAYOUT_GDT;
	sregs->gdt.limit = sizeof(gdt) - 1;
	sregs->idt.base = LAYOUT_IDT;
	sregs->idt.limit = 0;
	sregs->cs = gdt_to_segment(gdt[GDT_CODE], GDT_CODE);
	data = gdt_to_segment(gdt[GDT_DATA], GDT_DATA);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	sregs->tr = gdt_to_segment(gdt[GDT_TSS], GDT_TSS);
}

static int cpu_set_sregs(struct vcpu *v, bool long_mode, struct err *err)
{
	struct kvm_sregs sregs;
	int ret;

	ret = kvm_ioctl(v->fd, KVM_GET_SREGS, &sregs, err);
	if (ret < 0)
		return ret;
	cpu_load_segments(&sregs, long_mode);
	sregs.cr0 = CR0_PE | CR0_ET | CR0_NE;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (long_mode) {
		sregs.cr0 |= CR0_PG;
		sregs.cr3 = LAYOUT_PML4;
		sregs.cr4 = CR4_PAE;
		sregs.efer = EFER_LME | EFER_LMA;
	}
	return kvm_ioctl(v->fd, KVM_SET_SREGS, &sregs, err);
}

int cpu_setup_pvh(struct vcpu *v, uint32_t entry, uint32_t start_info, struct err *err)
{
	struct kvm_regs regs = { .rip = entry, .rbx = start_info, .rflags = 0x2 };
	int ret = cpu_write_gdt(&v->vm->gmem, false, err);

	if (ret == 0)
		ret = cpu_set_sregs(v, false, err);
	if (ret == 0)
		ret = kvm_ioctl(v->fd, KVM_SET_REGS, &regs, err);
	return ret;
}

int cpu_setup_linux64(struct vcpu *v, uint64_t entry, uint64_t boot_params, struct err *err)
{
	struct kvm_regs regs = {
		.rip = entry,
		.rsi = boot_params,
		.rsp = LAYOUT_BOOT_STACK,
		.rbp = LAYOUT_BOOT_STACK,
		.rflags = 0x2,
	};
	int ret = cpu_write_boot_tables(&v->vm->gmem, err);

	if (ret == 0)
		ret = cpu_set_sregs(v, true, err);
	if (ret == 0)
		ret = kvm_ioctl(v->fd, KVM_SET_REGS, &regs, err);
	return ret;
}

static int cpu_set_cpuid(struct vcpu *v, struct err *err)
{
	const struct x86_machine *m = v->vm->machine;
	struct cpuid_topology topo = {
		.cpu = v->id,
		.nr_cpus = m->nr_cpus,
		.tsc_deadline = m->tsc_deadline,
	};
	size_t bytes = sizeof(struct kvm_cpuid2) +
		       m->supported_cpuid->nent * sizeof(struct kvm_cpuid_entry2);
	struct kvm_cpuid2 *c = malloc(bytes);
	int ret;

	if (!c)
		return -ENOMEM;
	memcpy(c, m->supported_cpuid, bytes);
	cpuid_patch(c->entries, c->nent, &topo);
	ret = kvm_ioctl(v->fd, KVM_SET_CPUID2, c, err);
	free(c);
	return ret;
}

static const struct {
	uint32_t index;
	uint64_t value;
} boot_msrs[] = {
	{ MSR_IA32_SYSENTER_CS, 0 },
	{ MSR_IA32_SYSENTER_ESP, 0 },
	{ MSR_IA32_SYSENTER_EIP, 0 },
	{ MSR_STAR, 0 },
	{ MSR_LSTAR, 0 },
	{ MSR_CSTAR, 0 },
	{ MSR_SYSCALL_MASK, 0 },
	{ MSR_KERNEL_GS_BASE, 0 },
	{ MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING },
	/* Memory defaults to write-back, as firmware leaves it; Linux keeps the MTRRs. */
	{ MSR_MTRR_DEF_TYPE, MTRR_ENABLE | MTRR_TYPE_WB },
};

static int cpu_set_msrs(struct vcpu *v, struct err *err)
{
	/* struct kvm_msrs ends in a flexible array: room for the entries right after it. */
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) +
			      ARRAY_SIZE(boot_msrs) * sizeof(struct kvm_msr_entry)];
	} msrs;
	int ret;

	memset(&msrs, 0, sizeof(msrs));
	msrs.hdr.nmsrs = ARRAY_SIZE(boot_msrs);
	for (size_t i = 0; i < ARRAY_SIZE(boot_msrs); i++) {
		msrs.hdr.entries[i].index = boot_msrs[i].index;
		msrs.hdr.entries[i].data = boot_msrs[i].value;
	}
	ret = kvm_ioctl(v->fd, KVM_SET_MSRS, &msrs.hdr, err);
	if (ret >= 0 && ret < (int)ARRAY_SIZE(boot_msrs))
		return err_set(err, -ENOTSUP, "vcpu%u: KVM refused MSR 0x%x", v->id,
			       boot_msrs[ret].index);
	return ret < 0 ? ret : 0;
}

static int cpu_set_fpu(struct vcpu *v, struct err *err)
{
	struct kvm_fpu fpu = { .fcw = 0x37f, .mxcsr = 0x1f80 }; /* the values after FNINIT */

	return kvm_ioctl(v->fd, KVM_SET_FPU, &fpu, err);
}

static void lapic_set_lvt_mode(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t val;

	memcpy(&val, &l->regs[reg], 4);
	val = (val & ~0x700u) | (mode << 8);
	memcpy(&l->regs[reg], &val, 4);
}

/* LINT0 takes the PIC (ExtINT) and LINT1 NMIs, the wiring of a PC. */
static int cpu_set_lapic(struct vcpu *v, struct err *err)
{
	struct kvm_lapic_state l;
	int ret;

	ret = kvm_ioctl(v->fd, KVM_GET_LAPIC, &l, err);
	if (ret < 0)
		return ret;
	lapic_set_lvt_mode(&l, APIC_LVT_LINT0, APIC_MODE_EXTINT);
	lapic_set_lvt_mode(&l, APIC_LVT_LINT1, APIC_MODE_NMI);
	return kvm_ioctl(v->fd, KVM_SET_LAPIC, &l, err);
}

int arch_vcpu_init(struct vcpu *v, struct err *err)
{
	int ret = cpu_set_cpuid(v, err);

	if (ret == 0)
		ret = cpu_set_msrs(v, err);
	if (ret == 0)
		ret = cpu_set_fpu(v, err);
	if (ret == 0)
		ret = cpu_set_lapic(v, err);
	return ret;
}

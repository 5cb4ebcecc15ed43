#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/cpuid.h"
#include "kvm/kvm.h"

#define LEAF_FEATURES	  0x1
#define LEAF_CACHE	  0x4
#define LEAF_TOPOLOGY	  0xb
#define LEAF_TOPOLOGY_V2  0x1f
#define LEAF_AMD_SIZES	  0x80000008
#define LEAF_AMD_CACHE	  0x8000001d
#define LEAF_AMD_TOPOLOGY 0x8000001e

#define FEAT_ECX_TSC_DEADLINE (1u << 24)
#define FEAT_ECX_HYPERVISOR   (1u << 31)
#define FEAT_EDX_HTT	      (1u << 28)

/* Topology level types of leaves 0xb/0x1f (SDM vol. 2A, CPUID). */
#define TOPO_LEVEL_INVALID 0
#define TOPO_LEVEL_SMT	   1
#define TOPO_LEVEL_CORE	   2

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out, struct err *err)
{
	struct kvm_cpuid2 *c;
	int ret;

	c = calloc(1, sizeof(*c) + CPUID_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	ret = kvm_ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c, err);
	if (ret < 0) {
		free(c);
		return ret;
	}
	*out = c;
	return 0;
}

unsigned int cpuid_id_bits(unsigned int n)
{
	unsigned int bits = 0;

	while ((1u << bits) < n)
		bits++;
	return bits;
}

static void cpuid_patch_features(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	unsigned int ids = 1u << cpuid_id_bits(t->nr_cpus);

	/* EBX: initial APIC ID 31:24, addressable logical IDs 23:16, CLFLUSH 8 qwords. */
	e->ebx = (t->cpu << 24) | ((ids > 255 ? 255 : ids) << 16) | (8 << 8) | (e->ebx & 0xff);
	e->ecx |= FEAT_ECX_HYPERVISOR;
	if (t->tsc_deadline)
		e->ecx |= FEAT_ECX_TSC_DEADLINE;
	if (t->nr_cpus > 1)
		e->edx |= FEAT_EDX_HTT;
	else
		e->edx &= ~FEAT_EDX_HTT;
}

static void cpuid_patch_cache(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	unsigned int level = (e->eax >> 5) & 7;
	unsigned int sharing = level >= 3 ? t->nr_cpus - 1 : 0;
	unsigned int cores = MIN(t->nr_cpus, 64u) - 1;

	if ((e->eax & 0x1f) == 0) /* no more caches */
		return;
	/* EAX 31:26 cores per package - 1, 25:14 logical CPUs sharing the cache - 1. */
	e->eax = (e->eax & 0x3fff) | (MIN(sharing, 0xfffu) << 14) | (cores << 26);
}

static void cpuid_patch_topology(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	switch (e->index) {
	case 0: /* SMT level: one thread per core */
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (TOPO_LEVEL_SMT << 8) | 0;
		break;
	case 1: /* core level: every vCPU is a core of the one package */
		e->eax = cpuid_id_bits(t->nr_cpus);
		e->ebx = t->nr_cpus;
		e->ecx = (TOPO_LEVEL_CORE << 8) | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = (TOPO_LEVEL_INVALID << 8) | (e->index & 0xff);
		break;
	}
	e->edx = t->cpu; /* x2APIC ID */
}

static bool cpuid_is_amd(const struct kvm_cpuid_entry2 *e, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (e[i].function != 0)
			continue;
		/* "AuthenticAMD" or "HygonGenuine": EBX holds "Auth" / "Hygo". */
		return e[i].ebx == 0x68747541 || e[i].ebx == 0x6f677948;
	}
	return false;
}

static void cpuid_patch_amd(struct kvm_cpuid_entry2 *e, const struct cpuid_topology *t)
{
	switch (e->function) {
	case LEAF_AMD_SIZES: /* ECX: APIC ID size 15:12, cores - 1 in 7:0 */
		e->ecx = (cpuid_id_bits(t->nr_cpus) << 12) | ((t->nr_cpus - 1) & 0xff);
		break;
	case LEAF_AMD_CACHE:
		if ((e->eax & 0x1f) == 0)
			break;
		e->eax = (e->eax & ~(0xfffu << 14)) |
			 ((((e->eax >> 5) & 7) >= 3 ? t->nr_cpus - 1 : 0) << 14);
		break;
	case LEAF_AMD_TOPOLOGY: /* extended APIC ID, core ID, one node */
		e->eax = t->cpu;
		e->ebx = t->cpu & 0xff;
		e->ecx = 0;
		break;
	}
}

void cpuid_patch(struct kvm_cpuid_entry2 *e, unsigned int n, const struct cpuid_topology *t)
{
	bool amd = cpuid_is_amd(e, n);

	for (unsigned int i = 0; i < n; i++) {
		switch (e[i].function) {
		case LEAF_FEATURES:
			cpuid_patch_features(&e[i], t);
			break;
		case LEAF_CACHE:
			cpuid_patch_cache(&e[i], t);
			break;
		case LEAF_TOPOLOGY:
		case LEAF_TOPOLOGY_V2:
			cpuid_patch_topology(&e[i], t);
			break;
		default:
			if (amd)
				cpuid_patch_amd(&e[i], t);
			break;
		}
	}
}

/*
 * The CPUID each vCPU reports: what KVM supports on this host, with the
 * topology (one socket, one thread per core, APIC ID = vCPU index) and the
 * hypervisor bit filled in. cpuid_patch() is pure and unit-tested.
 */
#ifndef EMBER_ARCH_X86_CPUID_H
#define EMBER_ARCH_X86_CPUID_H

#include <stdbool.h>
#include <linux/kvm.h>

#include "util/compiler.h"
#include "util/err.h"

#define CPUID_MAX_ENTRIES 256

struct cpuid_topology {
	unsigned int cpu;     /* this vCPU's index, also its APIC ID */
	unsigned int nr_cpus; /* in the whole VM */
	bool tsc_deadline;    /* KVM emulates the TSC-deadline timer */
};

/* Fetches KVM_GET_SUPPORTED_CPUID; the caller frees the result. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out, struct err *err) __must_check;

/* Rewrites the entries for one vCPU, in place. */
void cpuid_patch(struct kvm_cpuid_entry2 *e, unsigned int n, const struct cpuid_topology *t);

/* Number of bits needed to hold `n` distinct IDs (0 for n <= 1). */
unsigned int cpuid_id_bits(unsigned int n);

#endif

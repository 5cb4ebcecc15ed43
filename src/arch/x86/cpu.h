/*
 * x86 vCPU state at power-on and at kernel entry: CPUID, MSRs, FPU, local
 * APIC wiring, and the registers of the two entry protocols (PVH 32-bit
 * protected mode; Linux 64-bit long mode with identity-mapped page tables).
 */
#ifndef EMBER_ARCH_X86_CPU_H
#define EMBER_ARCH_X86_CPU_H

#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

struct vcpu;
struct gmem;

/* Writes the boot GDT, and for long mode the page tables, into guest RAM. */
int cpu_write_boot_tables(const struct gmem *gm, struct err *err) __must_check;

/* PVH: 32-bit flat protected mode, paging off, EBX = start info. */
int cpu_setup_pvh(struct vcpu *v, uint32_t entry, uint32_t start_info,
		  struct err *err) __must_check;

/* Linux 64-bit boot protocol: long mode, RSI = boot_params. */
int cpu_setup_linux64(struct vcpu *v, uint64_t entry, uint64_t boot_params,
		      struct err *err) __must_check;

#endif

/*
 * The Intel MultiProcessor Specification 1.4 tables (floating pointer and
 * configuration table), for guests that boot without ACPI (acpi=off). Pure
 * builder over a buffer standing for guest memory at `base`.
 */
#ifndef EMBER_ARCH_X86_MPTABLE_H
#define EMBER_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

/* Returns the bytes written, or -ENOSPC / -EINVAL. */
int mptable_build(unsigned int nr_cpus, uint8_t ioapic_id, uint8_t *buf, size_t size,
		  uint64_t base) __must_check;

#endif

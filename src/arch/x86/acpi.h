/*
 * ACPI tables for the guest: RSDP, XSDT, FADT (hardware-reduced), MADT and
 * the DSDT (compiled from dsdt.asl by iasl at build time). The builder is a
 * pure function over a buffer that stands for guest memory at `base`, so it
 * is unit-tested without KVM.
 */
#ifndef EMBER_ARCH_X86_ACPI_H
#define EMBER_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

struct acpi_config {
	unsigned int nr_cpus;
	uint8_t ioapic_id;
	uint16_t pm_port; /* base of the sleep control/status and reset registers */
};

/*
 * Writes all tables into `buf` (`size` bytes, placed at guest address
 * `base`); the RSDP comes first, at `base`. Returns the bytes used, or
 * -ENOSPC.
 */
int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t size,
	       uint64_t base) __must_check;

/* Sum of the bytes, mod 256; a valid table sums to 0. */
uint8_t acpi_checksum(const void *p, size_t len);

extern const unsigned char acpi_dsdt_aml[];
extern const size_t acpi_dsdt_aml_len;

#endif

/*
 * ACPI tables for the guest: RSDP, XSDT, FADT (hardware-reduced), MADT, the
 * DSDT (compiled from dsdt.asl by iasl at build time) and one SSDT per
 * virtio-mmio device (virtio_ssdt.asl, its placeholders filled in). The builder is a
 * pure function over a buffer that stands for guest memory at `base`, so it
 * is unit-tested without KVM.
 */
#ifndef EMBER_ARCH_X86_ACPI_H
#define EMBER_ARCH_X86_ACPI_H

#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define ACPI_MAX_VIRTIO 16

/* A virtio-mmio window, described in an SSDT of its own. */
struct acpi_virtio {
	uint32_t base;
	uint32_t gsi;
};

struct acpi_config {
	unsigned int nr_cpus;
	uint8_t ioapic_id;
	uint16_t pm_port; /* base of the sleep control/status and reset registers */
	const struct acpi_virtio *virtio;
	unsigned int nr_virtio; /* at most ACPI_MAX_VIRTIO */
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
extern const unsigned char acpi_virtio_ssdt_aml[];
extern const size_t acpi_virtio_ssdt_aml_len;

#endif

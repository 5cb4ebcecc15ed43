/*
 * The power-management registers of hardware-reduced ACPI (ACPI 6.5,
 * 4.8.3.7 and 4.8.3.6): the sleep control and status registers and the
 * reset register, all byte-wide I/O ports the FADT points at. Writing S5 to
 * the sleep control register powers the VM off; writing the reset value
 * resets it (which ends ember).
 */
#ifndef EMBER_DEVICES_ACPI_PM_H
#define EMBER_DEVICES_ACPI_PM_H

#include <stdint.h>

#include "util/compiler.h"

#define ACPI_PM_SLEEP_CONTROL 0
#define ACPI_PM_SLEEP_STATUS  1
#define ACPI_PM_RESET	      4
#define ACPI_PM_SIZE	      8
#define ACPI_PM_RESET_VALUE   0x01
#define ACPI_PM_S5_TYPE	      5 /* must match \_S5 in dsdt.asl */

struct vm;
struct acpi_pm;

int acpi_pm_create(struct vm *vm, uint16_t port, struct acpi_pm **out) __must_check;
void acpi_pm_destroy(struct acpi_pm *pm);

#endif

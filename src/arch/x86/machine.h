/*
 * The x86 "PC-lite" platform: in-kernel PIC, IOAPIC, local APICs and PIT;
 * in user space the COM1 UART, the keyboard controller (reset), the CMOS RTC,
 * the ACPI power-management registers and a sink for the POST port.
 * Owned by struct vm (vm->machine); created on the main thread before the
 * vCPUs start.
 */
#ifndef EMBER_ARCH_X86_MACHINE_H
#define EMBER_ARCH_X86_MACHINE_H

#include <stdbool.h>
#include <linux/kvm.h>

#include "devices/boot_timer.h"
#include "virtio/placement.h"

struct serial;
struct i8042;
struct rtc;
struct acpi_pm;

struct x86_machine {
	unsigned int nr_cpus;
	bool tsc_deadline;
	struct kvm_cpuid2 *supported_cpuid;
	int serial_file_fd; /* --serial file=PATH, owned; -1 otherwise */

	struct serial *com1;
	struct i8042 *i8042;
	struct rtc *rtc;
	struct acpi_pm *acpi_pm;
	struct boot_timer boot_timer; /* on the bus with --boot-timer only */
	struct virtio_devices virtio;
};

#endif

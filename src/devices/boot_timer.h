/*
 * Firecracker's boot timer (--boot-timer): the guest's init writes 123 to
 * I/O port 0x3f0 once it is up, and ember logs the time since the VM was
 * built (InstanceStart) and the CPU time ember spent meanwhile.
 */
#ifndef EMBER_DEVICES_BOOT_TIMER_H
#define EMBER_DEVICES_BOOT_TIMER_H

#include <stdint.h>

#include "bus/bus.h"
#include "util/compiler.h"

#define BOOT_TIMER_PORT	 0x3f0
#define BOOT_TIMER_MAGIC 123

struct boot_timer {
	uint64_t start_ns;     /* monotonic, when the VM was built */
	uint64_t start_cpu_ns; /* ember's CPU time then */
};

extern const struct bus_ops boot_timer_ops;

void boot_timer_init(struct boot_timer *t);

#endif

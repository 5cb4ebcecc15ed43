/*
 * The hooks each architecture implements (src/arch/<arch>/). Generic code in
 * src/kvm/ calls these and nothing else of the architecture.
 */
#ifndef EMBER_ARCH_ARCH_H
#define EMBER_ARCH_ARCH_H

#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

struct vm;
struct vcpu;
struct vm_config;

struct ram_region {
	uint64_t gpa;
	uint64_t size;
};

#define ARCH_MAX_RAM_REGIONS 2

/* Where `size` bytes of RAM go in guest-physical space; returns the count. */
unsigned int arch_ram_regions(uint64_t size, struct ram_region *out);

/* The most vCPUs the architecture's firmware tables can describe. */
unsigned int arch_max_vcpus(void);

/* VM-wide set-up right after KVM_CREATE_VM: interrupt controllers, timers. */
int arch_vm_init(struct vm *vm, const struct vm_config *cfg, struct err *err) __must_check;

/* Creates the platform devices and registers them on the VM's buses. */
int arch_machine_create(struct vm *vm, const struct vm_config *cfg, struct err *err) __must_check;
void arch_machine_destroy(struct vm *vm);

/* Parks (true) or lets go the devices' I/O threads, with the vCPUs paused. */
void arch_pause_devices(struct vm *vm, bool pause);

/* Lets go of (true) or takes back the devices' exclusive host resources (disk locks). */
int arch_handover_devices(struct vm *vm, bool release) __must_check;

/* Stops (true) or lets the devices write guest memory past the dirty log again. */
void arch_hold_device_writes(struct vm *vm, bool hold);

/* Presses the ACPI power button (a GED event: the guest's OS decides what to do). */
void arch_power_button(struct vm *vm);

/* Presses Ctrl-Alt-Del on the guest's keyboard (the API's SendCtrlAltDel). */
int arch_ctrl_alt_del(struct vm *vm) __must_check;

/* Per-vCPU set-up: CPUID, MSRs, local APIC, FPU. */

int arch_vcpu_init(struct vcpu *v, struct err *err) __must_check;

/* Loads kernel and initrd, writes firmware tables, sets the boot vCPU's registers. */
int arch_load_guest(struct vm *vm, const struct vm_config *cfg, struct err *err) __must_check;

struct snapw;
struct snapr;

/*
 * The VM's state for a snapshot (VM and devices paused): vCPUs, interrupt
 * controllers, clock, platform and virtio devices. Guest RAM is not included.
 */
int arch_snapshot_save(struct vm *vm, struct snapw *w, struct err *err) __must_check;
/* Puts a VM built from the snapshot's description back in the saved state. */
int arch_snapshot_restore(struct vm *vm, const struct snapr *r, struct err *err) __must_check;

/*
 * Handles one exit from KVM_RUN on the vCPU's thread. Returns 0 to run the
 * vCPU again, or a negative value once it asked the VM to stop.
 */
int arch_vcpu_handle_exit(struct vcpu *v);

#endif

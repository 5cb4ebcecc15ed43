/*
 * A virtual machine: the KVM VM fd, guest RAM, the two trap buses, the vCPUs
 * and the platform devices (through the arch hooks).
 *
 * Ownership: struct vm owns everything it points to except `kvm`. Set-up and
 * tear-down run on the main thread; vm_request_stop() may be called from any
 * thread (vCPU, device, main) and is how the VM ends.
 */
#ifndef EMBER_KVM_VM_H
#define EMBER_KVM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus/bus.h"
#include "kvm/gmem.h"
#include "kvm/irq.h"
#include "kvm/kvm.h"
#include "util/compiler.h"
#include "util/err.h"

struct vcpu;
struct vm_config;

enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_RESET,	  /* guest reset: keyboard controller, triple fault, ACPI reset */
	VM_STOP_POWEROFF, /* ACPI S5 */
	VM_STOP_QUIT,	  /* the user quit from the console */
	VM_STOP_SIGNAL,	  /* ember got SIGTERM, SIGINT or SIGHUP */
	VM_STOP_MIGRATED, /* the VM runs in another ember now */
	VM_STOP_ERROR,	  /* KVM or the guest failed: see stop_msg */
};

/*
 * The device that the host's input (stdin) feeds: the UART or the virtio
 * console. `push` returns the bytes taken (safe from the main thread);
 * after a short push, `space_fd` becomes readable when there is room.
 */
struct console_in {
	size_t (*push)(void *dev, const uint8_t *data, size_t len);
	int space_fd;
	void *dev; /* NULL: no console input */
};

struct vm {
	struct kvm_host *kvm; /* borrowed */
	int fd;

	void *ram;
	uint64_t ram_size;
	struct gmem gmem;

	struct bus pio_bus;
	struct bus mmio_bus;

	struct vcpu **vcpus;
	unsigned int nr_vcpus;

	void *machine; /* the arch's platform devices */
	struct console_in console;

	atomic_int stop_reason;
	char stop_msg[512];
	int stop_efd; /* eventfd: readable once a stop was requested */

	/* Pause: vCPUs park (vm_vcpu_park) while pause_wanted is set. */
	pthread_mutex_t pause_lock;
	pthread_cond_t pause_cond;
	atomic_bool pause_wanted;
	unsigned int parked;	  /* vCPU threads parked now */
	bool emul_failure_insn;	  /* KVM_CAP_EXIT_ON_EMULATION_FAILURE enabled */
	bool restored;		  /* built from a snapshot, not booted */
	bool dirty_logging;	  /* KVM's and gmem's dirty logs are on */
	uint64_t *since_snapshot; /* tracking for diff snapshots: pages written since the last */
};

/* Guest RAM made before its VM: a snapshot's memory file, or for an incoming migration. */
struct vm_ram {
	void *hva;
	uint64_t size;
};

/* The snapshot's memory file `fd` mapped copy-on-write; its size must be the VM's. */
int vm_ram_map_file(const struct vm_config *cfg, int fd, struct vm_ram *out,
		    struct err *err) __must_check;
/* Anonymous RAM as the VM's configuration asks for (huge pages or not). */
int vm_ram_alloc(const struct vm_config *cfg, struct vm_ram *out, struct err *err) __must_check;
void vm_ram_free(struct vm_ram *r);

/*
 * Builds the whole VM, guest loaded and ready to start. With `ram` (taken
 * over, whatever the outcome) the guest's memory exists already and nothing
 * is loaded: the caller restores the rest of the state.
 */
int vm_create(struct kvm_host *kvm, const struct vm_config *cfg, struct vm_ram *ram,
	      struct vm **out, struct err *err) __must_check;

/* Freezes the buses and starts one thread per vCPU. */
int vm_start(struct vm *vm, struct err *err) __must_check;

/*
 * Asks the VM to stop; the first request wins and its reason is kept.
 * `fmt` (may be NULL) explains an error. Safe from any thread.
 */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
	__printf(3, 4);

static inline enum vm_stop_reason vm_stop_reason(struct vm *vm)
{
	return (enum vm_stop_reason)atomic_load_explicit(&vm->stop_reason, memory_order_acquire);
}

/*
 * Stops every vCPU outside the guest (they park) and returns once all are
 * parked: -ESHUTDOWN if the VM stopped meanwhile. From the main thread.
 */
int vm_pause(struct vm *vm) __must_check;
void vm_resume(struct vm *vm);

/* A vCPU thread waits here while the VM is paused. */
void vm_vcpu_park(struct vm *vm);

/* Kicks every vCPU out of the guest and joins the threads. */
void vm_stop(struct vm *vm);

void vm_destroy(struct vm *vm);

/*
 * Logging the pages of guest RAM written by the vCPUs (KVM's dirty log) and
 * by the devices (gmem), for migration. take() ORs the pages written since
 * the start or the previous take into `bitmap` (one bit per 4 KiB page of
 * the RAM mapping) and starts a new interval.
 */
int vm_dirty_log_start(struct vm *vm, struct err *err) __must_check;
int vm_dirty_log_take(struct vm *vm, uint64_t *bitmap, struct err *err) __must_check;
void vm_dirty_log_stop(struct vm *vm);

/*
 * Diff snapshots: the logs stay on from now on, and every page written is
 * remembered until the next snapshot (a migration's harvests included).
 */
int vm_track_dirty_pages(struct vm *vm, struct err *err) __must_check;
/* The pages written since the last call (or the start of tracking) into `bitmap`; a new interval.
 */
int vm_dirty_since_snapshot(struct vm *vm, uint64_t *bitmap, struct err *err) __must_check;

/* A line on the in-kernel interrupt controller, for a device. */
struct irq_line vm_irq_line(struct vm *vm, uint32_t gsi);

/*
 * Lets KVM signal `fd` itself when the guest writes `datamatch` (`len`
 * bytes) to MMIO address `gpa`: the write never leaves the kernel.
 */
int vm_add_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t len, uint64_t datamatch, int fd,
		     struct err *err) __must_check;

/* Each write to `fd` raises an edge on `gsi`, from any thread, without a vCPU exit. */
int vm_add_irqfd(struct vm *vm, uint32_t gsi, int fd, struct err *err) __must_check;

#endif

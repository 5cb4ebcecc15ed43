/* Exit reasons: Documentation/virt/kvm/api.rst, "kvm_run". */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86/pagewalk.h"

#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "util/log.h"
#include "util/metrics.h"

#define UNHANDLED_TRACKED 32

/*
 * Accesses no device claims are logged once per address, for the first few
 * addresses only: a guest probing ports must not flood the log.
 */
static struct {
	pthread_mutex_t lock;
	uint64_t seen[UNHANDLED_TRACKED];
	unsigned int count;
	bool overflowed;
} unhandled = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void log_unhandled(const char *bus, uint64_t addr, uint32_t len, bool write)
{
	uint64_t key = addr ^ ((uint64_t)(bus[0] == 'm') << 63);
	bool first = true;

	pthread_mutex_lock(&unhandled.lock);
	for (unsigned int i = 0; i < unhandled.count; i++)
		if (unhandled.seen[i] == key)
			first = false;
	if (first && unhandled.count < UNHANDLED_TRACKED)
		unhandled.seen[unhandled.count++] = key;
	else if (first && !unhandled.overflowed)
		unhandled.overflowed = true;
	else
		first = false;
	pthread_mutex_unlock(&unhandled.lock);
	if (first)
		log_info("%s: unhandled %u-byte %s at 0x%llx (ignored; logged once)", bus, len,
			 write ? "write" : "read", (unsigned long long)addr);
}

static int x86_handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	bool write = run->io.direction == KVM_EXIT_IO_OUT;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;

	if (run->io.data_offset + (uint64_t)size * count > v->run_size)
		return 0; /* cannot happen with a sane kernel; never touch beyond the page */
	for (uint32_t i = 0; i < count; i++, data += size) {
		int ret = write ? bus_write(&v->vm->pio_bus, run->io.port, data, size)
				: bus_read(&v->vm->pio_bus, run->io.port, data, size);

		if (ret < 0) {
			if (!write)
				memset(data, 0xff, size);
			log_unhandled("pio", run->io.port, size, write);
		}
	}
	return 0;
}

static int x86_handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	int ret;

	if (len > sizeof(run->mmio.data))
		return 0;
	if (run->mmio.is_write)
		ret = bus_write(&v->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	else
		ret = bus_read(&v->vm->mmio_bus, run->mmio.phys_addr, run->mmio.data, len);
	if (ret < 0) {
		if (!run->mmio.is_write)
			memset(run->mmio.data, 0xff, len);
		log_unhandled("mmio", run->mmio.phys_addr, len, run->mmio.is_write);
	}
	return 0;
}

static const char *x86_cpu_mode(const struct kvm_sregs *s)
{
	if (!(s->cr0 & 1))
		return "real";
	if ((s->efer & (1u << 10)) && s->cs.l)
		return "64-bit";
	return s->cs.db ? "32-bit protected" : "16-bit protected";
}

/* The bytes at CS:RIP, read through the guest's own page tables. */
static size_t x86_fetch_insn(struct vcpu *v, const struct kvm_sregs *s, uint64_t rip, uint8_t *buf,
			     size_t len)
{
	struct paging_regs pr = { .cr0 = s->cr0, .cr3 = s->cr3, .cr4 = s->cr4, .efer = s->efer };
	uint64_t gva = s->cs.base + rip, gpa;

	if (pagewalk(&v->vm->gmem, &pr, gva, &gpa) < 0)
		return 0;
	/* Stop at the page end: the next page may not be mapped. */
	len = MIN(len, 4096 - (gpa & 4095));
	return gmem_read(&v->vm->gmem, gpa, buf, len) == 0 ? len : 0;
}

/*
 * KVM may report the bytes it fetched (sometimes only the first, as PVM
 * does); reading them through the guest's page tables usually gives the
 * whole instruction. Report whichever is longer.
 */
static size_t x86_insn_bytes(struct vcpu *v, const struct kvm_sregs *s, uint64_t rip, uint8_t *buf)
{
	struct kvm_run *run = v->run;
	size_t n = x86_fetch_insn(v, s, rip, buf, 15), k;

	if (run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
	    run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
	    (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
		k = MIN(run->emulation_failure.insn_size, 15u);
		if (k > n) {
			memcpy(buf, run->emulation_failure.insn_bytes, k);
			n = k;
		}
	}
	return n;
}

/* One line naming the failure, the vCPU, where it stood and what it executed. */
static void x86_report_failure(struct vcpu *v, const char *what)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t insn[15];
	char hex[15 * 3 + 1] = "unavailable";

	METRIC_INC(vcpu, failures);
	size_t n = 0;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) < 0 || ioctl(v->fd, KVM_GET_SREGS, &sregs) < 0) {
		vm_request_stop(v->vm, VM_STOP_ERROR, "vcpu%u: %s (registers unavailable)", v->id,
				what);
		return;
	}
	n = x86_insn_bytes(v, &sregs, regs.rip, insn);
	for (size_t i = 0; i < n; i++)
		snprintf(hex + i * 3, sizeof(hex) - i * 3, "%02x ", insn[i]);
	if (n)
		hex[n * 3 - 1] = '\0';

	vm_request_stop(v->vm, VM_STOP_ERROR,
			"vcpu%u: %s at rip 0x%llx (cs 0x%x, %s mode); instruction bytes: %s", v->id,
			what, (unsigned long long)regs.rip, sregs.cs.selector, x86_cpu_mode(&sregs),
			hex);
}

static const char *internal_error_name(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "KVM internal error: emulation failure";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "KVM internal error: simultaneous exceptions";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "KVM internal error: exit while delivering an event";
	default:
		return "KVM internal error";
	}
}

static int x86_handle_system_event(struct vcpu *v)
{
	switch (v->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(v->vm, VM_STOP_POWEROFF, NULL);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(v->vm, VM_STOP_RESET, NULL);
		break;
	default:
		vm_request_stop(v->vm, VM_STOP_ERROR, "vcpu%u: guest crashed (system event %u)",
				v->id, v->run->system_event.type);
		break;
	}
	return -1;
}

int arch_vcpu_handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[96];

	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		METRIC_INC(vcpu, exit_io);
		return x86_handle_io(v);
	case KVM_EXIT_MMIO:
		METRIC_INC(vcpu, exit_mmio);
		return x86_handle_mmio(v);
	case KVM_EXIT_HLT: /* the in-kernel local APIC handles HLT; nothing to do */
		METRIC_INC(vcpu, exit_hlt);
		return 0;
	case KVM_EXIT_INTR:
		return 0;
	case KVM_EXIT_SHUTDOWN: /* a triple fault: a PC resets */
		log_info("vcpu%u: triple fault: the guest resets", v->id);
		vm_request_stop(v->vm, VM_STOP_RESET, NULL);
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		return x86_handle_system_event(v);
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "%s", internal_error_name(run->internal.suberror));
		if (strcmp(what, "KVM internal error") == 0)
			snprintf(what, sizeof(what), "KVM internal error (suberror %u)",
				 run->internal.suberror);

		x86_report_failure(v, what);
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "VM entry failed (hardware reason 0x%llx)",
			 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		x86_report_failure(v, what);
		return -1;
	default:
		snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
		x86_report_failure(v, what);
		return -1;
	}
}

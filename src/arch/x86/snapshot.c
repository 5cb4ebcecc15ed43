/*
 * x86 state in a snapshot: per vCPU what KVM keeps (registers, segments,
 * FPU/XSAVE, XCRs, local APIC, MSRs, pending events, run state, debug
 * registers, TSC rate), VM-wide the in-kernel PIC, IOAPIC and PIT and the
 * KVM clock, then the platform devices and every virtio device.
 *
 * Saving reads the vCPUs from the main thread while they are parked (KVM
 * takes each vCPU's mutex, so any thread may); restoring writes them before
 * the vCPU threads first run, in the order KVM needs: the local APIC before
 * the MSRs (the TSC deadline lives in it), the TSC before the TSC deadline,
 * the pending events last.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "arch/x86/machine.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "snapshot/snapfile.h"
#include "util/log.h"
#include "virtio/mmio.h"

#define TAG_REGS    SNAP_TAG('R', 'E', 'G', 'S')
#define TAG_SREGS   SNAP_TAG('S', 'R', 'E', 'G')
#define TAG_XSAVE   SNAP_TAG('X', 'S', 'A', 'V')
#define TAG_XCRS    SNAP_TAG('X', 'C', 'R', 'S')
#define TAG_LAPIC   SNAP_TAG('L', 'A', 'P', 'C')
#define TAG_EVENTS  SNAP_TAG('E', 'V', 'T', 'S')
#define TAG_MP	    SNAP_TAG('M', 'P', 'S', 'T')
#define TAG_DREGS   SNAP_TAG('D', 'R', 'E', 'G')
#define TAG_MSRS    SNAP_TAG('M', 'S', 'R', 'S')
#define TAG_TSC	    SNAP_TAG('T', 'S', 'C', 'K')
#define TAG_CLOCK   SNAP_TAG('C', 'L', 'C', 'K')
#define TAG_IRQCHIP SNAP_TAG('I', 'R', 'Q', 'C')
#define TAG_PIT	    SNAP_TAG('P', 'I', 'T', '2')
#define TAG_COM1    SNAP_TAG('C', 'O', 'M', '1')
#define TAG_I8042   SNAP_TAG('K', 'B', 'D', 'C')
#define TAG_RTC	    SNAP_TAG('C', 'M', 'O', 'S')

#define MSR_IA32_TSC	      0x10
#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MAX_MSRS	      1024
#define XSAVE_LEGACY_SIZE     4096

/* --- saving ------------------------------------------------------------ */

/* The size of KVM's XSAVE area for this VM: larger than 4 KiB with AMX. */
static size_t xsave_size(struct vm *vm)
{
	int n = kvm_check_cap(vm->fd, KVM_CAP_XSAVE2);

	return n > XSAVE_LEGACY_SIZE ? (size_t)n : XSAVE_LEGACY_SIZE;
}

static int save_xsave(struct vcpu *v, struct snapw *w, size_t size, struct err *err)
{
	struct kvm_xsave *x = calloc(1, size);
	int ret;

	if (!x)
		return err_set(err, -ENOMEM, "out of memory");
	if (size > XSAVE_LEGACY_SIZE)
		ret = kvm_ioctl(v->fd, KVM_GET_XSAVE2, x, err);
	else
		ret = kvm_ioctl(v->fd, KVM_GET_XSAVE, x, err);
	if (ret == 0)
		snapw_put(w, TAG_XSAVE, v->id, x, size);
	free(x);
	return ret;
}

/* The MSRs KVM saves and restores for a VMM, as /dev/kvm lists them. */
static int msr_index_list(struct vm *vm, struct kvm_msr_list **out, struct err *err)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;

	if (ioctl(vm->kvm->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	if (probe.nmsrs == 0 || probe.nmsrs > MAX_MSRS)
		return err_set(err, -EINVAL, "KVM lists %u MSRs", probe.nmsrs);
	list = calloc(1, sizeof(*list) + probe.nmsrs * sizeof(list->indices[0]));
	if (!list)
		return err_set(err, -ENOMEM, "out of memory");
	list->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm->fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return err_set(err, -errno, "KVM_GET_MSR_INDEX_LIST: %s", strerror(errno));
	}
	*out = list;
	return 0;
}

/*
 * Reads every listed MSR the vCPU has into `out`. KVM_GET_MSRS stops at the
 * first MSR it cannot read (a feature this CPU lacks): that one is skipped.
 */
static int read_msrs(struct vcpu *v, const struct kvm_msr_list *list, struct kvm_msrs *out,
		     struct kvm_msrs *tmp)
{
	uint32_t kept = 0, next = 0;

	while (next < list->nmsrs) {
		uint32_t n = list->nmsrs - next;
		int got;

		tmp->nmsrs = n;
		for (uint32_t i = 0; i < n; i++)
			tmp->entries[i] =
				(struct kvm_msr_entry){ .index = list->indices[next + i] };
		got = ioctl(v->fd, KVM_GET_MSRS, tmp);
		if (got < 0)
			return -errno;
		memcpy(&out->entries[kept], tmp->entries, (size_t)got * sizeof(tmp->entries[0]));
		kept += (uint32_t)got;
		next += (uint32_t)got + 1;
	}
	out->nmsrs = kept;
	return 0;
}

static int save_msrs(struct vcpu *v, const struct kvm_msr_list *list, struct snapw *w,
		     struct err *err)
{
	size_t size = sizeof(struct kvm_msrs) + list->nmsrs * sizeof(struct kvm_msr_entry);
	struct kvm_msrs *m = calloc(1, size), *tmp = calloc(1, size);
	int ret = -ENOMEM;

	if (m && tmp)
		ret = read_msrs(v, list, m, tmp);
	if (ret == 0)
		snapw_put(w, TAG_MSRS, v->id, m->entries, m->nmsrs * sizeof(m->entries[0]));
	else
		err_set(err, ret, "vCPU %u: cannot read its MSRs: %s", v->id, strerror(-ret));
	free(tmp);
	free(m);
	return ret;
}

/*
 * What KVM keeps of one vCPU, in the order it is restored: the local APIC
 * before the MSRs (the TSC deadline lives in it), the pending events last.
 * XSAVE (its size depends on the host) and the MSRs (a list) are special.
 */
enum part_kind { PART_PLAIN, PART_XSAVE, PART_MSRS };

struct vcpu_part {
	enum part_kind kind;
	uint32_t tag;
	unsigned long get, set;
	const char *get_name, *set_name;
	size_t size;
	const char *what;
};

#define PLAIN(t, g, s, type, w)                                                                    \
	{                                                                                          \
		PART_PLAIN, (t), (g), (s), #g, #s, sizeof(type), (w)                               \
	}

static const struct vcpu_part vcpu_parts[] = {
	PLAIN(TAG_MP, KVM_GET_MP_STATE, KVM_SET_MP_STATE, struct kvm_mp_state, "run state"),
	PLAIN(TAG_REGS, KVM_GET_REGS, KVM_SET_REGS, struct kvm_regs, "register"),
	PLAIN(TAG_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, struct kvm_sregs, "segment register"),
	{ PART_XSAVE, TAG_XSAVE, 0, 0, NULL, NULL, 0, "XSAVE" },
	PLAIN(TAG_XCRS, KVM_GET_XCRS, KVM_SET_XCRS, struct kvm_xcrs, "XCR"),
	PLAIN(TAG_DREGS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, struct kvm_debugregs,
	      "debug register"),
	PLAIN(TAG_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, struct kvm_lapic_state, "local APIC"),
	{ PART_MSRS, TAG_MSRS, 0, 0, NULL, NULL, 0, "MSR" },
	PLAIN(TAG_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, struct kvm_vcpu_events,
	      "vCPU event"),
};

/* Room for the largest plain part. */
union vcpu_part_buf {
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_vcpu_events events;
};

static int save_part(struct vcpu *v, const struct vcpu_part *p, const struct kvm_msr_list *msrs,
		     size_t xsz, struct snapw *w, struct err *err)
{
	union vcpu_part_buf buf;
	int ret;

	if (p->kind == PART_XSAVE)
		return save_xsave(v, w, xsz, err);
	if (p->kind == PART_MSRS)
		return save_msrs(v, msrs, w, err);
	ret = kvm_ioctl_named(v->fd, p->get, &buf, p->get_name, err);
	if (ret == 0)
		snapw_put(w, p->tag, v->id, &buf, p->size);
	return ret;
}

static int save_vcpu(struct vcpu *v, const struct kvm_msr_list *msrs, size_t xsz, struct snapw *w,
		     struct err *err)
{
	int ret = 0, khz;
	uint32_t khz32;

	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(vcpu_parts); i++)
		ret = save_part(v, &vcpu_parts[i], msrs, xsz, w, err);
	if (ret < 0)
		return ret;
	khz = ioctl(v->fd, KVM_GET_TSC_KHZ);
	khz32 = khz > 0 ? (uint32_t)khz : 0;
	snapw_put(w, TAG_TSC, v->id, &khz32, sizeof(khz32));
	return 0;
}

static int save_vcpus(struct vm *vm, struct snapw *w, struct err *err)
{
	struct kvm_msr_list *msrs = NULL;
	size_t xsz = xsave_size(vm);
	int ret = msr_index_list(vm, &msrs, err);

	if (ret < 0)
		return ret;
	for (unsigned int i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = save_vcpu(vm->vcpus[i], msrs, xsz, w, err);
	free(msrs);
	return ret;
}

static int save_irqchips(struct vm *vm, struct snapw *w, struct err *err)
{
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock;
	int ret;

	for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_IOAPIC; chip++) {
		struct kvm_irqchip ic = { .chip_id = chip };

		ret = kvm_ioctl(vm->fd, KVM_GET_IRQCHIP, &ic, err);
		if (ret < 0)
			return ret;
		snapw_put(w, TAG_IRQCHIP, chip, &ic, sizeof(ic));
	}
	ret = kvm_ioctl(vm->fd, KVM_GET_PIT2, &pit, err);
	if (ret == 0)
		ret = kvm_ioctl(vm->fd, KVM_GET_CLOCK, &clock, err);
	if (ret < 0)
		return ret;
	snapw_put(w, TAG_PIT, 0, &pit, sizeof(pit));
	snapw_put(w, TAG_CLOCK, 0, &clock, sizeof(clock));
	return 0;
}

static int save_devices(struct vm *vm, struct snapw *w, struct err *err)
{
	struct x86_machine *m = vm->machine;
	struct serial_state com1;
	struct i8042_state kbd;
	struct rtc_state rtc;
	int ret = 0;

	serial_save(m->com1, &com1);
	i8042_save(m->i8042, &kbd);
	rtc_save(m->rtc, &rtc);
	snapw_put(w, TAG_COM1, 0, &com1, sizeof(com1));
	snapw_put(w, TAG_I8042, 0, &kbd, sizeof(kbd));
	snapw_put(w, TAG_RTC, 0, &rtc, sizeof(rtc));
	for (unsigned int i = 0; ret == 0 && i < m->virtio.count; i++)
		ret = virtio_mmio_save(m->virtio.slots[i].mmio, w, i, err);
	return ret;
}

int arch_snapshot_save(struct vm *vm, struct snapw *w, struct err *err)
{
	int ret = save_devices(vm, w, err);

	if (ret == 0)
		ret = save_irqchips(vm, w, err);
	return ret < 0 ? ret : save_vcpus(vm, w, err);
}

/* --- restoring --------------------------------------------------------- */

#define GET(r, tag, inst, var, what, err)                                                          \
	snapr_get((r), (tag), (inst), &(var), sizeof(var), (what), (err))

static int restore_xsave(struct vcpu *v, const struct snapr *r, size_t xsz, struct err *err)
{
	size_t len;
	const void *p = snapr_find(r, TAG_XSAVE, v->id, &len);
	struct kvm_xsave *x;
	int ret;

	if (!p)
		return err_set(err, -EINVAL, "snapshot has no XSAVE state for vCPU %u", v->id);
	if (len != xsz)
		return err_set(err, -EINVAL,
			       "snapshot's XSAVE area is %zu bytes, this host's %zu: a different "
			       "CPU",
			       len, xsz);
	x = malloc(len);
	if (!x)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(x, p, len);
	ret = kvm_ioctl(v->fd, KVM_SET_XSAVE, x, err);
	free(x);
	return ret;
}

static int set_msrs(struct vcpu *v, const struct kvm_msr_entry *e, uint32_t n, struct err *err)
{
	struct kvm_msrs *m;
	int ret;

	if (n == 0)
		return 0;
	m = calloc(1, sizeof(*m) + n * sizeof(*e));
	if (!m)
		return err_set(err, -ENOMEM, "out of memory");
	m->nmsrs = n;
	memcpy(m->entries, e, n * sizeof(*e));
	ret = ioctl(v->fd, KVM_SET_MSRS, m);
	if (ret < 0)
		ret = err_set(err, -errno, "vCPU %u: KVM_SET_MSRS: %s", v->id, strerror(errno));
	else if ((uint32_t)ret < n)
		ret = err_set(err, -EINVAL, "vCPU %u: this host refuses MSR 0x%x of the snapshot",
			      v->id, e[ret].index);
	else
		ret = 0;
	free(m);
	return ret;
}

/* The TSC deadline goes after the TSC, or KVM measures it against the wrong clock. */
static int restore_msrs(struct vcpu *v, const struct snapr *r, struct err *err)
{
	size_t len;
	const void *p = snapr_find(r, TAG_MSRS, v->id, &len);
	struct kvm_msr_entry *e;
	uint32_t n, last = 0;
	int ret;

	if (!p || len % sizeof(*e) || len / sizeof(*e) > MAX_MSRS)
		return err_set(err, -EINVAL, "snapshot's MSRs for vCPU %u are not valid", v->id);
	n = (uint32_t)(len / sizeof(*e));
	e = malloc(len + sizeof(*e));
	if (!e)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(e, p, len);
	for (uint32_t i = 0; i < n; i++)
		if (e[i].index == MSR_IA32_TSC_DEADLINE) {
			e[n] = e[i];
			memmove(&e[i], &e[i + 1], (n - i - 1) * sizeof(*e) + sizeof(*e));
			last = 1;
			break;
		}
	ret = set_msrs(v, e, n - last, err);
	if (ret == 0)
		ret = set_msrs(v, &e[n - last], last, err);
	free(e);
	return ret;
}

static void restore_tsc_khz(struct vcpu *v, const struct snapr *r)
{
	uint32_t khz = 0;
	struct err ignored = { { 0 } };
	int now;

	if (GET(r, TAG_TSC, v->id, khz, "TSC", &ignored) < 0 || khz == 0)
		return;
	now = ioctl(v->fd, KVM_GET_TSC_KHZ);
	if (now > 0 && (uint32_t)now == khz)
		return;
	if (ioctl(v->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		log_warn("vCPU %u: cannot set the TSC to the snapshot's %u kHz (%d kHz here): "
			 "the guest's clock may drift",
			 v->id, khz, now);
}

static int restore_part(struct vcpu *v, const struct vcpu_part *p, const struct snapr *r,
			size_t xsz, struct err *err)
{
	union vcpu_part_buf buf;
	int ret;

	if (p->kind == PART_XSAVE)
		return restore_xsave(v, r, xsz, err);
	if (p->kind == PART_MSRS)
		return restore_msrs(v, r, err);
	ret = snapr_get(r, p->tag, v->id, &buf, p->size, p->what, err);
	return ret < 0 ? ret : kvm_ioctl_named(v->fd, p->set, &buf, p->set_name, err);
}

static int restore_vcpu(struct vcpu *v, const struct snapr *r, size_t xsz, struct err *err)
{
	int ret = 0;

	restore_tsc_khz(v, r);
	for (size_t i = 0; ret == 0 && i < ARRAY_SIZE(vcpu_parts); i++)
		ret = restore_part(v, &vcpu_parts[i], r, xsz, err);
	return ret;
}

static int restore_irqchips(struct vm *vm, const struct snapr *r, struct err *err)
{
	struct kvm_pit_state2 pit;
	int ret;

	for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_IOAPIC; chip++) {
		struct kvm_irqchip ic;

		ret = GET(r, TAG_IRQCHIP, chip, ic, "interrupt controller", err);
		if (ret == 0 && ic.chip_id != chip)
			ret = err_set(err, -EINVAL,
				      "snapshot's interrupt controllers are mixed up");
		if (ret == 0)
			ret = kvm_ioctl(vm->fd, KVM_SET_IRQCHIP, &ic, err);
		if (ret < 0)
			return ret;
	}
	ret = GET(r, TAG_PIT, 0, pit, "PIT", err);
	return ret < 0 ? ret : kvm_ioctl(vm->fd, KVM_SET_PIT2, &pit, err);
}

/* The guest's clock goes on from the snapshot's reading, not from this host's boot. */
static int restore_clock(struct vm *vm, const struct snapr *r, struct err *err)
{
	struct kvm_clock_data saved, set = { 0 };
	int ret = GET(r, TAG_CLOCK, 0, saved, "KVM clock", err);

	set.clock = saved.clock;
	return ret < 0 ? ret : kvm_ioctl(vm->fd, KVM_SET_CLOCK, &set, err);
}

static int restore_devices(struct vm *vm, const struct snapr *r, struct err *err)
{
	struct x86_machine *m = vm->machine;
	struct serial_state com1;
	struct i8042_state kbd;
	struct rtc_state rtc;
	int ret;

	ret = GET(r, TAG_COM1, 0, com1, "serial port", err);
	if (ret == 0 && serial_restore(m->com1, &com1) < 0)
		ret = err_set(err, -EINVAL, "snapshot's serial port state is not valid");
	if (ret == 0)
		ret = GET(r, TAG_I8042, 0, kbd, "keyboard controller", err);
	if (ret == 0 && i8042_restore(m->i8042, &kbd) < 0)
		ret = err_set(err, -EINVAL, "snapshot's keyboard controller state is not valid");
	if (ret == 0)
		ret = GET(r, TAG_RTC, 0, rtc, "RTC", err);
	if (ret < 0)
		return ret;
	rtc_restore(m->rtc, &rtc);
	for (unsigned int i = 0; ret == 0 && i < m->virtio.count; i++)
		ret = virtio_mmio_restore(m->virtio.slots[i].mmio, r, i, err);
	return ret;
}

/*
 * Interrupt controllers first: devices that raise a line while being
 * restored (a UART with data, a virtio event) must find them in place.
 */
int arch_snapshot_restore(struct vm *vm, const struct snapr *r, struct err *err)
{
	size_t xsz = xsave_size(vm);
	int ret = restore_irqchips(vm, r, err);

	for (unsigned int i = 0; ret == 0 && i < vm->nr_vcpus; i++)
		ret = restore_vcpu(vm->vcpus[i], r, xsz, err);
	if (ret == 0)
		ret = restore_devices(vm, r, err);
	return ret < 0 ? ret : restore_clock(vm, r, err);
}

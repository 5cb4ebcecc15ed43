#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "kvm/kvm.h"

const struct kvm_cap_desc kvm_caps[] = {
	{ KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY", "guest RAM from user memory", true },
	{ KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP", "in-kernel PIC, IOAPIC and local APICs", true },
	{ KVM_CAP_PIT2, "KVM_CAP_PIT2", "in-kernel PIT", true },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR", "real-mode TSS on VMX", true },
	{ KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR",
	  "identity page table on VMX", true },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID", "CPUID set from user space", true },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "race-free vCPU kick", true },
	{ KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE", "INIT/SIPI bring-up of secondary vCPUs", true },
	{ KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING", "interrupt routing", true },
	{ KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD", "virtio notifications without user exits",
	  false },
	{ KVM_CAP_IRQFD, "KVM_CAP_IRQFD", "virtio interrupts from I/O threads", false },
	{ KVM_CAP_EXIT_ON_EMULATION_FAILURE, "KVM_CAP_EXIT_ON_EMULATION_FAILURE",
	  "instruction bytes in emulation-failure reports", false },
	{ KVM_CAP_TSC_DEADLINE_TIMER, "KVM_CAP_TSC_DEADLINE_TIMER", "TSC-deadline APIC timer",
	  false },
	{ KVM_CAP_XSAVE, "KVM_CAP_XSAVE", "extended FPU state (snapshots)", false },
	{ KVM_CAP_VCPU_EVENTS, "KVM_CAP_VCPU_EVENTS", "pending events (snapshots)", false },
};
const unsigned int kvm_caps_count = ARRAY_SIZE(kvm_caps);

int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name, struct err *err)
{
	int ret;

	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return err_set(err, -errno, "%s failed: %s", name, strerror(errno));
	return ret;
}

int kvm_check_cap(int fd, long cap)
{
	int ret = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return ret < 0 ? 0 : ret;
}

static int kvm_check_caps(struct kvm_host *k, struct err *err)
{
	for (unsigned int i = 0; i < kvm_caps_count; i++) {
		if (kvm_caps[i].required && kvm_check_cap(k->fd, kvm_caps[i].cap) <= 0)
			return err_set(err, -ENOTSUP, "KVM lacks %s (needed for %s)",
				       kvm_caps[i].name, kvm_caps[i].purpose);
	}
	return 0;
}

int kvm_open(struct kvm_host *k, struct err *err)
{
	int ret;

	memset(k, 0, sizeof(*k));
	k->fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (k->fd < 0) {
		ret = -errno;
		if (errno == ENOENT)
			return err_set(err, ret,
				       "%s does not exist: load the kvm module or enable "
				       "virtualization in the firmware",
				       KVM_DEVICE_PATH);
		return err_set(err, ret, "cannot open %s: %s", KVM_DEVICE_PATH, strerror(errno));
	}
	k->api_version = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (k->api_version < 0) {
		ret = err_set(err, -ENOTTY, "%s is not a KVM device (KVM_GET_API_VERSION: %s)",
			      KVM_DEVICE_PATH, strerror(errno));
		goto fail;
	}
	if (k->api_version != KVM_API_VERSION) {

		ret = err_set(err, -ENOTSUP, "KVM API version %d, ember needs %d", k->api_version,
			      KVM_API_VERSION);
		goto fail;
	}
	ret = kvm_check_caps(k, err);
	if (ret < 0)
		goto fail;
	k->vcpu_mmap_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->vcpu_mmap_size < (int)sizeof(struct kvm_run)) {
		ret = err_set(err, -ENOTSUP, "KVM_GET_VCPU_MMAP_SIZE returned %d",
			      k->vcpu_mmap_size);
		goto fail;
	}
	k->max_vcpus = (unsigned int)kvm_check_cap(k->fd, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus == 0)
		k->max_vcpus = (unsigned int)kvm_check_cap(k->fd, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus == 0)
		k->max_vcpus = 4; /* api.rst: assume 4 when neither capability exists */
	return 0;
fail:
	close(k->fd);
	k->fd = -1;
	return ret;
}

void kvm_close(struct kvm_host *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

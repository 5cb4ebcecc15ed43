/*
 * The host side of KVM: /dev/kvm, its API version and capabilities, and the
 * ioctl wrapper every module uses. The wrapper checks at compile time that
 * the argument's size matches the size encoded in the ioctl number, and
 * names the ioctl in the error message on failure.
 */
#ifndef EMBER_KVM_KVM_H
#define EMBER_KVM_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include "util/compiler.h"
#include "util/err.h"

#define KVM_DEVICE_PATH "/dev/kvm"

struct kvm_host {
	int fd;
	int api_version;
	int vcpu_mmap_size;
	unsigned int max_vcpus;
};

struct kvm_cap_desc {
	long cap;
	const char *name;
	const char *purpose;
	bool required;
};

extern const struct kvm_cap_desc kvm_caps[];
extern const unsigned int kvm_caps_count;

int kvm_ioctl_named(int fd, unsigned long req, void *arg, const char *name,
		    struct err *err) __must_check;

#define kvm_ioctl(fd, req, arg, err)                                                               \
	({                                                                                         \
		_Static_assert(_IOC_SIZE(req) == sizeof(*(arg)), #req ": argument size");          \
		kvm_ioctl_named((fd), (req), (arg), #req, (err));                                  \
	})

/* For ioctls that take an integer argument (or none). */
#define kvm_ioctl_val(fd, req, val, err)                                                           \
	kvm_ioctl_named((fd), (req), (void *)(uintptr_t)(val), #req, (err))

/* Opens /dev/kvm and checks the API version and every required capability. */
int kvm_open(struct kvm_host *k, struct err *err) __must_check;
void kvm_close(struct kvm_host *k);

/* KVM_CHECK_EXTENSION on any KVM fd: >0 supported (often a count), 0 not. */
int kvm_check_cap(int fd, long cap);

#endif

/*
 * A virtual CPU and the thread that runs it. The thread only touches its own
 * struct vcpu, the frozen buses and device state behind the devices' locks.
 */
#ifndef EMBER_KVM_VCPU_H
#define EMBER_KVM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

struct vm;
struct kvm_run;

struct vcpu {
	struct vm *vm; /* borrowed */
	unsigned int id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	atomic_bool thread_started; /* read by whichever thread kicks */
};

int vcpu_create(struct vm *vm, unsigned int id, struct vcpu **out, struct err *err) __must_check;
void vcpu_destroy(struct vcpu *v);

/* Installs the kick signal handler; call once before starting threads. */
int vcpu_signals_init(void) __must_check;

int vcpu_start(struct vcpu *v, struct err *err) __must_check;

/* Makes a running vCPU leave KVM_RUN soon; safe from any thread. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);

#endif

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/arch.h"
#include "kvm/vcpu.h"
#include "sandbox/seccomp.h"
#include "kvm/vm.h"
#include "util/log.h"

#define VCPU_STACK_SIZE (256 * 1024)

/*
 * The kick: a real-time signal whose handler sets immediate_exit in this
 * thread's kvm_run. If it lands while the thread is in user space, the next
 * KVM_RUN returns EINTR at once, so no stop request can be missed
 * (api.rst, "immediate_exit").
 */
static __thread struct kvm_run *tls_run;

static int vcpu_kick_signal(void)
{
	return SIGRTMIN;
}

static void vcpu_kick_handler(int sig)
{
	(void)sig;
	if (tls_run)
		tls_run->immediate_exit = 1;
}

int vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = vcpu_kick_handler;
	sigemptyset(&sa.sa_mask);
	if (sigaction(vcpu_kick_signal(), &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vcpu_create(struct vm *vm, unsigned int id, struct vcpu **out, struct err *err)
{
	struct vcpu *v;
	void *run;
	int ret;

	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = kvm_ioctl_val(vm->fd, KVM_CREATE_VCPU, id, err);
	if (v->fd < 0) {
		ret = v->fd;
		goto fail_free;
	}
	v->run_size = (size_t)vm->kvm->vcpu_mmap_size;
	run = mmap(NULL, v->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (run == MAP_FAILED) {
		ret = err_set(err, -errno, "vcpu%u: cannot map kvm_run: %s", id, strerror(errno));
		goto fail_close;
	}
	v->run = run;
	*out = v;
	return 0;

fail_close:
	close(v->fd);
fail_free:
	free(v);
	return ret;
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	if (v->run)
		munmap(v->run, v->run_size);
	if (v->fd >= 0)
		close(v->fd);
	free(v);
}

/*
 * An I/O or MMIO exit is complete only once KVM_RUN is entered again
 * (api.rst, the note after KVM_EXIT_IO...): until then the registers stand
 * before the instruction, and a snapshot or a migration taken meanwhile
 * would replay it (a byte written to the UART twice, a value read lost).
 * Entered with immediate_exit set, KVM finishes the access and returns at
 * once, running no guest code.
 */
static void vcpu_complete_pending(struct vcpu *v)
{
	v->run->immediate_exit = 1;
	if (ioctl(v->fd, KVM_RUN, 0) < 0 && errno != EINTR && errno != EAGAIN)
		log_warn("vcpu%u: completing its last exit: %s", v->id, strerror(errno));
	v->run->immediate_exit = 0;
}

static void vcpu_loop(struct vcpu *v)
{
	struct vm *vm = v->vm;

	while (vm_stop_reason(vm) == VM_RUNNING) {
		if (atomic_load(&vm->pause_wanted)) {
			vcpu_complete_pending(v);
			vm_vcpu_park(vm);
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				v->run->immediate_exit = 0;
				continue;
			}
			vm_request_stop(vm, VM_STOP_ERROR, "vcpu%u: KVM_RUN failed: %s", v->id,
					strerror(errno));
			return;
		}
		if (arch_vcpu_handle_exit(v) < 0)
			return;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct err err = { { 0 } };
	char name[16];
	sigset_t set;

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	log_name_thread(name);
	tls_run = v->run;
	sigemptyset(&set);
	sigaddset(&set, vcpu_kick_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	if (seccomp_apply(SC_VCPU, &err) < 0) {
		vm_request_stop(v->vm, VM_STOP_ERROR, "vcpu%u: %s", v->id, err.msg);
		return NULL;
	}
	vcpu_loop(v);

	tls_run = NULL;
	return NULL;
}

int vcpu_start(struct vcpu *v, struct err *err)
{
	pthread_attr_t attr;
	int ret;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, VCPU_STACK_SIZE);
	ret = pthread_create(&v->thread, &attr, vcpu_thread, v);
	pthread_attr_destroy(&attr);
	if (ret != 0)
		return err_set(err, -ret, "vcpu%u: cannot create thread: %s", v->id, strerror(ret));
	v->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	if (v->thread_started)
		pthread_kill(v->thread, vcpu_kick_signal());
}

void vcpu_join(struct vcpu *v)
{
	if (!v->thread_started)
		return;
	pthread_join(v->thread, NULL);
	v->thread_started = false;
}

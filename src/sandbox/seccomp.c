#include <errno.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "sandbox/seccomp.h"

static atomic_int sc_level;

void seccomp_set_level(int level)
{
	atomic_store(&sc_level, level);
}

int seccomp_get_level(void)
{
	return atomic_load(&sc_level);
}

/* What every thread does: memory, locks, signals, time, logging, ending. */
static const int sys_common[] = {
	SCMP_SYS(read),		 SCMP_SYS(write),
	SCMP_SYS(readv),	 SCMP_SYS(writev),
	SCMP_SYS(close),	 SCMP_SYS(futex),
	SCMP_SYS(exit),		 SCMP_SYS(exit_group),
	SCMP_SYS(rt_sigreturn),	 SCMP_SYS(rt_sigprocmask),
	SCMP_SYS(mmap),		 SCMP_SYS(munmap),
	SCMP_SYS(mprotect),	 SCMP_SYS(madvise),
	SCMP_SYS(mremap),	 SCMP_SYS(brk),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_nanosleep),
	SCMP_SYS(nanosleep),	 SCMP_SYS(gettid),
	SCMP_SYS(getpid),	 SCMP_SYS(tgkill),
	SCMP_SYS(sched_yield),	 SCMP_SYS(restart_syscall),
	SCMP_SYS(epoll_ctl),	 SCMP_SYS(timerfd_settime),
	SCMP_SYS(getrandom),
};

/* vCPU exits reach devices: interrupts, tap offloads and vhost on activation, resets. */
static const int sys_vcpu[] = { SCMP_SYS(ioctl), SCMP_SYS(io_uring_enter) };

/* Queues, backends (io_uring, tap, vsock's Unix sockets), timers, entropy. */
static const int sys_device[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait), SCMP_SYS(io_uring_enter), SCMP_SYS(getrandom),
	SCMP_SYS(sendmsg),    SCMP_SYS(recvmsg),     SCMP_SYS(accept4),	       SCMP_SYS(socket),
	SCMP_SYS(connect),    SCMP_SYS(shutdown),
};

/* libmicrohttpd's loop on the API socket; a log file opened by PUT /logger. */
static const int sys_api[] = {
	SCMP_SYS(poll),	      SCMP_SYS(ppoll),	    SCMP_SYS(accept4),	   SCMP_SYS(accept),
	SCMP_SYS(recvfrom),   SCMP_SYS(sendto),	    SCMP_SYS(sendmsg),	   SCMP_SYS(shutdown),
	SCMP_SYS(setsockopt), SCMP_SYS(getsockopt), SCMP_SYS(getsockname), SCMP_SYS(fcntl),
	SCMP_SYS(openat),     SCMP_SYS(ioctl),
};

/*
 * The control loop, snapshots (creating a file beside the target, writing
 * it, renaming it over), migration (connecting to the receiver, handing the
 * disks' locks over), then tearing the VM down and ending ember.
 */
static const int sys_main[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),	SCMP_SYS(ioctl),   SCMP_SYS(unlink),
	SCMP_SYS(shutdown),   SCMP_SYS(io_uring_enter), SCMP_SYS(fcntl),   SCMP_SYS(openat),
	SCMP_SYS(ftruncate),  SCMP_SYS(pwrite64),	SCMP_SYS(rename),  SCMP_SYS(renameat),
	SCMP_SYS(renameat2),  SCMP_SYS(socket),		SCMP_SYS(connect), SCMP_SYS(setsockopt),
	SCMP_SYS(flock),
};

/* ioctl requests, level 2. */
static const unsigned long ioctl_vcpu[] = {
	KVM_RUN,
	KVM_IRQ_LINE,
	KVM_GET_REGS,
	KVM_GET_SREGS,
	TUNSETOFFLOAD,
	VHOST_SET_FEATURES,
	VHOST_SET_MEM_TABLE,
	VHOST_SET_VRING_NUM,
	VHOST_SET_VRING_BASE,
	VHOST_SET_VRING_ADDR,
	VHOST_SET_VRING_CALL,
	VHOST_SET_VRING_KICK,
	VHOST_GET_VRING_BASE,
	VHOST_VSOCK_SET_RUNNING,
};
static const unsigned long ioctl_main[] = {
	KVM_IRQ_LINE,
	/* a snapshot reads the parked vCPUs and the VM */
	KVM_GET_MP_STATE,
	KVM_GET_REGS,
	KVM_GET_SREGS,
	KVM_GET_XSAVE,
	KVM_GET_XSAVE2,
	KVM_GET_XCRS,
	KVM_GET_DEBUGREGS,
	KVM_GET_LAPIC,
	KVM_GET_MSRS,
	KVM_GET_MSR_INDEX_LIST,
	KVM_GET_VCPU_EVENTS,
	KVM_GET_TSC_KHZ,
	KVM_GET_IRQCHIP,
	KVM_GET_PIT2,
	KVM_GET_CLOCK,
	KVM_CHECK_EXTENSION,
	/* migration: the dirty log */
	KVM_SET_USER_MEMORY_REGION,
	KVM_GET_DIRTY_LOG,
	TCGETS,
	TCSETS,
	TCSETSW,
	TCSETSF,
	TUNSETOFFLOAD,
	VHOST_GET_VRING_BASE,
	VHOST_SET_VRING_KICK,
	VHOST_VSOCK_SET_RUNNING,
};
static const unsigned long ioctl_api[] = { FIONBIO };

/*
 * Sanitizer builds (tests only): the ASan/LSan runtime, at a report or at
 * exit, stops the world with ptrace from a cloned thread.
 */
static const int sys_sanitizer[] = {
	SCMP_SYS(clone),	SCMP_SYS(clone3),
	SCMP_SYS(ptrace),	SCMP_SYS(wait4),
	SCMP_SYS(prctl),	SCMP_SYS(sigaltstack),
	SCMP_SYS(openat),	SCMP_SYS(readlink),
	SCMP_SYS(getppid),	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(newfstatat),	SCMP_SYS(fstat),
	SCMP_SYS(rt_sigaction), SCMP_SYS(getrlimit),
	SCMP_SYS(prlimit64),	SCMP_SYS(kill),
	SCMP_SYS(pipe2),	SCMP_SYS(getdents64),
	SCMP_SYS(lseek),	SCMP_SYS(dup2),
};

struct sc_policy {
	const char *name;
	const int *sys;
	unsigned int nsys;
	const unsigned long *ioctls; /* NULL: no ioctl in the list */
	unsigned int nioctls;
};

static const struct sc_policy policies[SC_ROLES] = {
	[SC_MAIN] = { "main", sys_main, ARRAY_SIZE(sys_main), ioctl_main, ARRAY_SIZE(ioctl_main) },
	[SC_VCPU] = { "vcpu", sys_vcpu, ARRAY_SIZE(sys_vcpu), ioctl_vcpu, ARRAY_SIZE(ioctl_vcpu) },
	[SC_DEVICE] = { "device", sys_device, ARRAY_SIZE(sys_device), NULL, 0 },
	[SC_API] = { "api", sys_api, ARRAY_SIZE(sys_api), ioctl_api, ARRAY_SIZE(ioctl_api) },
};

const char *seccomp_role_name(enum sc_role role)
{
	return policies[role].name;
}

unsigned int seccomp_count(enum sc_role role)
{
	return ARRAY_SIZE(sys_common) + policies[role].nsys;
}

static int add_all(scmp_filter_ctx ctx, const int *sys, unsigned int n, int skip)
{
	int ret = 0;

	for (unsigned int i = 0; i < n && ret == 0; i++)
		if (sys[i] != skip)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	return ret == -EEXIST ? 0 : ret; /* a call on two lists */
}

/* At level 2 an ioctl is allowed for the listed requests only. */
static int add_ioctls(scmp_filter_ctx ctx, const struct sc_policy *p)
{
	int ret = 0;

	for (unsigned int i = 0; i < p->nioctls && ret == 0; i++) {
		struct scmp_arg_cmp request = { .arg = 1,
						.op = SCMP_CMP_EQ,
						.datum_a = p->ioctls[i] };

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, &request);
	}
	return ret;
}

static int build(scmp_filter_ctx ctx, const struct sc_policy *p, int level)
{
	int ret = add_all(ctx, sys_common, ARRAY_SIZE(sys_common), -1);

	if (ret == 0)
		ret = add_all(ctx, p->sys, p->nsys, level >= 2 ? SCMP_SYS(ioctl) : -1);
	if (ret == 0 && level >= 2)
		ret = add_ioctls(ctx, p);
#ifdef EMBER_SANITIZER
	if (ret == 0)
		ret = add_all(ctx, sys_sanitizer, ARRAY_SIZE(sys_sanitizer), -1);
#else
	(void)sys_sanitizer;
#endif
	return ret;
}

int seccomp_apply(enum sc_role role, struct err *err)
{
	int level = seccomp_get_level();
	scmp_filter_ctx ctx;
	int ret;

	if (level <= 0)
		return 0;
	ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
	if (!ctx)
		return err_set(err, -ENOMEM, "seccomp: out of memory");
	ret = build(ctx, &policies[role], level);
	/* libseccomp sets no_new_privs first, as the kernel requires of an unprivileged caller. */
	if (ret == 0)
		ret = seccomp_load(ctx);
	seccomp_release(ctx);
	if (ret < 0)
		return err_set(err, ret, "seccomp: cannot filter the %s thread: %s",
			       policies[role].name, strerror(-ret));
	return 0;
}

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <linux/vhost.h>
#include <seccomp.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
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

/*
 * vCPU exits reach devices: interrupts, tap offloads and vhost on activation,
 * resets; the UART waits a little (poll) for a full non-blocking terminal.
 */
static const int sys_vcpu[] = { SCMP_SYS(ioctl), SCMP_SYS(io_uring_enter), SCMP_SYS(poll) };

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
 * disks' locks over), the console socket's clients (accepted, made stdin and
 * stdout), then tearing the VM down and ending ember.
 */
static const int sys_main[] = {
	SCMP_SYS(epoll_wait), SCMP_SYS(epoll_pwait),	SCMP_SYS(ioctl),   SCMP_SYS(unlink),
	SCMP_SYS(shutdown),   SCMP_SYS(io_uring_enter), SCMP_SYS(fcntl),   SCMP_SYS(openat),
	SCMP_SYS(ftruncate),  SCMP_SYS(pwrite64),	SCMP_SYS(rename),  SCMP_SYS(renameat),
	SCMP_SYS(renameat2),  SCMP_SYS(socket),		SCMP_SYS(connect), SCMP_SYS(setsockopt),
	SCMP_SYS(flock),      SCMP_SYS(accept4),	SCMP_SYS(dup2),	   SCMP_SYS(poll),
	SCMP_SYS(getsockopt),
};

/* ioctl requests, level 2. A vhost-vsock's activation: its rings go to the kernel. */
#define VHOST_ACTIVATION                                                                           \
	VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM, VHOST_SET_VRING_BASE,        \
		VHOST_SET_VRING_ADDR, VHOST_SET_VRING_CALL, VHOST_SET_VRING_KICK,                  \
		VHOST_GET_VRING_BASE, VHOST_VSOCK_SET_RUNNING

static const unsigned long ioctl_vcpu[] = {
	KVM_RUN, KVM_IRQ_LINE, KVM_GET_REGS, KVM_GET_SREGS, TUNSETOFFLOAD, VHOST_ACTIVATION,
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
	/* tap offloads; a persistent tap attached to again after a failed migration */
	TUNSETOFFLOAD,
	TUNSETIFF,
	TUNSETVNETHDRSZ,
	/*
	 * vhost-vsock: paused, snapshotted, held for a migration, stopped at
	 * tear-down; and a new one after a migration failed past the hand-over
	 */
	VHOST_SET_OWNER,
	VHOST_GET_FEATURES,
	VHOST_VSOCK_SET_GUEST_CID,
	VHOST_ACTIVATION,
};
static const unsigned long ioctl_api[] = { FIONBIO };

/*
 * Sanitizer builds (tests only): the ASan/LSan runtime, at a report or at
 * exit, stops the world with ptrace from a cloned thread.
 */
static const int sys_sanitizer[] = {
	SCMP_SYS(clone),
	SCMP_SYS(clone3),
	SCMP_SYS(ptrace),
	SCMP_SYS(wait4),
	SCMP_SYS(prctl),
	SCMP_SYS(sigaltstack),
	SCMP_SYS(openat),
	SCMP_SYS(readlink),
	SCMP_SYS(open),
	SCMP_SYS(getppid),
	SCMP_SYS(sched_getaffinity),
	SCMP_SYS(newfstatat),
	SCMP_SYS(fstat),
	SCMP_SYS(rt_sigaction),
	SCMP_SYS(getrlimit),
	SCMP_SYS(prlimit64),
	SCMP_SYS(kill),
	SCMP_SYS(pipe2),
	SCMP_SYS(getdents64),
	SCMP_SYS(getdents),
	SCMP_SYS(lseek),
	SCMP_SYS(dup2),
};

/*
 * futex operations, level 2, for every thread: waits and wakes, not the
 * priority-inheritance operations (the kernel's most error-prone futex
 * code, behind CVE-2014-3153; glibc uses them only for PI mutexes, which
 * ember has none of). The private and realtime-clock flags may come with any.
 */
static const unsigned long futex_ops[] = {
	FUTEX_WAIT,    FUTEX_WAKE,	  FUTEX_REQUEUE,     FUTEX_CMP_REQUEUE,
	FUTEX_WAKE_OP, FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET,
};
#define FUTEX_FLAGS (FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)

/*
 * fcntl commands, level 2, where a thread may call fcntl at all: the
 * descriptor and status flags (close-on-exec, non-blocking), no duplicates,
 * locks, leases, owners or signals.
 */
static const unsigned long fcntl_cmds[] = { F_GETFD, F_SETFD, F_GETFL, F_SETFL };

/* Socket families, level 2: migration's Unix or TCP sockets; vsock's Unix ones. */
static const unsigned long domains_main[] = { AF_UNIX, AF_INET, AF_INET6 };
static const unsigned long domains_device[] = { AF_UNIX };

struct sc_policy {
	const char *name;
	const int *sys;
	unsigned int nsys;
	const unsigned long *ioctls; /* NULL: no ioctl in the list */
	unsigned int nioctls;
	const unsigned long *domains; /* socket()'s first argument; NULL: no socket() */
	unsigned int ndomains;
};

#define LIST(a) a, ARRAY_SIZE(a)

static const struct sc_policy policies[SC_ROLES] = {
	[SC_MAIN] = { "main", LIST(sys_main), LIST(ioctl_main), LIST(domains_main) },
	[SC_VCPU] = { "vcpu", LIST(sys_vcpu), LIST(ioctl_vcpu), NULL, 0 },
	[SC_DEVICE] = { "device", LIST(sys_device), NULL, 0, LIST(domains_device) },
	[SC_API] = { "api", LIST(sys_api), LIST(ioctl_api), NULL, 0 },
};

const char *seccomp_role_name(enum sc_role role)
{
	return policies[role].name;
}

unsigned int seccomp_count(enum sc_role role)
{
	return ARRAY_SIZE(sys_common) + policies[role].nsys;
}

unsigned int seccomp_ioctl_count(enum sc_role role)
{
	return policies[role].nioctls;
}

/* Level 2: the calls allowed only with some argument values (add_arg_rules). */
static bool argument_checked(int sys)
{
	return sys == SCMP_SYS(ioctl) || sys == SCMP_SYS(socket) || sys == SCMP_SYS(mmap) ||
	       sys == SCMP_SYS(mprotect) || sys == SCMP_SYS(futex) || sys == SCMP_SYS(fcntl);
}

static bool policy_allows(const struct sc_policy *p, int sys)
{
	for (unsigned int i = 0; i < p->nsys; i++)
		if (p->sys[i] == sys)
			return true;
	return false;
}

static int add_all(scmp_filter_ctx ctx, const int *sys, unsigned int n, int level)
{
	int ret = 0;

	for (unsigned int i = 0; i < n && ret == 0; i++)
		if (level < 2 || !argument_checked(sys[i]))
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, sys[i], 0);
	return ret == -EEXIST ? 0 : ret; /* a call on two lists */
}

/*
 * `sys` allowed when argument `arg`, its bits in `mask` (all 32 of an int
 * argument when 0; the kernel ignores the upper half), is one of `values`.
 */
static int add_masked_values(scmp_filter_ctx ctx, int sys, unsigned int arg, unsigned long mask,
			     const unsigned long *values, unsigned int n)
{
	int ret = 0;

	for (unsigned int i = 0; i < n && ret == 0; i++) {
		struct scmp_arg_cmp cmp = { .arg = arg,
					    .op = SCMP_CMP_MASKED_EQ,
					    .datum_a = mask ? mask : 0xffffffffUL,
					    .datum_b = values[i] };

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, sys, 1, &cmp);
	}
	return ret;
}

/* `sys` allowed when argument `arg` is one of `values`. */
static int add_values(scmp_filter_ctx ctx, int sys, unsigned int arg, const unsigned long *values,
		      unsigned int n)
{
	int ret = 0;

	for (unsigned int i = 0; i < n && ret == 0; i++) {
		struct scmp_arg_cmp cmp = { .arg = arg, .op = SCMP_CMP_EQ, .datum_a = values[i] };

		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, sys, 1, &cmp);
	}
	return ret;
}

/*
 * Level 2: ioctl for the listed requests only, socket for the listed
 * families only, futex and fcntl for the listed operations only, and no
 * executable memory: mmap and mprotect without PROT_EXEC, so a thread taken
 * over cannot make code of its data.
 */
static int add_arg_rules(scmp_filter_ctx ctx, const struct sc_policy *p)
{
	struct scmp_arg_cmp no_exec = {
		.arg = 2, .op = SCMP_CMP_MASKED_EQ, .datum_a = PROT_EXEC, .datum_b = 0
	};
	int ret = add_values(ctx, SCMP_SYS(ioctl), 1, p->ioctls, p->nioctls);

	if (ret == 0)
		ret = add_values(ctx, SCMP_SYS(socket), 0, p->domains, p->ndomains);
	if (ret == 0)
		ret = add_masked_values(ctx, SCMP_SYS(futex), 1, 0xffffffffUL & ~FUTEX_FLAGS,
					LIST(futex_ops));
	if (ret == 0 && policy_allows(p, SCMP_SYS(fcntl)))
		ret = add_masked_values(ctx, SCMP_SYS(fcntl), 1, 0, LIST(fcntl_cmds));
	if (ret == 0)
		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, &no_exec);
	if (ret == 0)
		ret = seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, &no_exec);
	return ret;
}

static int build(scmp_filter_ctx ctx, const struct sc_policy *p, int level)
{
	int ret = add_all(ctx, sys_common, ARRAY_SIZE(sys_common), level);

	if (ret == 0)
		ret = add_all(ctx, p->sys, p->nsys, level);
	if (ret == 0 && level >= 2)
		ret = add_arg_rules(ctx, p);
#ifdef EMBER_SANITIZER
	if (ret == 0)
		ret = add_all(ctx, sys_sanitizer, ARRAY_SIZE(sys_sanitizer), 0);
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

/*
 * The per-thread filters, each in a child process: an allowed call goes
 * through, a call off the list kills the process with SIGSYS, and at level
 * 2 so does an ioctl request, a socket family, a futex operation or an
 * fcntl command off the list, or memory mapped or made executable.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "sandbox/seccomp.h"

enum probe {
	PROBE_ALLOWED,
	PROBE_FORBIDDEN,
	PROBE_KVM_RUN,
	PROBE_VHOST_SET_OWNER,
	PROBE_OTHER_IOCTL,
	PROBE_MMAP_RW,
	PROBE_MMAP_EXEC,
	PROBE_MPROTECT_EXEC,
	PROBE_UNIX_SOCKET,
	PROBE_INET_SOCKET,
	PROBE_NETLINK_SOCKET,
	PROBE_FUTEX_WAKE,
	PROBE_FUTEX_WAIT_TIMED,
	PROBE_FUTEX_LOCK_PI,
	PROBE_FUTEX_HIGH_BITS,
	PROBE_FCNTL_FLAGS,
	PROBE_FCNTL_DUPFD,
	PROBE_FCNTL_LOCK,
};

/* A futex word nobody waits on; a wait on it with the wrong value returns at once. */
static uint32_t futex_word = 1;

/* The call a probe makes (its result does not matter: only whether the filter lets it by). */
static void probe(enum probe p, int fd)
{
	void *m;

	switch (p) {
	case PROBE_ALLOWED:
		syscall(SYS_getpid);
		break;
	case PROBE_FORBIDDEN:
		syscall(SYS_mkdirat, AT_FDCWD, "/nonexistent/x", 0700);
		break;
	case PROBE_KVM_RUN:
		ioctl(fd, KVM_RUN, 0); /* ENOTTY on /dev/null, but allowed */
		break;
	case PROBE_VHOST_SET_OWNER:
		ioctl(fd, VHOST_SET_OWNER);
		break;
	case PROBE_OTHER_IOCTL:
		ioctl(fd, TIOCGWINSZ, NULL);
		break;
	case PROBE_MMAP_RW:
	case PROBE_MMAP_EXEC:
		mmap(NULL, 4096, PROT_READ | (p == PROBE_MMAP_EXEC ? PROT_EXEC : PROT_WRITE),
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case PROBE_MPROTECT_EXEC:
		m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		mprotect(m, 4096, PROT_READ | PROT_EXEC);
		break;
	case PROBE_UNIX_SOCKET:
		syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
		break;
	case PROBE_INET_SOCKET:
		syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
		break;
	case PROBE_NETLINK_SOCKET:
		syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
		break;
	case PROBE_FUTEX_WAKE:
		syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		break;
	case PROBE_FUTEX_WAIT_TIMED: /* as glibc's pthread_join: shared, bitset, realtime */
		syscall(SYS_futex, &futex_word, FUTEX_WAIT_BITSET | FUTEX_CLOCK_REALTIME, 0, NULL,
			NULL, FUTEX_BITSET_MATCH_ANY);
		break;
	case PROBE_FUTEX_LOCK_PI:
		syscall(SYS_futex, &futex_word, FUTEX_TRYLOCK_PI_PRIVATE, 0, NULL, NULL, 0);
		break;
	case PROBE_FUTEX_HIGH_BITS: /* the kernel reads an int: the upper half is no operation */
		syscall(SYS_futex, &futex_word, (1UL << 32) | FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
		break;
	case PROBE_FCNTL_FLAGS:
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
		fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
		break;
	case PROBE_FCNTL_DUPFD:
		fcntl(fd, F_DUPFD_CLOEXEC, 100);
		break;
	case PROBE_FCNTL_LOCK:
		fcntl(fd, F_SETLK, &(struct flock){ .l_type = F_RDLCK, .l_whence = SEEK_SET });
		break;
	}
}

/* The child's status after it filtered itself as `role` and made the call. */
static int run_filtered(enum sc_role role, int level, enum probe p)
{
	int fd = open("/dev/null", O_RDONLY), status;
	pid_t pid = fork();
	struct err err = { { 0 } };

	if (pid == 0) {
		seccomp_set_level(level);
		if (seccomp_apply(role, &err) < 0)
			_exit(3);
		probe(p, fd);
		_exit(0);
	}
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static bool killed_by_sigsys(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static void test_every_role_allows_and_forbids(void **state)
{
	for (int role = 0; role < SC_ROLES; role++) {
		int ok = run_filtered(role, 2, PROBE_ALLOWED);
		int bad = run_filtered(role, 2, PROBE_FORBIDDEN);

		if (!WIFEXITED(ok) || WEXITSTATUS(ok) != 0)
			fail_msg("%s: an allowed call failed (status 0x%x)",
				 seccomp_role_name(role), ok);
		if (!killed_by_sigsys(bad))
			fail_msg("%s: a forbidden call was not killed (status 0x%x)",
				 seccomp_role_name(role), bad);
		assert_true(seccomp_count(role) > 20 && seccomp_count(role) < 60);
	}
}

static void test_level_two_filters_ioctl_requests(void **state)
{
	int st = run_filtered(SC_VCPU, 2, PROBE_KVM_RUN);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(killed_by_sigsys(run_filtered(SC_VCPU, 2, PROBE_OTHER_IOCTL)));
	assert_true(killed_by_sigsys(run_filtered(SC_DEVICE, 2, PROBE_KVM_RUN)));
	/* A new vhost-vsock, after a migration failed past the hand-over: main only. */
	st = run_filtered(SC_MAIN, 2, PROBE_VHOST_SET_OWNER);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_true(killed_by_sigsys(run_filtered(SC_VCPU, 2, PROBE_VHOST_SET_OWNER)));
	/* Level 1: ioctl itself is allowed for the vCPU, whatever the request. */
	st = run_filtered(SC_VCPU, 1, PROBE_OTHER_IOCTL);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static bool survives(enum sc_role role, int level, enum probe p)
{
	int st = run_filtered(role, level, p);

	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static void test_level_two_allows_no_executable_memory(void **state)
{
	for (int role = 0; role < SC_ROLES; role++) {
		assert_true(survives(role, 2, PROBE_MMAP_RW));
		assert_true(killed_by_sigsys(run_filtered(role, 2, PROBE_MMAP_EXEC)));
		assert_true(killed_by_sigsys(run_filtered(role, 2, PROBE_MPROTECT_EXEC)));
	}
	assert_true(survives(SC_VCPU, 1, PROBE_MPROTECT_EXEC));
}

static void test_level_two_filters_socket_families(void **state)
{
	/* main: migration over Unix or TCP sockets; devices: vsock's Unix sockets. */
	assert_true(survives(SC_MAIN, 2, PROBE_UNIX_SOCKET));
	assert_true(survives(SC_MAIN, 2, PROBE_INET_SOCKET));
	assert_true(killed_by_sigsys(run_filtered(SC_MAIN, 2, PROBE_NETLINK_SOCKET)));
	assert_true(survives(SC_DEVICE, 2, PROBE_UNIX_SOCKET));
	assert_true(killed_by_sigsys(run_filtered(SC_DEVICE, 2, PROBE_INET_SOCKET)));
	assert_true(killed_by_sigsys(run_filtered(SC_VCPU, 2, PROBE_UNIX_SOCKET)));
	assert_true(killed_by_sigsys(run_filtered(SC_API, 2, PROBE_UNIX_SOCKET)));
	assert_true(survives(SC_DEVICE, 1, PROBE_INET_SOCKET));
}

static void test_level_two_filters_futex_operations(void **state)
{
	for (int role = 0; role < SC_ROLES; role++) {
		assert_true(survives(role, 2, PROBE_FUTEX_WAKE));
		assert_true(survives(role, 2, PROBE_FUTEX_WAIT_TIMED));
		assert_true(survives(role, 2, PROBE_FUTEX_HIGH_BITS));
		assert_true(killed_by_sigsys(run_filtered(role, 2, PROBE_FUTEX_LOCK_PI)));
	}
	assert_true(survives(SC_VCPU, 1, PROBE_FUTEX_LOCK_PI));
}

static void test_level_two_filters_fcntl_commands(void **state)
{
	/* The API thread (libmicrohttpd) and the main thread set flags; nothing else. */
	assert_true(survives(SC_API, 2, PROBE_FCNTL_FLAGS));
	assert_true(survives(SC_MAIN, 2, PROBE_FCNTL_FLAGS));
	assert_true(killed_by_sigsys(run_filtered(SC_API, 2, PROBE_FCNTL_DUPFD)));
	assert_true(killed_by_sigsys(run_filtered(SC_MAIN, 2, PROBE_FCNTL_LOCK)));
	assert_true(killed_by_sigsys(run_filtered(SC_VCPU, 2, PROBE_FCNTL_FLAGS)));
	assert_true(killed_by_sigsys(run_filtered(SC_DEVICE, 2, PROBE_FCNTL_FLAGS)));
	assert_true(survives(SC_MAIN, 1, PROBE_FCNTL_LOCK));
}

/*
 * A count in a thread's row of SECURITY.md's table ("| ROW | ... | N ..."):
 * column 3 the system calls, column 4 the ioctl requests.
 */
static unsigned int documented_count(const char *text, const char *row, int column)
{
	const char *p = strstr(text, row);
	unsigned int n = 0;

	assert_non_null(p);
	for (int bars = 0; bars < column; p++)
		bars += *p == '|';
	assert_int_equal(sscanf(p, " %u", &n), 1);
	return n;
}

static void test_security_md_tells_the_counts(void **state)
{
	static const char *const rows[SC_ROLES] = {
		[SC_MAIN] = "| main |",
		[SC_VCPU] = "| vCPU |",
		[SC_DEVICE] = "| device I/O |",
		[SC_API] = "| API (libmicrohttpd) |",
	};
	static char text[64 << 10];
	FILE *f = fopen(SOURCE_ROOT "/SECURITY.md", "r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	for (int role = 0; role < SC_ROLES; role++) {
		unsigned int sys = documented_count(text, rows[role], 3);
		unsigned int ioctls = seccomp_ioctl_count(role);

		if (sys != seccomp_count(role))
			fail_msg("SECURITY.md says %u system calls for the %s thread, the filter "
				 "has %u",
				 sys, seccomp_role_name(role), seccomp_count(role));
		if (ioctls && documented_count(text, rows[role], 4) != ioctls)
			fail_msg("SECURITY.md says %u ioctl requests for the %s thread, the filter "
				 "has %u",
				 documented_count(text, rows[role], 4), seccomp_role_name(role),
				 ioctls);
	}
}

static void test_level_zero_filters_nothing(void **state)
{
	int st = run_filtered(SC_DEVICE, 0, PROBE_FORBIDDEN);

	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_role_allows_and_forbids),
		cmocka_unit_test(test_level_two_filters_ioctl_requests),
		cmocka_unit_test(test_level_two_allows_no_executable_memory),
		cmocka_unit_test(test_level_two_filters_socket_families),
		cmocka_unit_test(test_level_two_filters_futex_operations),
		cmocka_unit_test(test_level_two_filters_fcntl_commands),
		cmocka_unit_test(test_security_md_tells_the_counts),
		cmocka_unit_test(test_level_zero_filters_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

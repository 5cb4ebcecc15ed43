#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "manager/httpc.h"
#include "manager/vmproc.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Field 22 of /proc/PID/stat, after the command name (which may hold spaces and parens). */
static int proc_start_time(pid_t pid, uint64_t *out)
{
	char path[64], buf[1024];
	unsigned long long v;
	char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1,
			 " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu",
			 &v) != 1)
		return -EIO;
	*out = v;
	return 0;
}

static void child_exec(char *const argv[], int in, int out, const char *log_path, int go)
{
	char c;
	int log = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);

	if (log < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(log, 2) < 0)
		_exit(127);
	setsid(); /* emberd's end or its terminal's signals are not the VM's */
	/* emberd says go once the process sits in its cgroups. */
	if (read(go, &c, 1) != 1)
		_exit(126);
	syscall(SYS_close_range, 3, ~0U, 0);
	execv(argv[0], argv);
	dprintf(2, "emberd: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int vmproc_spawn(char *const argv[], int in, int out, const char *log_path,
		 vmproc_prepare_fn prepare, void *ctx, struct vmproc *p, struct err *err)
{
	sigset_t none;
	int go[2], ret = 0;
	pid_t pid;

	*p = (struct vmproc){ .pidfd = -1, .child = true };
	if (pipe2(go, O_CLOEXEC) < 0)
		return err_set(err, -errno, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(go[0]);
		close(go[1]);
		return err_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		close(go[1]);
		child_exec(argv, in, out, log_path, go[0]);
	}
	close(go[0]);
	p->pid = pid;
	p->pidfd = pidfd_open_(pid);
	if (p->pidfd < 0 || proc_start_time(pid, &p->start_time) < 0)
		ret = err_set(err, -errno, "cannot follow the ember process: %s", strerror(errno));
	if (ret == 0 && prepare)
		ret = prepare(pid, ctx, err);
	if (ret == 0 && write(go[1], "", 1) != 1)
		ret = err_set(err, -errno, "cannot start ember: %s", strerror(errno));
	close(go[1]);
	if (ret < 0)
		vmproc_stop(p, 0);
	return ret;
}

int vmproc_adopt(pid_t pid, uint64_t start_time, struct vmproc *p)
{
	uint64_t now;

	*p = (struct vmproc){ .pid = pid, .pidfd = -1, .start_time = start_time };
	if (pid <= 0 || proc_start_time(pid, &now) < 0 || now != start_time)
		return -ESRCH;
	p->pidfd = pidfd_open_(pid);
	/* Still the same process once we hold its pidfd? */
	if (p->pidfd < 0 || proc_start_time(pid, &now) < 0 || now != start_time) {
		if (p->pidfd >= 0)
			close(p->pidfd);
		p->pidfd = -1;
		return -ESRCH;
	}
	return 0;
}

int vmproc_reap(struct vmproc *p)
{
	siginfo_t si = { 0 };
	int status = -1;

	if (p->child && waitid(P_PIDFD, (id_t)p->pidfd, &si, WEXITED) == 0)
		status = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
	if (p->pidfd >= 0)
		close(p->pidfd);
	p->pidfd = -1;
	return status;
}

static bool ended_within(const struct vmproc *p, int timeout_ms)
{
	struct pollfd pf = { .fd = p->pidfd, .events = POLLIN };

	return poll(&pf, 1, timeout_ms) > 0;
}

bool vmproc_ended(const struct vmproc *p)
{
	return p->pidfd >= 0 && ended_within(p, 0);
}

int vmproc_stop(struct vmproc *p, int timeout_ms)
{
	if (p->pidfd < 0)
		return -1;
	syscall(SYS_pidfd_send_signal, p->pidfd, SIGTERM, NULL, 0);
	if (!ended_within(p, timeout_ms)) {
		syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL, NULL, 0);
		ended_within(p, 5000);
	}
	return vmproc_reap(p);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int vmproc_wait_api(const struct vmproc *p, const char *sock, int timeout_ms, bool any,
		    struct err *err)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	while (now_ms() < end) {
		char *reply = NULL;
		int status = httpc_call(sock, "GET", "/", NULL, &reply, 2);
		bool up = status == 200 && reply &&
			  (any || strstr(reply, "\"Running\"") || strstr(reply, "\"Paused\""));

		free(reply);
		if (up)
			return 0;
		if (ended_within(p, 5))
			return err_set(err, -ECHILD, "ember ended while starting");
	}
	return err_set(err, -ETIMEDOUT, "ember did not come up in %d ms", timeout_ms);
}

static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -EIO;
	buf[n] = '\0';
	return (int)n;
}

static struct json_object *vcpu_entry(pid_t pid, const char *tid)
{
	char path[96], comm[32], stat[4096];
	unsigned int vcpu;
	int cpu;
	char *p;
	struct json_object *o;

	snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, tid);
	if (read_small(path, comm, sizeof(comm)) < 0 || sscanf(comm, "vcpu%u", &vcpu) != 1)
		return NULL;
	snprintf(path, sizeof(path), "/proc/%d/task/%s/stat", (int)pid, tid);
	if (read_small(path, stat, sizeof(stat)) < 0 || !(p = strrchr(stat, ')')))
		return NULL;
	/* Field 39, "processor": the CPU it last ran on. */
	if (sscanf(p + 1,
		   " %*c"
		   "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
		   "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s"
		   "%*s %*s %d",
		   &cpu) != 1)
		cpu = -1;
	o = json_object_new_object();
	json_object_object_add(o, "vcpu", json_object_new_int((int)vcpu));
	json_object_object_add(o, "tid", json_object_new_int(atoi(tid)));
	json_object_object_add(o, "cpu", json_object_new_int(cpu));
	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	if (read_small(path, stat, sizeof(stat)) > 0 && (p = strstr(stat, "Cpus_allowed_list:"))) {
		p += strlen("Cpus_allowed_list:");
		p += strspn(p, " \t");
		p[strcspn(p, "\n")] = '\0';
		json_object_object_add(o, "affinity", json_object_new_string(p));
	}
	return o;
}

struct json_object *vmproc_vcpus(pid_t pid)
{
	struct json_object *arr = json_object_new_array();
	char path[64];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d))) {
		struct json_object *o = e->d_name[0] != '.' ? vcpu_entry(pid, e->d_name) : NULL;

		if (o)
			json_object_array_add(arr, o);
	}
	if (d)
		closedir(d);
	return arr;
}

ssize_t vmproc_log_tail(const char *log_path, uint64_t from, char *buf, size_t cap)
{
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	off_t size, start;
	ssize_t n;

	if (fd < 0)
		return -errno;
	size = lseek(fd, 0, SEEK_END);
	start = size > (off_t)cap - 1 ? size - (off_t)cap + 1 : 0;
	if (start < (off_t)from)
		start = (off_t)from;
	n = start < size ? pread(fd, buf, cap - 1, start) : 0;
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

char *vmproc_logged_end(const char *log_path, uint64_t from)
{
	static const char marker[] = "the VM stopped: ";
	char buf[8192], *last = NULL, *p;

	if (vmproc_log_tail(log_path, from, buf, sizeof(buf)) <= 0)
		return NULL;
	for (p = strstr(buf, marker); p; p = strstr(p + 1, marker))
		last = p + sizeof(marker) - 1;
	if (!last)
		return NULL;
	last[strcspn(last, "\r\n ")] = '\0';
	return strdup(last);
}

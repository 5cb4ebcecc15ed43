/*
 * ember-jailer: confines one ember process, with Firecracker's jailer flags
 * and behaviour. In order: checks every flag; copies the program (and the
 * shared libraries it needs) into <base>/<exec name>/<id>/root; puts the
 * process in its cgroups and sets its resource limits; enters the network
 * namespace; makes a mount namespace and pivots into the root, where only
 * the device nodes ember uses exist; optionally starts a PID namespace (the
 * program is its PID 1) and detaches; closes every other fd, drops to the
 * given uid/gid with no_new_privs, and executes the program. A failure on
 * the way removes the cgroups it made and exits with one line on stderr.
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/vm_config.h"
#include "jailer/cgroup.h"
#include "jailer/elfdeps.h"

#define EXIT_USAGE     2
#define ID_MAX	       64
#define DEFAULT_BASE   "/srv/jailer"
#define DEFAULT_NOFILE 2048
#define MAX_EXEC_ARGS  256
#define COPY_BUF       (64 * 1024)

struct jail {
	const char *id;
	const char *exec_file;
	const char *exec_name; /* its base name */
	uid_t uid;
	gid_t gid;
	const char *base;
	const char *netns;
	bool daemonize;
	bool new_pid_ns;
	struct cgroup_jail cg;
	rlim_t fsize; /* 0: unlimited */
	rlim_t nofile;
	char root[PATH_MAX];
	char **args; /* after "--" */
	int nr_args;
};

static int fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ember-jailer: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return status;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ember-jailer --id ID --exec-file PATH --uid UID --gid GID\n"
		"         [--chroot-base-dir DIR] [--netns PATH] [--daemonize] [--new-pid-ns]\n"
		"         [--cgroup-version 1|2] [--cgroup FILE=VALUE]... [--parent-cgroup NAME]\n"
		"         [--resource-limit fsize=N|no-file=N]... [-- ARGS FOR THE PROGRAM]\n"
		"Runs PATH (ember) confined in <DIR>/<name of PATH>/<ID>/root (DIR defaults\n"
		"to " DEFAULT_BASE "); see README.md, \"The jailer\".\n");
}

static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-",
			    id[i]))
			return false;
	return true;
}

static int parse_limit(struct jail *j, const char *spec)
{
	uint64_t v;
	const char *eq = strchr(spec, '=');

	if (!eq || parse_u64(eq + 1, 0, RLIM_INFINITY - 1, &v) < 0)
		return -EINVAL;
	if (strncmp(spec, "fsize=", 6) == 0)
		j->fsize = v;
	else if (strncmp(spec, "no-file=", 8) == 0 && v > 0)
		j->nofile = v;
	else
		return -EINVAL;
	return 0;
}

enum {
	OPT_ID = 256,
	OPT_EXEC,
	OPT_UID,
	OPT_GID,
	OPT_BASE,
	OPT_NETNS,
	OPT_DAEMONIZE,
	OPT_PIDNS,
	OPT_CGVER,
	OPT_CGROUP,
	OPT_PARENT,
	OPT_RLIMIT,
};

static const struct option options[] = {
	{ "id", required_argument, NULL, OPT_ID },
	{ "exec-file", required_argument, NULL, OPT_EXEC },
	{ "uid", required_argument, NULL, OPT_UID },
	{ "gid", required_argument, NULL, OPT_GID },
	{ "chroot-base-dir", required_argument, NULL, OPT_BASE },
	{ "netns", required_argument, NULL, OPT_NETNS },
	{ "daemonize", no_argument, NULL, OPT_DAEMONIZE },
	{ "new-pid-ns", no_argument, NULL, OPT_PIDNS },
	{ "cgroup-version", required_argument, NULL, OPT_CGVER },
	{ "cgroup", required_argument, NULL, OPT_CGROUP },
	{ "parent-cgroup", required_argument, NULL, OPT_PARENT },
	{ "resource-limit", required_argument, NULL, OPT_RLIMIT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int take_option(struct jail *j, int opt, const char *arg)
{
	struct err err = { { 0 } };
	uint64_t v;

	switch (opt) {
	case OPT_ID:
		if (!id_ok(arg))
			return fail(EXIT_USAGE,
				    "--id must be 1 to %d letters, digits or '-', not '%s'", ID_MAX,
				    arg);
		j->id = arg;
		return 0;
	case OPT_EXEC:
		j->exec_file = arg;
		return 0;
	case OPT_UID:
	case OPT_GID:
		if (parse_u64(arg, 0, UINT32_MAX - 1, &v) < 0)
			return fail(EXIT_USAGE, "--%s must be a number, not '%s'",
				    opt == OPT_UID ? "uid" : "gid", arg);
		*(opt == OPT_UID ? &j->uid : &j->gid) = (unsigned int)v;
		return 0;
	case OPT_BASE:
		j->base = arg;
		return 0;
	case OPT_NETNS:
		j->netns = arg;
		return 0;
	case OPT_DAEMONIZE:
		j->daemonize = true;
		return 0;
	case OPT_PIDNS:
		j->new_pid_ns = true;
		return 0;
	case OPT_CGVER:
		if (strcmp(arg, "1") && strcmp(arg, "2"))
			return fail(EXIT_USAGE, "--cgroup-version must be 1 or 2, not '%s'", arg);
		j->cg.version = arg[0] - '0';
		return 0;
	case OPT_CGROUP:
		return cgroup_add_setting(&j->cg, arg, &err) < 0 ? fail(EXIT_USAGE, "%s", err.msg)
								 : 0;
	case OPT_PARENT:
		if (!arg[0] || strstr(arg, ".."))
			return fail(EXIT_USAGE,
				    "--parent-cgroup must be a relative path without '..'");
		j->cg.parent = arg;
		return 0;
	default:
		if (parse_limit(j, arg) < 0)
			return fail(EXIT_USAGE,
				    "--resource-limit: expected fsize=N or no-file=N, not '%s'",
				    arg);
		return 0;
	}
}

static int check_required(struct jail *j, bool got_uid, bool got_gid)
{
	struct stat st;

	if (!j->id || !j->exec_file || !got_uid || !got_gid)
		return fail(EXIT_USAGE, "--id, --exec-file, --uid and --gid are required");
	if (stat(j->exec_file, &st) < 0 || !S_ISREG(st.st_mode))
		return fail(EXIT_USAGE, "--exec-file '%s': %s", j->exec_file,
			    errno ? strerror(errno) : "not a regular file");
	if (j->base[0] != '/')
		return fail(EXIT_USAGE, "--chroot-base-dir must be an absolute path");
	if (j->netns && access(j->netns, R_OK) < 0)
		return fail(EXIT_USAGE, "--netns '%s': %s", j->netns, strerror(errno));
	j->exec_name = strrchr(j->exec_file, '/') ? strrchr(j->exec_file, '/') + 1 : j->exec_file;
	j->cg.id = j->id;
	if (!j->cg.parent)
		j->cg.parent = j->exec_name;
	return 0;
}

static int parse_args(int argc, char **argv, struct jail *j)
{
	bool got_uid = false, got_gid = false;
	int opt, idx, ret;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", options, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return -1;
		}
		if (opt == '?')
			return fail(EXIT_USAGE, "unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return fail(EXIT_USAGE, "option '%s' needs a value", argv[optind - 1]);
		got_uid |= opt == OPT_UID;
		got_gid |= opt == OPT_GID;
		ret = take_option(j, opt, optarg);
		if (ret)
			return ret;
	}
	j->args = argv + optind;
	j->nr_args = argc - optind;
	if (j->nr_args > MAX_EXEC_ARGS)
		return fail(EXIT_USAGE, "too many arguments for the program");
	return check_required(j, got_uid, got_gid);
}

/* --- the chroot -------------------------------------------------------- */

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return mkdir(buf, mode) < 0 && errno != EEXIST ? -errno : 0;
}

/* Copies a file (not a link: the jail must not reach back out) with `mode`. */
static int copy_file(const char *src, const char *dst, mode_t mode)
{
	char buf[COPY_BUF];
	int in = open(src, O_RDONLY | O_CLOEXEC), out, ret = 0;
	ssize_t n;

	if (in < 0)
		return -errno;
	unlink(dst);
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (out < 0) {
		ret = -errno;
		close(in);
		return ret;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			ret = -EIO;
			break;
		}
	if (n < 0)
		ret = -errno;
	close(in);
	close(out);
	return ret;
}

/* The program at /<name>, its interpreter and libraries at their own paths. */
static int populate_root(struct jail *j)
{
	struct elfdeps deps;
	struct err err = { { 0 } };
	char dst[PATH_MAX * 2];
	int ret;

	snprintf(dst, sizeof(dst), "%s/%s", j->root, j->exec_name);
	ret = copy_file(j->exec_file, dst, 0755);
	if (ret < 0)
		return fail(1, "copying '%s' into the jail: %s", j->exec_file, strerror(-ret));
	if (elfdeps_resolve(j->exec_file, &deps, &err) < 0)
		return fail(1, "'%s': %s", j->exec_file, err.msg);
	for (unsigned int i = 0; i < deps.count && ret == 0; i++) {
		char dir[PATH_MAX * 2];

		snprintf(dst, sizeof(dst), "%s%s", j->root, deps.paths[i]);
		snprintf(dir, sizeof(dir), "%s", dst);
		*strrchr(dir, '/') = '\0';
		ret = mkdir_p(dir, 0755);
		if (ret == 0)
			ret = copy_file(deps.paths[i], dst, 0755);
		if (ret < 0)
			fail(1, "copying '%s' into the jail: %s", deps.paths[i], strerror(-ret));
	}
	elfdeps_free(&deps);
	return ret < 0 ? 1 : 0;
}

/*
 * A fresh root, root's own until it is filled: a root left by an earlier
 * jail was its program's to change, and copying into it as root could
 * follow links it left there.
 */
static int make_root(struct jail *j)
{
	char parent[PATH_MAX];
	int ret;

	if (snprintf(parent, sizeof(parent) - 8, "%s/%s/%s", j->base, j->exec_name, j->id) >=
		    (int)sizeof(parent) - 8 ||
	    snprintf(j->root, sizeof(j->root), "%s/root", parent) >= (int)sizeof(j->root))
		return fail(EXIT_USAGE, "--chroot-base-dir is too long");
	ret = mkdir_p(parent, 0755);
	if (ret < 0)
		return fail(1, "cannot create '%s': %s", parent, strerror(-ret));
	if (mkdir(j->root, 0755) < 0)
		return fail(1, "'%s': %s%s", j->root, strerror(errno),
			    errno == EEXIST ? " (remove it, or use another --id)" : "");
	return populate_root(j);
}

/* Last: the program may make its sockets and files there; what was copied in stays root's. */
static int hand_over_root(const struct jail *j)
{
	if (chown(j->root, j->uid, j->gid) < 0)
		return fail(1, "cannot give '%s' to uid %u: %s", j->root, j->uid, strerror(errno));
	return 0;
}

/* The device nodes ember opens, where the host has them, owned by the jailed user. */
static int make_devices(const struct jail *j)
{
	static const char *const nodes[] = { "/dev/kvm", "/dev/net/tun", "/dev/urandom",
					     "/dev/null", "/dev/vhost-vsock" };
	struct stat st;

	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		char dst[PATH_MAX * 2], dir[PATH_MAX * 2];

		if (stat(nodes[i], &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		snprintf(dst, sizeof(dst), "%s%s", j->root, nodes[i]);
		snprintf(dir, sizeof(dir), "%s", dst);
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir, 0755) < 0)
			return fail(1, "cannot create '%s': %s", dir, strerror(errno));
		unlink(dst);
		if (mknod(dst, S_IFCHR | 0600, st.st_rdev) < 0 || chown(dst, j->uid, j->gid) < 0)
			return fail(1, "cannot create '%s': %s", dst, strerror(errno));
	}
	return 0;
}

/* A mount namespace whose root is the jail's root; the old root is gone from it. */
static int enter_root(const struct jail *j)
{
	if (unshare(CLONE_NEWNS) < 0)
		return fail(1, "cannot make a mount namespace: %s", strerror(errno));
	/* Nothing mounted in here may propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0 ||
	    mount(j->root, j->root, NULL, MS_BIND | MS_REC, NULL) < 0 || chdir(j->root) < 0 ||
	    mkdir("old_root", 0700) < 0 || syscall(SYS_pivot_root, ".", "old_root") < 0 ||
	    chdir("/") < 0 || umount2("/old_root", MNT_DETACH) < 0 || rmdir("/old_root") < 0)
		return fail(1, "cannot pivot into '%s': %s", j->root, strerror(errno));
#ifdef EMBER_SANITIZER
	/* Test builds only: the sanitizers read their options and memory maps from /proc. */
	if ((mkdir("/proc", 0555) < 0 && errno != EEXIST) ||
	    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		return fail(1, "cannot mount /proc for the sanitizers: %s", strerror(errno));
#endif
	return 0;
}

/* --- the process ------------------------------------------------------- */

static int set_limits(const struct jail *j)
{
	struct rlimit nofile = { j->nofile, j->nofile };
	struct rlimit fsize = { j->fsize, j->fsize };

	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 ||
	    (j->fsize && setrlimit(RLIMIT_FSIZE, &fsize) < 0))
		return fail(1, "cannot set resource limits: %s", strerror(errno));
	return 0;
}

static int enter_netns(const struct jail *j)
{
	int fd;

	if (!j->netns)
		return 0;
	fd = open(j->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		return fail(1, "--netns '%s': %s", j->netns, strerror(errno));
	close(fd);
	return 0;
}

/*
 * With --new-pid-ns the program runs as PID 1 of a new namespace: the
 * jailer forks before it enters the root; the parent writes the child's PID
 * (as the host sees it) to <root>/<exec name>.pid and, unless detached,
 * waits, removes the cgroups and exits as the program did. Returns 0 in
 * the child (or without --new-pid-ns), -1 in the parent with its status.
 */
static int enter_pidns(struct jail *j, int *exit_status)
{
	char path[PATH_MAX * 2], tmp[PATH_MAX * 2 + 8];
	pid_t child;
	int fd;
	int st;

	if (!j->new_pid_ns)
		return 0;
	if (unshare(CLONE_NEWPID) < 0)
		return fail(1, "cannot make a PID namespace: %s", strerror(errno));
	child = fork();
	if (child < 0)
		return fail(1, "fork: %s", strerror(errno));
	if (child == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.pid", j->root, j->exec_name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	/*
	 * The root is the program's by now: no following a link it may have put
	 * there. Written beside and renamed, so a reader never sees it empty.
	 */
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || dprintf(fd, "%d\n", (int)child) < 0 || close(fd) < 0 || rename(tmp, path) < 0)
		fail(1, "cannot write '%s': %s", path, strerror(errno));
	*exit_status = 0;
	if (j->daemonize)
		return -1;
	if (waitpid(child, &st, 0) < 0)
		st = 1 << 8;
	*exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	cgroup_leave(&j->cg);
	cgroup_undo(&j->cg);
	return -1;
}

static int detach(const struct jail *j)
{
	int fd;

	if (!j->daemonize)
		return 0;
	if (!j->new_pid_ns) {
		pid_t child = fork();

		if (child < 0)
			return fail(1, "fork: %s", strerror(errno));
		if (child > 0)
			_exit(0);
	}
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (setsid() < 0 || fd < 0 || dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return fail(1, "cannot detach: %s", strerror(errno));
	close(fd);
	return 0;
}

static int drop_privileges(const struct jail *j)
{
	if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		return fail(1, "cannot drop to uid %u gid %u: %s", j->uid, j->gid, strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail(1, "cannot set no_new_privs: %s", strerror(errno));
	/*
	 * A jailer that waits is the program's keeper: if it is killed, the
	 * program goes too (set after the uid change, which would clear it).
	 */
	if (j->new_pid_ns && !j->daemonize && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return fail(1, "cannot set the parent-death signal: %s", strerror(errno));
	return 0;
}

/*
 * The program starts with a clean environment. Sanitizer builds (tests
 * only) pass the sanitizers' options on: without /proc in the jail, leak
 * checking cannot work there and the tests turn it off.
 */
static void clean_environment(char **envp)
{
	int n = 0;

	envp[n++] = "PATH=/";
#ifdef EMBER_SANITIZER
	static const char *const keep[] = { "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS" };
	static char vars[3][512];

	for (size_t i = 0; i < 3; i++)
		if (getenv(keep[i])) {
			snprintf(vars[i], sizeof(vars[i]), "%s=%s", keep[i], getenv(keep[i]));
			envp[n++] = vars[i];
		}
#endif
	envp[n] = NULL;
}

/* ember's API mode gets the jail's id, as Firecracker's jailer passes --id. */
static void exec_program(const struct jail *j)
{
	char *argv[MAX_EXEC_ARGS + 4];
	char prog[PATH_MAX];
	char *envp[8];
	int n = 0;

	snprintf(prog, sizeof(prog), "/%s", j->exec_name);
	argv[n++] = prog;
	if (!j->nr_args || j->args[0][0] == '-') {
		argv[n++] = "--id";
		argv[n++] = (char *)j->id;
	}
	for (int i = 0; i < j->nr_args; i++)
		argv[n++] = j->args[i];
	argv[n] = NULL;
	clean_environment(envp);
	execve(prog, argv, envp);
	fail(1, "cannot run '%s' in the jail: %s", prog, strerror(errno));
}

static int close_other_fds(void)
{
	return syscall(SYS_close_range, 3, ~0U, 0) < 0 ? fail(1, "close_range: %s", strerror(errno))
						       : 0;
}

/* The jail's root, limits, network and devices: nothing here needs undoing. */
static int prepare(struct jail *j)
{
	int ret = make_root(j);

	if (ret == 0)
		ret = make_devices(j);
	if (ret == 0)
		ret = hand_over_root(j);
	if (ret == 0)
		ret = set_limits(j);
	if (ret == 0)
		ret = enter_netns(j);
	return ret;
}

/*
 * After the pivot the host's cgroup tree is out of sight: a failure from
 * here on (rare: the kernel refusing a namespace, setuid) leaves the
 * cgroups, and the message says so.
 */
static int enter_and_exec(struct jail *j)
{
	if (enter_root(j) == 0 && detach(j) == 0 && close_other_fds() == 0 &&
	    drop_privileges(j) == 0)
		exec_program(j);
	return fail(1, "the cgroups under '%s' are left behind", j->cg.parent);
}

int main(int argc, char **argv)
{
	struct jail j = { .base = DEFAULT_BASE, .nofile = DEFAULT_NOFILE, .cg = { .version = 1 } };
	struct err err = { { 0 } };
	int ret = parse_args(argc, argv, &j), status = 0;

	if (ret)
		return ret < 0 ? 0 : ret;
	if (geteuid() != 0)
		return fail(1, "must run as root (it makes namespaces, device nodes, cgroups)");
	ret = prepare(&j);
	if (ret == 0 && cgroup_apply(&j.cg, getpid(), &err) < 0)
		ret = fail(1, "%s", err.msg);
	if (ret == 0)
		ret = enter_pidns(&j, &status);
	if (ret < 0) {
		cgroup_fini(&j.cg);
		return status; /* the parent of a PID namespace: the program's status */
	}
	if (ret == 0)
		ret = enter_and_exec(&j);
	else if (j.cg.nr_joined) {
		cgroup_leave(&j.cg);
		cgroup_undo(&j.cg);
	}
	cgroup_fini(&j.cg);
	return ret;
}

/*
 * ember's command line: parses arguments into a vm_config, runs the VM
 * through libember, and turns the outcome into an exit status. The only
 * place that decides how the process ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "api/server.h"
#include "arch/arch.h"
#include "config/vm_config.h"
#include "config/vm_json.h"
#include "console/sock.h"
#include "util/file.h"
#include "util/log.h"
#include "util/metrics.h"
#include "sandbox/seccomp.h"
#include "util/unixsock.h"
#include "vmm/control.h"
#include "vmm/hostcheck.h"
#include "vmm/snapshot.h"
#include "vmm/vmm.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2

/* ember run --api-sock PATH: the API serves the VM the flags describe. */
static const char *run_api_sock;
static const char *run_console_sock;

enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_CPUS,
	OPT_MEMORY,
	OPT_SERIAL,
	OPT_HUGEPAGES,
	OPT_LOG_LEVEL,
	OPT_CONSOLE,
	OPT_DISK,
	OPT_RNG,
	OPT_BOOT_TIMER,
	OPT_VSOCK,
	OPT_NET,
	OPT_API_SOCK,
	OPT_SECCOMP,
	OPT_CONSOLE_SOCK,
};

static const struct option run_options[] = {
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "initrd", required_argument, NULL, OPT_INITRD },
	{ "cmdline", required_argument, NULL, OPT_CMDLINE },
	{ "cpus", required_argument, NULL, OPT_CPUS },
	{ "memory", required_argument, NULL, OPT_MEMORY },
	{ "serial", required_argument, NULL, OPT_SERIAL },
	{ "hugepages", no_argument, NULL, OPT_HUGEPAGES },
	{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "disk", required_argument, NULL, OPT_DISK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "rng", no_argument, NULL, OPT_RNG },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "api-sock", required_argument, NULL, OPT_API_SOCK },
	{ "seccomp-level", required_argument, NULL, OPT_SECCOMP },
	{ "console-sock", required_argument, NULL, OPT_CONSOLE_SOCK },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ember run --kernel PATH [options]   boot a VM from flags\n"
		"       ember --api-sock PATH [--id ID] [--config-file FILE] [--no-api]\n"
		"             [--level LEVEL] [--log-path PATH] [--metrics-path PATH]\n"
		"             [--boot-timer] [--console-sock PATH]\n"
		"                                           Firecracker-compatible API mode\n"
		"       ember host-check                    can this host run ember?\n"
		"       ember rebase-snap --base-file MEM --diff-file DIFF\n"
		"                                           apply a diff snapshot's memory\n"
		"                                           file to the one before it\n"
		"       ember --version | --help\n"
		"\n"
		"Options of 'ember run':\n"
		"  --kernel PATH        ELF vmlinux (PVH or 64-bit entry) or bzImage\n"
		"  --initrd PATH        initial ramdisk (cpio, possibly compressed)\n"
		"  --cmdline STR        kernel command line\n"
		"  --cpus N             vCPUs, 1 to 254 (default 1)\n"
		"  --memory MIB         guest RAM in MiB, %u to %u (default 128)\n"
		"  --hugepages          back guest RAM with 2 MiB huge pages\n"
		"  --serial stdio|none|file=PATH\n"
		"                       where the guest's COM1 goes (default stdio)\n"
		"  --disk PATH[,readonly][,cache=none|writeback][,serial=ID][,bw=B][,iops=N]\n"
		"                       a virtio-blk disk over a raw image (repeatable);\n"
		"                       bw (bytes/s) and iops limit its rate\n"
		"  --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bw=B][,pps=N]\n"
		"                       a virtio-net device over a tap (repeatable);\n"
		"                       bw (bytes/s) and pps limit each direction\n"
		"  --rng                a virtio-rng entropy device\n"
		"  --boot-timer         log the guest's boot time when it writes 123 to\n"
		"                       port 0x3f0 (Firecracker's boot timer; info level)\n"
		"  --vsock cid=N[,uds=PATH]\n"
		"                       a virtio-vsock device, guest address N (3 and up).\n"
		"                       With uds: host programs connect to PATH and send\n"
		"                       \"CONNECT <port>\\n\"; the guest's connections to host\n"
		"                       port P go to the socket PATH_P. Without: the kernel's\n"
		"                       vhost-vsock serves it (AF_VSOCK on the host)\n"

		"  --console serial|virtio\n"
		"                       what stdin/stdout serve: COM1 (default) or a\n"
		"                       virtio console (hvc0; COM1 output then goes nowhere\n"
		"                       unless --serial says where)\n"
		"Virtio devices appear to the guest in the order given, announced on its\n"
		"command line as virtio_mmio.device=4K@BASE:IRQ.\n"
		"  --log-level error|warn|info|debug   (default warn)\n"
		"  --api-sock PATH      also serve the API on PATH (pause, resume, ...)\n"
		"  --console-sock PATH  serve the console on a Unix socket too: the client\n"
		"                       that connected last is stdin and stdout\n"
		"  --seccomp-level 0|1|2\n"
		"                       each thread's system call filter: none, the calls,\n"
		"                       the calls and their arguments (default 2)\n"
		"\n"
		"On the console, Ctrl-A x quits, Ctrl-A a sends Ctrl-A, Ctrl-A h shows help.\n"
		"Exit status: 0 when the guest resets or powers off (or on Ctrl-A x),\n"
		"1 on a VM or guest error, 2 on a usage error, 128+N after signal N.\n",
		VM_CONFIG_MIN_MEM_MIB, VM_CONFIG_MAX_MEM_MIB);
}

static int usage_error(const char *fmt, ...) __printf(1, 2);

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "ember: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'ember --help'.\n");
	return EXIT_USAGE;
}

/* --seccomp-level 0|1|2: no filters, system calls, system calls and their arguments. */
static int set_seccomp_level(const char *arg)
{
	if (strlen(arg) != 1 || arg[0] < '0' || arg[0] > '0' + SC_LEVEL_MAX)
		return usage_error("--seccomp-level must be 0, 1 or 2, not '%s'", arg);
	seccomp_set_level(arg[0] - '0');
	return 0;
}

static int set_string(char **dst, const char *src)
{
	char *copy = strdup(src);

	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

static int parse_number_opt(const char *name, const char *arg, uint64_t max, uint64_t *out)
{
	int ret = parse_u64(arg, 0, max, out);

	if (ret == -EINVAL)
		fprintf(stderr, "ember: %s: '%s' is not a number\n", name, arg);
	else if (ret < 0)
		fprintf(stderr, "ember: %s: %s is out of range\n", name, arg);
	return ret;
}

/* Applies one option; returns 0 or an exit status. */
static int run_option(struct vm_config *cfg, int opt, const char *arg, const char *optname)
{
	struct err err = { { 0 } };
	enum log_level level;
	uint64_t v;

	switch (opt) {
	case OPT_KERNEL:
		return set_string(&cfg->kernel_path, arg) ? EXIT_FAILURE : 0;
	case OPT_INITRD:
		return set_string(&cfg->initrd_path, arg) ? EXIT_FAILURE : 0;
	case OPT_CMDLINE:
		return set_string(&cfg->cmdline, arg) ? EXIT_FAILURE : 0;
	case OPT_CPUS:
		if (parse_number_opt("--cpus", arg, UINT32_MAX, &v))
			return EXIT_USAGE;
		cfg->cpus = (unsigned int)v;
		return 0;
	case OPT_MEMORY:
		if (parse_number_opt("--memory", arg, UINT32_MAX, &v))
			return EXIT_USAGE;
		cfg->mem_mib = v;
		return 0;
	case OPT_SERIAL:
		if (vm_config_set_serial(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_HUGEPAGES:
		cfg->hugepages = true;
		return 0;
	case OPT_LOG_LEVEL:
		if (log_parse_level(arg, &level) < 0)
			return usage_error(
				"--log-level: expected error, warn, info or debug, not '%s'", arg);
		log_set_level(level);
		return 0;
	case OPT_CONSOLE:
		if (vm_config_set_console(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_DISK:
		if (vm_config_add_disk(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_NET:
		if (vm_config_add_net(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_RNG:
		if (vm_config_add_rng(cfg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_BOOT_TIMER:
		cfg->boot_timer = true;
		return 0;
	case OPT_VSOCK:
		if (vm_config_add_vsock(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_API_SOCK:
		run_api_sock = arg;
		return 0;
	case OPT_CONSOLE_SOCK:
		run_console_sock = arg;
		return 0;
	case OPT_SECCOMP:
		return set_seccomp_level(arg);
	default:
		return usage_error("%s", "invalid option");
	}
}

static int parse_run(int argc, char **argv, struct vm_config *cfg)
{
	int opt, idx, ret;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", run_options, &idx)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return -1;
		}
		if (opt == '?')
			return usage_error("unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		ret = run_option(cfg, opt, optarg, run_options[idx].name);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

static const char *const stop_names[] = {
	[VM_STOP_RESET] = "reset", [VM_STOP_POWEROFF] = "poweroff",
	[VM_STOP_QUIT] = "quit",   [VM_STOP_SIGNAL] = "signal",
	[VM_STOP_ERROR] = "error", [VM_STOP_MIGRATED] = "migrated",
};

static int report_result(const struct vmm_result *res)
{
	/* The last line of the log: how a manager that did not start us learns the outcome. */
	if (res->reason < ARRAY_SIZE(stop_names) && stop_names[res->reason])
		log_info("the VM stopped: %s", stop_names[res->reason]);
	switch (res->reason) {
	case VM_STOP_ERROR:
		fprintf(stderr, "ember: %s\n", res->msg[0] ? res->msg : "the VM failed");
		return EXIT_FAILURE;
	case VM_STOP_SIGNAL:
		return 128 + res->signal;
	default: /* reset, power-off, quit */
		return EXIT_SUCCESS;
	}
}

struct api_opts {
	const char *sock, *id, *config, *level, *log_path, *metrics_path, *console_sock;
	bool no_api;
	bool boot_timer;
	bool start_now; /* boot at once (flags or a config file), the API serves it */
};

static int api_serve(const struct api_opts *o, struct vm_config *cfg, struct consock *con,
		     struct vmm_result *res, struct err *err);

/* --console-sock PATH (or none): the console, stdin and stdout, served on a socket too. */
static int open_console_sock(struct consock *con, const char *path, struct err *err)
{
	consock_init(con, STDIN_FILENO, STDOUT_FILENO);
	return path ? consock_open(con, path, err) : 0;
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmm_result res;
	struct consock con;
	struct err err = { { 0 } };
	int ret;

	vm_config_init(&cfg);
	ret = parse_run(argc, argv, &cfg);
	if (ret) {
		vm_config_fini(&cfg);
		return ret < 0 ? EXIT_SUCCESS : ret;
	}
	if (vm_config_validate(&cfg, arch_max_vcpus(), &err) < 0) {
		vm_config_fini(&cfg);
		return usage_error("%s", err.msg);
	}
	ret = open_console_sock(&con, run_console_sock, &err);
	if (ret == 0 && run_api_sock)
		ret = api_serve(&(struct api_opts){ .sock = run_api_sock, .start_now = true }, &cfg,
				&con, &res, &err);
	else if (ret == 0)
		ret = vmm_run(&cfg, &con, &res, &err);
	consock_close(&con, run_console_sock);
	vm_config_fini(&cfg);
	if (ret < 0) {
		fprintf(stderr, "ember: %s\n", err.msg[0] ? err.msg : strerror(-ret));
		return EXIT_FAILURE;
	}
	return report_result(&res);
}

/* --- API mode: ember --api-sock PATH [--id ID] [--config-file FILE] [--no-api] --- */

enum {
	API_OPT_SOCK = 512,
	API_OPT_ID,
	API_OPT_CONFIG,
	API_OPT_NO_API,
	API_OPT_LEVEL,
	API_OPT_LOG_PATH,
	API_OPT_SECCOMP,
	API_OPT_METRICS,
	API_OPT_BOOT_TIMER,
	API_OPT_CONSOLE_SOCK,
};

static const struct option api_options[] = {
	{ "api-sock", required_argument, NULL, API_OPT_SOCK },
	{ "id", required_argument, NULL, API_OPT_ID },
	{ "config-file", required_argument, NULL, API_OPT_CONFIG },
	{ "no-api", no_argument, NULL, API_OPT_NO_API },
	{ "level", required_argument, NULL, API_OPT_LEVEL },
	{ "log-path", required_argument, NULL, API_OPT_LOG_PATH },
	{ "seccomp-level", required_argument, NULL, API_OPT_SECCOMP },
	{ "boot-timer", no_argument, NULL, API_OPT_BOOT_TIMER },
	{ "metrics-path", required_argument, NULL, API_OPT_METRICS },
	{ "console-sock", required_argument, NULL, API_OPT_CONSOLE_SOCK },
	{ NULL, 0, NULL, 0 },
};

static int api_option(struct api_opts *o, int opt, const char *arg, const char *name)
{
	switch (opt) {
	case API_OPT_SOCK:
		o->sock = arg;
		return 0;
	case API_OPT_ID:
		if (strlen(arg) < 1 || strlen(arg) > 64)
			return usage_error("--id must be 1 to 64 characters");
		o->id = arg;
		return 0;
	case API_OPT_CONFIG:
		o->config = arg;
		return 0;
	case API_OPT_NO_API:
		o->no_api = true;
		return 0;
	case API_OPT_LEVEL:
		o->level = arg;
		return 0;
	case API_OPT_LOG_PATH:
		o->log_path = arg;
		return 0;
	case API_OPT_SECCOMP:
		return set_seccomp_level(arg);
	case API_OPT_METRICS:
		o->metrics_path = arg;
		return 0;
	case API_OPT_BOOT_TIMER:
		o->boot_timer = true;
		return 0;
	case API_OPT_CONSOLE_SOCK:
		o->console_sock = arg;
		return 0;
	default:
		return usage_error("--%s is not supported by this build", name);
	}
}

static int parse_api(int argc, char **argv, struct api_opts *o)
{
	int opt, idx, ret;

	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":", api_options, &idx)) != -1) {
		if (opt == '?')
			return usage_error("unknown option '%s'", argv[optind - 1]);
		if (opt == ':')
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		ret = api_option(o, opt, optarg, api_options[idx].name);
		if (ret)
			return ret;
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->no_api && !o->config)
		return usage_error(
			"--no-api needs --config-file (nothing else could start the VM)");
	if (!o->no_api && !o->sock)
		return usage_error("--api-sock PATH is needed (or --no-api with --config-file)");
	return 0;
}

/* Where and what to log: --level/--log-path and PUT /logger. */
static int api_logger(void *ctx, const char *path, const char *level, struct err *err)
{
	int lvl, fd;

	if (level && api_log_level(level, &lvl) < 0)
		return err_set(err, -EINVAL, "unknown log level '%s'", level);
	if (path) {
		fd = file_open_sink(path);
		if (fd < 0)
			return err_set(err, fd, "log_path '%s': %s", path, strerror(-fd));
		if (log_redirect(fd) < 0) {
			close(fd);
			return err_set(err, -errno, "log_path '%s': %s", path, strerror(errno));
		}
	}
	if (level)
		log_mute(lvl < 0);
	if (level && lvl >= 0)
		log_set_level((enum log_level)lvl);
	return 0;
}

/* --metrics-path: like PUT /metrics, an existing file or FIFO. */
static int open_metrics(const char *path, struct err *err)
{
	int ret = metrics_open(path);

	return ret < 0 ? err_set(err, ret, "--metrics-path '%s': %s", path, strerror(-ret)) : 0;
}

static int api_call(void *ctx, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	return ctl_call(ctx, cmd, arg, err);
}

static int api_post(void *ctx, enum ctl_cmd cmd, const void *arg, ctl_done_fn done, void *cookie,
		    struct err *err)
{
	return ctl_post(ctx, cmd, arg, done, cookie, err);
}

static int api_collect(void *ctx, struct err *err)
{
	return ctl_collect(ctx, err);
}

/* The config file's logger section; metrics are refused. */
static int api_config_extra(const char *key, struct json_object *o, void *ctx, struct err *err)
{
	struct json_object *path, *level;

	if (strcmp(key, "logger") != 0)
		return err_set(err, -ENOTSUP, "config file: '%s' is not supported", key);
	path = json_object_object_get(o, "log_path");
	level = json_object_object_get(o, "level");
	return api_logger(ctx, path ? json_object_get_string(path) : NULL,
			  level ? json_object_get_string(level) : NULL, err);
}

static int api_load_config(struct vm_config *cfg, const char *path, struct err *err)
{
	struct json_object *doc = NULL;
	struct file_view fv = { 0 };
	int ret = file_view_load(&fv, path, "config file", 1 << 20, err);

	if (ret < 0)
		return ret;
	ret = vm_json_parse((const char *)fv.data, fv.size, &doc, err);
	if (ret == 0)
		ret = vm_json_config_file(cfg, doc, api_config_extra, NULL, err);
	if (ret < 0)
		err_prefix(err, "config file '%s': ", path);
	json_object_put(doc);
	file_view_release(&fv);
	return ret;
}

/* The stop signals are blocked before any thread starts: the main thread takes them. */
static void block_stop_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

static int api_serve(const struct api_opts *o, struct vm_config *cfg, struct consock *con,
		     struct vmm_result *res, struct err *err)
{
	struct vmm_control ctl;
	struct api api = { .cfg = cfg,
			   .id = o->id,
			   .call = api_call,
			   .post = api_post,
			   .collect = api_collect,
			   .logger = api_logger };
	struct api_server *srv = NULL;
	int fd, ret = ctl_init(&ctl);

	if (ret < 0)
		return err_set(err, ret, "%s", strerror(-ret));
	api.ctx = &ctl;
	if (o->id)
		log_set_id(o->id);
	api.state = o->start_now ? API_RUNNING : API_NOT_STARTED;
	block_stop_signals();
	if (!o->no_api) {
		fd = unix_listen(o->sock, 16, 0600, err);
		ret = fd < 0 ? fd : api_server_start(&api, fd, &srv, err);
		if (ret < 0)
			err_prefix(err, "API socket '%s': ", o->sock);
	}
	if (ret == 0)
		ret = vmm_serve(cfg, &ctl, con, o->start_now, res, err);
	api_server_stop(srv);
	if (srv)
		unlink(o->sock);
	ctl_fini(&ctl);
	return ret;
}

static int cmd_api(int argc, char **argv)
{
	struct api_opts o = { 0 };
	struct vm_config cfg;
	struct vmm_result res;
	struct consock con;
	struct err err = { { 0 } };
	int ret = parse_api(argc, argv, &o);

	if (ret)
		return ret;
	consock_init(&con, STDIN_FILENO, STDOUT_FILENO);
	vm_config_init(&cfg);
	if (o.level || o.log_path)
		ret = api_logger(NULL, o.log_path, o.level, &err);
	if (ret == 0 && o.metrics_path)
		ret = open_metrics(o.metrics_path, &err);
	if (ret == 0 && o.config)
		ret = api_load_config(&cfg, o.config, &err);
	o.start_now = o.config != NULL;
	cfg.boot_timer = o.boot_timer;
	/* Before the API socket: whoever sees that one finds the console's too. */
	if (ret == 0)
		ret = open_console_sock(&con, o.console_sock, &err);
	if (ret == 0)
		ret = api_serve(&o, &cfg, &con, &res, &err);
	consock_close(&con, o.console_sock);
	vm_config_fini(&cfg);
	if (ret < 0) {
		fprintf(stderr, "ember: %s\n", err.msg[0] ? err.msg : strerror(-ret));
		return EXIT_FAILURE;
	}
	return report_result(&res);
}

/*
 * A parent may start us with fd 0, 1 or 2 closed; the next open() would then
 * take that number and, say, /dev/kvm would be read as the console. Park
 * /dev/null there first.
 */
static int ensure_standard_fds(void)
{
	for (int fd = 0; fd <= 2; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		if (open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY) != fd)
			return -1;
	}
	return 0;
}

/* Firecracker's rebase-snap: --base-file MEM --diff-file DIFF, in either order. */
static int cmd_rebase(int argc, char **argv)
{
	const char *base = NULL, *diff = NULL;
	struct err err = { { 0 } };

	for (int i = 1; i < argc; i += 2) {
		if (i + 1 >= argc)
			return usage_error("option '%s' needs a value", argv[i]);
		if (strcmp(argv[i], "--base-file") == 0)
			base = argv[i + 1];
		else if (strcmp(argv[i], "--diff-file") == 0)
			diff = argv[i + 1];
		else
			return usage_error("unknown option '%s'", argv[i]);
	}
	if (!base || !diff)
		return usage_error("rebase-snap needs --base-file and --diff-file");
	if (snapshot_rebase(base, diff, &err) < 0) {
		fprintf(stderr, "ember: rebase-snap: %s\n", err.msg);
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
	if (ensure_standard_fds() < 0)
		return EXIT_FAILURE;
	seccomp_set_level(SC_LEVEL_MAX); /* the strictest unless --seccomp-level says otherwise */
	/*
	 * glibc reads the time zone file on the first time conversion (the RTC,
	 * the API's Date header): do it now, before any thread is filtered.
	 */
	tzset();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "rebase-snap") == 0)
		return cmd_rebase(argc - 1, argv + 1);
	if (strcmp(argv[1], "host-check") == 0 && argc == 2)
		return host_check(stdout) ? EXIT_FAILURE : EXIT_SUCCESS;
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("ember %s\n", EMBER_VERSION);
		return EXIT_SUCCESS;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (argv[1][0] == '-')
		return cmd_api(argc, argv);
	return usage_error("unknown command '%s'", argv[1]);
}

/*
 * emberctl: emberd's command-line client, with verbs a virsh user would
 * guess. Every verb takes --json for scripts. host-check runs here, without
 * emberd.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "config/vm_json.h"
#include "manager/mgr.h"
#include "util/file.h"
#include "util/unixsock.h"

#define EXIT_USAGE 2

struct ctl {
	const char *socket;
	bool json;
	int fd;
	struct linebuf lb;
};

static int usage(FILE *out, int status)
{
	fprintf(out,
		"Usage: emberctl [--socket PATH] [--json] VERB [ARGS]\n"
		"  list [--all]                  VMs (running and paused; --all: every one)\n"
		"  define FILE                   add or replace a VM definition (JSON)\n"
		"  undefine NAME                 forget a VM that is not running\n"
		"  start NAME                    boot it\n"
		"  start NAME --incoming URL [--timeout S] [--verbose]\n"
		"                                take it from another ember's migrate\n"
		"                                (waits up to S seconds for the sender)\n"
		"  migrate NAME URL [--verbose]  live-migrate it to URL (unix:PATH or\n"
		"                                tcp:ADDRESS:PORT); progress on a terminal\n"
		"  shutdown NAME [--timeout S]   press its power button; with --timeout,\n"
		"                                destroy it if it still runs after S seconds\n"
		"  destroy NAME                  stop it at once\n"
		"  suspend NAME | resume NAME    pause or resume its vCPUs and devices\n"
		"  info NAME                     state, process, vCPU threads and their CPUs\n"
		"  dumpdef NAME                  its definition\n"
		"  autostart NAME [--disable]    start it when emberd starts\n"
		"  snapshot NAME SNAP [--verbose] save it (it runs on); restore NAME SNAP\n"
		"  setlimit NAME KEY VALUE       cpu_quota_pct, cpu_weight, memory_max_mib,\n"
		"                                io_weight, cpuset: now and from now on\n"
		"  vcpupin NAME VCPU CPULIST     pin a vCPU thread (\"2\", \"0-3,6\")\n"
		"  events                        follow events until interrupted\n"
		"  console NAME                  the VM's serial console (Ctrl-] leaves it)\n"
		"  net-define FILE | net-undefine NAME | net-start NAME | net-destroy NAME\n"
		"  net-list [--all] | net-info NAME\n"
		"                                networks: a bridge with NAT and DHCP; a VM\n"
		"                                with \"network\": NAME gets a tap on it per\n"
		"                                interface\n"
		"  host-check                    what this host can and cannot do\n"
		"  version\n"
		"The socket is $EMBER_SOCKET, else %s.\n",
		MGR_SOCKET);
	return status;
}

static int fail(const char *fmt, ...) __printf(1, 2);

static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "emberctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_FAILURE;
}

/* --- talking to emberd ----------------------------------------------------------- */

static int ctl_connect(struct ctl *c)
{
	int fd = unix_connect(c->socket, 0);

	c->fd = fd < 0 ? -1 : fd;
	return fd < 0 ? fd : 0;
}

/* The next line from emberd, parsed; NULL when it hung up. */
static struct json_object *ctl_read(struct ctl *c)
{
	for (;;) {
		int bad;
		char *line = lb_next(&c->lb, &bad);
		struct json_object *o;
		ssize_t n;

		if (line) {
			o = json_tokener_parse(line);
			lb_consume(&c->lb);
			return o;
		}
		if (bad)
			return NULL;
		n = lb_fill(&c->lb, c->fd);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return NULL;
	}
}

static int ctl_send(struct ctl *c, const char *cmd, struct json_object *args)
{
	struct json_object *req = json_object_new_object();
	int ret;

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	json_object_object_add(req, "args", args ? args : json_object_new_object());
	ret = mgr_write_line(c->fd, req);
	json_object_put(req);
	return ret < 0 ? fail("emberd went away: %s", strerror(-ret)) : 0;
}

/* The reply to the request sent: 0 with its result (new reference), or a message shown. */
static int ctl_reply(struct ctl *c, struct json_object **result)
{
	struct json_object *rep = ctl_read(c);
	int ret;

	if (!rep)
		return fail("%s", "emberd went away without an answer");
	if (!json_object_get_boolean(json_object_object_get(rep, "ok"))) {
		ret = fail("%s", json_object_get_string(json_object_object_get(rep, "error")));
		json_object_put(rep);
		return ret;
	}
	if (result)
		*result = json_object_get(json_object_object_get(rep, "result"));
	json_object_put(rep);
	return 0;
}

/* Sends one request; 0 with its reply's result (new reference), or a message shown. */
static int ctl_call(struct ctl *c, const char *cmd, struct json_object *args,
		    struct json_object **result)
{
	return ctl_send(c, cmd, args) ?: ctl_reply(c, result);
}

static void print_json(struct json_object *o);

/* A verb that changes something: --json prints the reply's result ({} if none). */
static int ctl_act(struct ctl *c, const char *cmd, struct json_object *args)
{
	struct json_object *res = NULL;
	int ret = ctl_call(c, cmd, args, &res);

	if (ret == 0 && c->json)
		print_json(res);
	json_object_put(res);
	return ret;
}

static struct json_object *name_args(const char *name)
{
	struct json_object *a = json_object_new_object();

	json_object_object_add(a, "name", json_object_new_string(name));
	return a;
}

/* A reply's result for scripts; {} for a verb whose reply has none. */
static void print_json(struct json_object *o)
{
	printf("%s\n", o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
								     JSON_C_TO_STRING_NOSLASHESCAPE)
			 : "{}");
}

/* --- verbs --------------------------------------------------------------------------- */

/* "VERB [--all]": the list emberd gives for `cmd`. */
static int fetch_list(struct ctl *c, const char *cmd, int argc, char **argv,
		      struct json_object **res)
{
	struct json_object *args;

	if (argc > 2 || (argc > 1 && strcmp(argv[1], "--all")))
		return usage(stderr, EXIT_USAGE);
	args = json_object_new_object();
	json_object_object_add(args, "all", json_object_new_boolean(argc > 1));
	return ctl_call(c, cmd, args, res);
}

static int verb_list(struct ctl *c, int argc, char **argv)
{
	struct json_object *res = NULL;
	int ret = fetch_list(c, "list", argc, argv, &res);

	if (ret)
		return ret;
	if (c->json) {
		print_json(res);
	} else {
		printf(" %-24s %-10s %s\n", "Name", "State", "Autostart");
		for (size_t i = 0; i < json_object_array_length(res); i++) {
			struct json_object *v = json_object_array_get_idx(res, i);

			printf(" %-24s %-10s %s\n",
			       json_object_get_string(json_object_object_get(v, "name")),
			       json_object_get_string(json_object_object_get(v, "state")),
			       json_object_get_boolean(json_object_object_get(v, "autostart"))
				       ? "yes"
				       : "no");
		}
	}
	json_object_put(res);
	return 0;
}

static int verb_define(struct ctl *c, const char *cmd, const char *what, int argc, char **argv)
{
	struct file_view fv = { 0 };
	struct json_object *def = NULL, *args, *res = NULL;
	struct err err = { { 0 } };
	char name[MGR_NAME_MAX + 1];
	int ret;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (file_view_load(&fv, argv[1], "definition", MGR_MAX_LINE / 2, &err) < 0 ||
	    vm_json_parse((const char *)fv.data, fv.size, &def, &err) < 0) {
		file_view_release(&fv);
		return fail("%s", err.msg);
	}
	file_view_release(&fv);
	/* The request takes `def` with it. */
	snprintf(name, sizeof(name), "%.*s", MGR_NAME_MAX,
		 json_object_get_string(json_object_object_get(def, "name")) ?: "?");
	args = json_object_new_object();
	json_object_object_add(args, "definition", def);
	ret = ctl_call(c, cmd, args, &res);
	if (ret == 0 && c->json)
		print_json(res);
	else if (ret == 0)
		printf("%s '%s' %s\n", what, name,
		       json_object_get_boolean(json_object_object_get(res, "created"))
			       ? "defined"
			       : "redefined");
	json_object_put(res);
	return ret;
}

static void print_info(struct json_object *o)
{
	struct json_object *vcpus = json_object_object_get(o, "vcpus");

	json_object_object_foreach(o, key, val)
	{
		if (strcmp(key, "vcpus") && strcmp(key, "limits"))
			printf("%-14s %s\n", key, val ? json_object_get_string(val) : "-");
	}
	for (size_t i = 0; vcpus && i < json_object_array_length(vcpus); i++) {
		struct json_object *v = json_object_array_get_idx(vcpus, i);

		printf("vcpu %-9d thread %d on CPU %d (may run on %s)\n",
		       json_object_get_int(json_object_object_get(v, "vcpu")),
		       json_object_get_int(json_object_object_get(v, "tid")),
		       json_object_get_int(json_object_object_get(v, "cpu")),
		       json_object_get_string(json_object_object_get(v, "affinity")) ?: "?");
	}
}

/* Verbs of one VM and no more arguments: the reply is printed as it came. */
static int verb_simple(struct ctl *c, const char *cmd, int argc, char **argv, const char *done)
{
	struct json_object *res = NULL;
	int ret;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	ret = ctl_call(c, cmd, name_args(argv[1]), &res);
	if (ret == 0 && (c->json || !done)) {
		if (!c->json && !strcmp(cmd, "info"))
			print_info(res);
		else
			print_json(res);
	} else if (ret == 0) {
		printf("VM '%s' %s\n", argv[1], done);
	}
	json_object_put(res);
	return ret;
}

static const char *vm_state(struct ctl *c, const char *name, struct json_object **keep)
{
	if (ctl_call(c, "info", name_args(name), keep))
		return NULL;
	return json_object_get_string(json_object_object_get(*keep, "state"));
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The power button, then (with --timeout) waiting for the guest, destroying it if it lingers. */
static int verb_shutdown(struct ctl *c, int argc, char **argv)
{
	double timeout = -1, end;
	bool tty = isatty(STDERR_FILENO);
	int ret;

	if (argc == 4 && !strcmp(argv[2], "--timeout"))
		timeout = atof(argv[3]);
	else if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (argc == 4 && (timeout <= 0 || timeout > 86400))
		return fail("--timeout must be 1 to 86400 seconds, not '%s'", argv[3]);
	ret = ctl_call(c, "shutdown", name_args(argv[1]), NULL);
	if (ret || timeout < 0) {
		if (!ret && !c->json)
			printf("VM '%s' is being shut down\n", argv[1]);
		return ret;
	}
	for (end = mono_s() + timeout; mono_s() < end;) {
		struct json_object *info = NULL;
		const char *state = vm_state(c, argv[1], &info);
		bool gone = state && strcmp(state, "running") && strcmp(state, "paused");

		json_object_put(info);
		if (!state)
			return EXIT_FAILURE;
		if (gone) {
			if (tty)
				fprintf(stderr, "\r\033[K");
			printf(c->json ? "{\"shutdown\": \"clean\"}\n" : "VM '%s' shut down\n",
			       argv[1]);
			return 0;
		}
		if (tty)
			fprintf(stderr, "\rwaiting for '%s' to shut down: %.0f s left ", argv[1],
				end - mono_s());
		usleep(100000);
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	ret = ctl_call(c, "destroy", name_args(argv[1]), NULL);
	if (ret == 0)
		printf(c->json ? "{\"shutdown\": \"destroyed\"}\n"
			       : "VM '%s' did not shut down in time: destroyed\n",
		       argv[1]);
	return ret;
}

static double mib(struct json_object *o, const char *key)
{
	return (double)json_object_get_int64(json_object_object_get(o, key)) / (1 << 20);
}

/* One line of a migration's (or a snapshot's) progress, from `info` on a second connection. */
static void show_progress(struct ctl *watch, const char *name)
{
	struct json_object *rep, *mig, *snap;
	const char *state;

	if (watch->fd < 0 && ctl_connect(watch) < 0)
		return;
	if (ctl_send(watch, "info", name_args(name)) < 0 || !(rep = ctl_read(watch)))
		return;
	mig = json_object_object_get(json_object_object_get(rep, "result"), "migration");
	state = json_object_get_string(json_object_object_get(mig, "state"));
	snap = json_object_object_get(json_object_object_get(rep, "result"), "snapshot");
	if (snap)
		fprintf(stderr, "\r\033[K'%s': saving '%s', %.1f s", name,
			json_object_get_string(json_object_object_get(snap, "name")),
			json_object_get_int64(json_object_object_get(snap, "elapsed_ms")) / 1e3);
	else if (state && !strcmp(state, "listening"))
		fprintf(stderr, "\r\033[K'%s': waiting for the sender, %.1f s", name,
			json_object_get_int64(json_object_object_get(mig, "elapsed_ms")) / 1e3);
	else if (state)
		fprintf(stderr,
			"\r\033[K'%s': %s, %.1f of %.1f MiB, round %d, %" PRId64
			" dirty pages, %.1f s",
			name, state, mib(mig, "bytes"), mib(mig, "ram_bytes"),
			json_object_get_int(json_object_object_get(mig, "rounds")),
			json_object_get_int64(json_object_object_get(mig, "dirty_pages")),
			json_object_get_int64(json_object_object_get(mig, "elapsed_ms")) / 1e3);
	json_object_put(rep);
}

/*
 * A request whose reply comes when a migration ends; on a terminal (or
 * with --verbose) its progress meanwhile, twice a second.
 */
static int call_with_progress(struct ctl *c, const char *cmd, struct json_object *args,
			      const char *name, bool verbose, struct json_object **res)
{
	struct ctl watch = { .socket = c->socket, .fd = -1 };
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	bool shown = false;
	int ret = ctl_send(c, cmd, args);

	while (ret == 0 && verbose && c->lb.len == 0 && poll(&p, 1, 500) == 0) {
		show_progress(&watch, name);
		shown = true;
	}
	if (shown)
		fprintf(stderr, "\r\033[K");
	if (watch.fd >= 0)
		close(watch.fd);
	lb_fini(&watch.lb);
	return ret ?: ctl_reply(c, res);
}

static bool verbose_flag(int *argc, char **argv)
{
	if (*argc > 2 && !strcmp(argv[*argc - 1], "--verbose")) {
		(*argc)--;
		return true;
	}
	return isatty(STDERR_FILENO);
}

/* migrate NAME URL [--verbose]: to the ember listening there (start NAME --incoming URL). */
static int verb_migrate(struct ctl *c, int argc, char **argv)
{
	bool verbose = verbose_flag(&argc, argv);
	struct json_object *args, *res = NULL;
	int ret;

	if (argc != 3)
		return usage(stderr, EXIT_USAGE);
	args = name_args(argv[1]);
	json_object_object_add(args, "url", json_object_new_string(argv[2]));
	ret = call_with_progress(c, "migrate", args, argv[1], verbose, &res);
	if (ret == 0 && c->json)
		print_json(res);
	else if (ret == 0)
		printf("VM '%s' migrated to %s: %" PRId64 " ms, %" PRId64
		       " ms paused, %d rounds, %.1f MiB\n",
		       argv[1], argv[2],
		       json_object_get_int64(json_object_object_get(res, "total_ms")),
		       json_object_get_int64(json_object_object_get(res, "downtime_ms")),
		       json_object_get_int(json_object_object_get(res, "rounds")),
		       mib(res, "bytes"));
	json_object_put(res);
	return ret;
}

/* start NAME [--incoming URL [--timeout S]] [--verbose] */
static int verb_start(struct ctl *c, int argc, char **argv)
{
	bool verbose = verbose_flag(&argc, argv);
	struct json_object *args, *res = NULL;
	int ret;

	if (argc == 2)
		return verb_simple(c, "start", argc, argv, "started");
	if ((argc != 4 && argc != 6) || strcmp(argv[2], "--incoming") ||
	    (argc == 6 && strcmp(argv[4], "--timeout")))
		return usage(stderr, EXIT_USAGE);
	args = name_args(argv[1]);
	json_object_object_add(args, "incoming", json_object_new_string(argv[3]));
	if (argc == 6)
		json_object_object_add(args, "timeout_s", json_object_new_int(atoi(argv[5])));
	ret = call_with_progress(c, "start", args, argv[1], verbose, &res);
	if (ret == 0 && c->json)
		print_json(res);
	else if (ret == 0)
		printf("VM '%s' migrated in from %s and started\n", argv[1], argv[3]);
	json_object_put(res);
	return ret;
}

static int verb_autostart(struct ctl *c, int argc, char **argv)
{
	struct json_object *args;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--disable")))
		return usage(stderr, EXIT_USAGE);
	args = name_args(argv[1]);
	json_object_object_add(args, "enable", json_object_new_boolean(argc == 2));
	if (ctl_act(c, "autostart", args))
		return EXIT_FAILURE;
	if (!c->json)
		printf("VM '%s' %s\n", argv[1],
		       argc == 2 ? "starts with emberd" : "no longer starts with emberd");
	return 0;
}

/* snapshot NAME SNAP [--verbose] (its time shown on a terminal) | restore NAME SNAP */
static int verb_snapshot(struct ctl *c, const char *cmd, int argc, char **argv)
{
	bool saving = !strcmp(cmd, "snapshot");
	bool verbose = saving && verbose_flag(&argc, argv);
	struct json_object *args, *res = NULL;
	int ret;

	if (argc != 3)
		return usage(stderr, EXIT_USAGE);
	args = name_args(argv[1]);
	json_object_object_add(args, "snapshot", json_object_new_string(argv[2]));
	ret = call_with_progress(c, cmd, args, argv[1], verbose, &res);
	if (ret == 0 && c->json)
		print_json(res);
	else if (ret == 0)
		printf("VM '%s' %s '%s'\n", argv[1], saving ? "saved as" : "restored from",
		       argv[2]);
	json_object_put(res);
	return ret;
}

/* setlimit NAME KEY VALUE (a number, or a CPU list for cpuset) */
static int verb_setlimit(struct ctl *c, int argc, char **argv)
{
	struct json_object *args;
	char *end;
	long long v;

	if (argc != 4)
		return usage(stderr, EXIT_USAGE);
	args = name_args(argv[1]);
	json_object_object_add(args, "key", json_object_new_string(argv[2]));
	v = strtoll(argv[3], &end, 10);
	json_object_object_add(args, "value",
			       *end || end == argv[3] ? json_object_new_string(argv[3])
						      : json_object_new_int64(v));
	if (ctl_act(c, "setlimit", args))
		return EXIT_FAILURE;
	if (!c->json)
		printf("VM '%s': %s = %s\n", argv[1], argv[2], argv[3]);
	return 0;
}

/* vcpupin NAME VCPU CPULIST */
static int verb_vcpupin(struct ctl *c, int argc, char **argv)
{
	struct json_object *args;
	char *end;
	long vcpu;

	if (argc != 4)
		return usage(stderr, EXIT_USAGE);
	vcpu = strtol(argv[2], &end, 10);
	if (*end || end == argv[2] || vcpu < 0 || vcpu > 1023)
		return fail("'%s' is not a vCPU number", argv[2]);
	args = name_args(argv[1]);
	json_object_object_add(args, "vcpu", json_object_new_int((int)vcpu));
	json_object_object_add(args, "cpus", json_object_new_string(argv[3]));
	if (ctl_act(c, "vcpupin", args))
		return EXIT_FAILURE;
	if (!c->json)
		printf("VM '%s': vCPU %ld on CPUs %s\n", argv[1], vcpu, argv[3]);
	return 0;
}

static int verb_net_list(struct ctl *c, int argc, char **argv)
{
	struct json_object *res = NULL;
	int ret = fetch_list(c, "net-list", argc, argv, &res);

	if (ret == 0 && c->json)
		print_json(res);
	else if (ret == 0) {
		printf(" %-16s %-9s %-16s %-18s %s\n", "Name", "State", "Bridge", "IPv4", "VMs");
		for (size_t i = 0; i < json_object_array_length(res); i++) {
			struct json_object *n = json_object_array_get_idx(res, i);

			printf(" %-16s %-9s %-16s %-18s %zu\n",
			       json_object_get_string(json_object_object_get(n, "name")),
			       json_object_get_string(json_object_object_get(n, "state")),
			       json_object_get_string(json_object_object_get(n, "bridge")),
			       json_object_get_string(json_object_object_get(n, "ipv4")),
			       json_object_array_length(json_object_object_get(n, "vms")));
		}
	}
	json_object_put(res);
	return ret;
}

static int verb_net_simple(struct ctl *c, const char *cmd, int argc, char **argv)
{
	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (ctl_act(c, cmd, name_args(argv[1])))
		return EXIT_FAILURE;
	if (!c->json)
		printf("network '%s' %s\n", argv[1],
		       !strcmp(cmd, "net-start")     ? "started"
		       : !strcmp(cmd, "net-destroy") ? "destroyed"
						     : "undefined");
	return 0;
}

#define ESCAPE 0x1d /* Ctrl-], as virsh console */

/* Relays the terminal and the VM's console until the escape key or the console's end. */
static int console_relay(struct ctl *c)
{
	struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN },
			       { .fd = c->fd, .events = POLLIN } };
	char buf[4096];

	/* Output that came with the reply. */
	if (c->lb.len && write(STDOUT_FILENO, c->lb.buf, c->lb.len) < 0)
		return EXIT_FAILURE;
	c->lb.len = 0;
	for (;;) {
		ssize_t n;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return EXIT_FAILURE;
		if (p[1].revents) {
			n = read(c->fd, buf, sizeof(buf));
			if (n <= 0)
				return 0; /* the VM ended */
			if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
				return EXIT_FAILURE;
		}
		if (p[0].revents) {
			char *esc;

			n = read(STDIN_FILENO, buf, sizeof(buf));
			if (n <= 0)
				return 0;
			esc = memchr(buf, ESCAPE, (size_t)n);
			if (file_write_all(c->fd, buf, esc ? (size_t)(esc - buf) : (size_t)n) < 0 ||
			    esc)
				return 0;
		}
	}
}

static int verb_console(struct ctl *c, int argc, char **argv)
{
	struct termios saved, raw;
	bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
	int ret;

	if (argc != 2)
		return usage(stderr, EXIT_USAGE);
	if (ctl_call(c, "console", name_args(argv[1]), NULL))
		return EXIT_FAILURE;
	fprintf(stderr, "Connected to VM '%s'; escape character is ^]\r\n", argv[1]);
	if (tty) {
		raw = saved;
		cfmakeraw(&raw);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	}
	ret = console_relay(c);
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	fprintf(stderr, "\r\n");
	return ret;
}

static int verb_events(struct ctl *c)
{
	struct json_object *o;

	if (ctl_call(c, "events", NULL, NULL))
		return EXIT_FAILURE;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((o = ctl_read(c))) {
		if (c->json)
			printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		else
			printf("%s %s%s%s\n",
			       json_object_get_string(json_object_object_get(o, "event")),
			       json_object_get_string(json_object_object_get(o, "vm")),
			       json_object_object_get(o, "detail") ? ": " : "",
			       json_object_object_get(o, "detail")
				       ? json_object_get_string(json_object_object_get(o, "detail"))
				       : "");
		json_object_put(o);
	}
	return 0;
}

int host_check_run(bool json); /* host_check.c */

static int run_verb(struct ctl *c, int argc, char **argv)
{
	const char *v = argv[0];

	if (!strcmp(v, "list"))
		return verb_list(c, argc, argv);
	if (!strcmp(v, "define"))
		return verb_define(c, v, "VM", argc, argv);
	if (!strcmp(v, "net-define"))
		return verb_define(c, v, "network", argc, argv);
	if (!strcmp(v, "net-list"))
		return verb_net_list(c, argc, argv);
	if (!strcmp(v, "net-start") || !strcmp(v, "net-destroy") || !strcmp(v, "net-undefine"))
		return verb_net_simple(c, v, argc, argv);
	if (!strcmp(v, "net-info"))
		return verb_simple(c, v, argc, argv, NULL);
	if (!strcmp(v, "undefine"))
		return verb_simple(c, v, argc, argv, "undefined");
	if (!strcmp(v, "start"))
		return verb_start(c, argc, argv);
	if (!strcmp(v, "destroy"))
		return verb_simple(c, v, argc, argv, "destroyed");
	if (!strcmp(v, "suspend"))
		return verb_simple(c, v, argc, argv, "suspended");
	if (!strcmp(v, "resume"))
		return verb_simple(c, v, argc, argv, "resumed");
	if (!strcmp(v, "info") || !strcmp(v, "dumpdef"))
		return verb_simple(c, v, argc, argv, NULL);
	if (!strcmp(v, "shutdown"))
		return verb_shutdown(c, argc, argv);
	if (!strcmp(v, "autostart"))
		return verb_autostart(c, argc, argv);
	if (!strcmp(v, "snapshot") || !strcmp(v, "restore"))
		return verb_snapshot(c, v, argc, argv);
	if (!strcmp(v, "setlimit"))
		return verb_setlimit(c, argc, argv);
	if (!strcmp(v, "vcpupin"))
		return verb_vcpupin(c, argc, argv);
	if (!strcmp(v, "events") && argc == 1)
		return verb_events(c);
	if (!strcmp(v, "version") && argc == 1) {
		struct json_object *res = NULL;
		int ret = ctl_call(c, "version", NULL, &res);

		if (ret == 0)
			print_json(res);
		json_object_put(res);
		return ret;
	}
	if (!strcmp(v, "console"))
		return verb_console(c, argc, argv);
	if (!strcmp(v, "migrate"))
		return verb_migrate(c, argc, argv);
	fprintf(stderr, "emberctl: unknown verb '%s'\n", v);
	return usage(stderr, EXIT_USAGE);
}

int main(int argc, char **argv)
{
	struct ctl c = { .socket = getenv("EMBER_SOCKET"), .fd = -1 };
	int i = 1, ret;

	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json"))
			c.json = true;
		else if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			c.socket = argv[++i];
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return usage(stdout, EXIT_SUCCESS);
		else
			return fail("unknown option '%s' (see emberctl --help)", argv[i]) + 1;
	}
	if (i == argc)
		return usage(stderr, EXIT_USAGE);
	if (!strcmp(argv[i], "host-check"))
		return host_check_run(c.json);
	if (!c.socket || !c.socket[0])
		c.socket = MGR_SOCKET;
	ret = ctl_connect(&c);
	if (ret < 0) {
		fprintf(stderr, "emberctl: cannot reach emberd at %s: %s\n", c.socket,
			strerror(-ret));
		return EXIT_FAILURE;
	}
	ret = run_verb(&c, argc - i, argv + i);
	close(c.fd);
	lb_fini(&c.lb);
	return ret;
}

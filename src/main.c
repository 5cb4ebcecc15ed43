/*
 * ember's command line: parses arguments into a vm_config, runs the VM
 * through libember, and turns the outcome into an exit status. The only
 * place that decides how the process ends.
 */
#include <errno.h>
#include <fcntl.h>

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch/arch.h"
#include "config/vm_config.h"
#include "util/log.h"
#include "vmm/hostcheck.h"
#include "vmm/vmm.h"

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif

#define EXIT_USAGE 2

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
	OPT_VSOCK,
	OPT_NET,
	OPT_LATER, /* flags of the command-line contract that this build does not serve yet */
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
	{ "api-sock", required_argument, NULL, OPT_LATER },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ember run --kernel PATH [options]   boot a VM from flags\n"
		"       ember host-check                    can this host run ember?\n"
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
	case OPT_VSOCK:
		if (vm_config_add_vsock(cfg, arg, &err) < 0)
			return usage_error("%s", err.msg);
		return 0;
	case OPT_LATER:
		fprintf(stderr,
			"ember: --%s: not available in this build yet (the API comes in a later "
			"release)\n",
			optname);

		return EXIT_USAGE;
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

static int report_result(const struct vmm_result *res)
{
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

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	struct vmm_result res;
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
	ret = vmm_run(&cfg, &res, &err);
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

int main(int argc, char **argv)
{
	if (ensure_standard_fds() < 0)
		return EXIT_FAILURE;
	if (argc < 2) {

		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
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
	if (strcmp(argv[1], "--api-sock") == 0 || strcmp(argv[1], "--config-file") == 0 ||
	    strcmp(argv[1], "--no-api") == 0 || strcmp(argv[1], "--id") == 0) {
		fprintf(stderr, "ember: the Firecracker-compatible API mode is not in this build "
				"yet; use 'ember run'\n");
		return EXIT_USAGE;
	}
	return usage_error("unknown command '%s'", argv[1]);
}

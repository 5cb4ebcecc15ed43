/*
 * The guest's main program: read the command line, run the tests it names in
 * order, print DONE and end the VM the way the command line asks.
 *
 * Command line (space-separated words; unknown words are ignored because the
 * VMM may append its own):
 *   test=NAME[,NAME...]  tests to run, in order (several test= words add up)
 *   exit=reset|poweroff|triple|halt|acpi-reset   how to end (default reset)
 *   iters=N              iterations of the benchmarks
 *   expect_cpus=N        the number of CPUs the smp test must find
 *   net_ip=A.B.C.D       virtio-net's IPv4 address
 *   net_pings=N          the echo replies virtio-net sends before it passes
 *   net_wait_s=N         how long virtio-net waits for them (default 30 s)
 *   console_lines=N      the lines virtio-console echoes before it passes
 *   ticks=N              the TICK lines the ticker prints (default 50)
 *   blk_ops=N            bench-blk's 4 KiB random reads (default 20000)
 *   blk_mib=N            bench-blk's MiB read, then written, sequentially (256)
 *   net_frames=N         bench-net's frames of each size (default 200000)
 */
#include "guest.h"
#include "io.h"

#define MAX_TESTS 64

const struct boot_info *boot;
struct config config;
static enum exit_method exit_method = EXIT_RESET;

static const struct {
	const char *name;
	void (*run)(void);
} tests[] = {
	{ "hello", test_hello },
	{ "serial", test_serial },
	{ "echo", test_echo },
	{ "smp", test_smp },
	{ "cmdline", test_cmdline },
	{ "initrd", test_initrd },
	{ "memmap", test_memmap },
	{ "rtc", test_rtc },
	{ "cpuid", test_cpuid },
	{ "bench-pio", test_bench_pio },
	{ "idle", test_idle },
	{ "emulation-failure", test_emulation_failure },
	{ "exception", test_exception },
	{ "unhandled", test_unhandled },
	{ "virtio-rng", test_virtio_rng },
	{ "virtio-blk", test_virtio_blk },
	{ "virtio-bad-chain", test_virtio_bad_chain },
	{ "virtio-net", test_virtio_net },
	{ "virtio-console", test_virtio_console },
	{ "virtio-vsock", test_virtio_vsock },
	{ "ticker", test_ticker },
	{ "memhog", test_memhog },
	{ "boot-timer", test_boot_timer },
	{ "ctrl-alt-del", test_ctrl_alt_del },
	{ "hostile", test_hostile },
	{ "power-button", test_power_button },
	{ "bench-blk", test_bench_blk },
	{ "bench-net", test_bench_net },
};

static const char *const exit_names[] = {
	[EXIT_RESET] = "reset",		  /* i8042 reset, then a triple fault */
	[EXIT_POWEROFF] = "poweroff",	  /* ACPI S5 */
	[EXIT_TRIPLE] = "triple",	  /* triple fault */
	[EXIT_HALT] = "halt",		  /* cli; hlt forever */
	[EXIT_ACPI_RESET] = "acpi-reset", /* FADT RESET_REG */
};

/* The command line cut into words in place: a copy the tests may not touch. */
static char words[CMDLINE_SIZE] __noinit;
static const char *test_names[MAX_TESTS];
static unsigned int nr_tests;

static void add_tests(char *list)
{
	char *name = list;

	for (char *p = list;; p++) {
		bool end = *p == '\0';

		if (*p != ',' && !end)
			continue;
		*p = '\0';
		if (*name && nr_tests < MAX_TESTS)
			test_names[nr_tests++] = name;
		if (end)
			return;
		name = p + 1;
	}
}

static void set_exit(const char *name)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(exit_names); i++) {
		if (strcmp(name, exit_names[i]) == 0) {
			exit_method = (enum exit_method)i;
			return;
		}
	}
	gprintf("FAIL exit: unknown method '%s', using reset\n", name);
}

static void set_number(const char *key, const char *value, uint64_t *out)
{
	if (!parse_u64(value, out))
		gprintf("FAIL %s: '%s' is not a number\n", key, value);
}

static void parse_word(char *w)
{
	uint64_t v = 0;

	if (starts_with(w, "test=")) {
		add_tests(w + 5);
	} else if (starts_with(w, "exit=")) {
		set_exit(w + 5);
	} else if (starts_with(w, "iters=")) {
		set_number("iters", w + 6, &config.iters);
	} else if (starts_with(w, "expect_cpus=")) {
		set_number("expect_cpus", w + 12, &v);
		config.expect_cpus = (unsigned int)v;
	} else if (starts_with(w, "net_ip=")) {
		config.net_ip = w + 7; /* words outlive the tests */
	} else if (starts_with(w, "net_pings=")) {
		set_number("net_pings", w + 10, &config.net_pings);
	} else if (starts_with(w, "net_wait_s=")) {
		set_number("net_wait_s", w + 11, &config.net_wait_s);
	} else if (starts_with(w, "console_lines=")) {
		set_number("console_lines", w + 14, &config.console_lines);
	} else if (starts_with(w, "ticks=")) {
		set_number("ticks", w + 6, &config.ticks);
	} else if (starts_with(w, "blk_ops=")) {
		set_number("blk_ops", w + 8, &config.blk_ops);
	} else if (starts_with(w, "blk_mib=")) {
		set_number("blk_mib", w + 8, &config.blk_mib);
	} else if (starts_with(w, "net_frames=")) {
		set_number("net_frames", w + 11, &config.net_frames);
	}
}

static void parse_cmdline(const char *cmdline)
{
	char *w = words;

	memcpy(words, cmdline, strlen(cmdline) + 1);
	for (char *p = words;; p++) {
		bool end = *p == '\0';

		if (*p != ' ' && *p != '\t' && !end)
			continue;
		*p = '\0';
		if (*w)
			parse_word(w);
		if (end)
			return;
		w = p + 1;
	}
}

static void run_test(const char *name)
{
	for (unsigned int i = 0; i < ARRAY_SIZE(tests); i++) {
		if (strcmp(name, tests[i].name) == 0) {
			tests[i].run();
			return;
		}
	}
	gprintf("FAIL %s: unknown test\n", name);
}

/*
 * The first line, printed by the entry code before anything else (before
 * .bss is even cleared) because the time to it is what boot benchmarks
 * measure. It uses no global state.
 */
void boot_banner(const char *protocol);
void boot_banner(const char *protocol)
{
	serial_init();
	gprintf("EMBER-GUEST boot=%s\n", protocol);
}

_Noreturn void guest_main(const struct boot_info *bi)
{
	boot = bi;
	cpu_init();
	if (bi->error)
		gprintf("FAIL boot: %s\n", bi->error);
	parse_cmdline(bi->cmdline);
	for (unsigned int i = 0; i < nr_tests; i++)
		run_test(test_names[i]);
	gprintf("DONE\n");
	guest_exit();
}

/* i8042 "pulse output line" command 0xFE resets the CPU (8042 data sheets). */
#define I8042_COMMAND	    0x64
#define I8042_CMD_RESET_CPU 0xfe

_Noreturn void guest_exit(void)
{
	switch (exit_method) {
	case EXIT_POWEROFF:
		gprintf("FAIL poweroff: %s\n", acpi_poweroff());
		halt_forever();
	case EXIT_ACPI_RESET:
		gprintf("FAIL acpi-reset: %s\n", acpi_reset());
		halt_forever();
	case EXIT_TRIPLE:
		triple_fault();
	case EXIT_HALT:
		halt_forever();
	case EXIT_RESET:
	default:
		outb(I8042_COMMAND, I8042_CMD_RESET_CPU);
		triple_fault();
	}
}

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "console/term.h"

static size_t run(struct term *t, const char *in, uint8_t *out, enum term_action *a)
{
	return term_filter(t, (const uint8_t *)in, strlen(in), out, a);
}

static void test_plain_input_passes(void **state)
{
	struct term t = { .fd = -1 };
	enum term_action a;
	uint8_t out[64];

	(void)state;
	assert_int_equal(run(&t, "ls -l\r", out, &a), 6);
	assert_memory_equal(out, "ls -l\r", 6);
	assert_int_equal(a, TERM_NONE);
}

static void test_quit(void **state)
{
	struct term t = { .fd = -1 };
	enum term_action a;
	uint8_t out[64];

	(void)state;
	assert_int_equal(run(&t, "ab\x01xcd", out, &a), 2);
	assert_int_equal(a, TERM_QUIT);
}

static void test_escape_split_across_reads(void **state)
{
	struct term t = { .fd = -1 };
	enum term_action a;
	uint8_t out[64];

	(void)state;
	assert_int_equal(run(&t, "q\x01", out, &a), 1);
	assert_int_equal(a, TERM_NONE);
	assert_int_equal(run(&t, "x", out, &a), 0);
	assert_int_equal(a, TERM_QUIT);
}

static void test_literal_escape_and_help(void **state)
{
	struct term t = { .fd = -1 };
	enum term_action a;
	uint8_t out[64];

	(void)state;
	assert_int_equal(run(&t,
			     "\x01"
			     "a\x01\x01",
			     out, &a),
			 2);
	assert_memory_equal(out, "\x01\x01", 2);
	assert_int_equal(run(&t, "\x01h", out, &a), 0);
	assert_int_equal(a, TERM_HELP);
	assert_int_equal(run(&t, "\x01zq", out, &a), 1); /* unknown command: dropped */
	assert_memory_equal(out, "q", 1);
}

/* A console socket's client took stdin over: the terminal is still put back as it was. */
static void test_restore_after_the_fd_changed(void **state)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY), tty, probe, null;
	struct termios before, after;
	struct term t;

	(void)state;
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		skip(); /* no devpts here */
	tty = open(ptsname(master), O_RDWR | O_NOCTTY);
	probe = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(tty >= 0 && probe >= 0);
	assert_int_equal(tcgetattr(probe, &before), 0);
	assert_int_equal(term_init(&t, tty), 0);
	assert_true(t.raw);
	assert_int_equal(tcgetattr(probe, &after), 0);
	assert_int_equal(after.c_lflag & ICANON, 0);
	null = open("/dev/null", O_RDWR);
	assert_int_equal(dup2(null, tty), tty);
	close(null);
	term_restore(&t);
	assert_int_equal(tcgetattr(probe, &after), 0);
	assert_int_equal(after.c_lflag, before.c_lflag);
	assert_int_equal(t.fd, -1);
	close(probe);
	close(tty);
	close(master);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_input_passes),
		cmocka_unit_test(test_quit),
		cmocka_unit_test(test_escape_split_across_reads),
		cmocka_unit_test(test_literal_escape_and_help),
		cmocka_unit_test(test_restore_after_the_fd_changed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The boot timer: only the magic byte at its port logs Firecracker's line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/boot_timer.h"
#include "util/log.h"

static void test_only_the_magic_byte_logs(void **state)
{
	char path[] = "/tmp/ember-boot-timer-XXXXXX", text[512] = { 0 };
	int fd = mkstemp(path);
	struct boot_timer t;
	uint8_t v = 7, magic = BOOT_TIMER_MAGIC, r = 0;
	uint16_t wide = BOOT_TIMER_MAGIC;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(log_redirect(dup(fd)), 0);
	log_set_level(LOG_INFO);
	boot_timer_init(&t);
	boot_timer_ops.write(&t, 0, &v, 1);
	boot_timer_ops.write(&t, 0, &wide, 2);
	assert_int_equal(pread(fd, text, sizeof(text) - 1, 0), 0); /* nothing yet */
	boot_timer_ops.write(&t, 0, &magic, 1);
	assert_true(pread(fd, text, sizeof(text) - 1, 0) > 0);
	assert_non_null(strstr(text, "Guest-boot-time = "));
	assert_non_null(strstr(text, " CPU us "));
	boot_timer_ops.read(&t, 0, &r, 1);
	assert_int_equal(r, 0xff);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_only_the_magic_byte_logs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

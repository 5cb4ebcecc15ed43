#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "config/cmdline.h"

static void test_empty(void **state)
{
	struct cmdline cl;

	(void)state;
	cmdline_init(&cl);
	assert_string_equal(cmdline_str(&cl), "");
	assert_int_equal(cmdline_append(&cl, ""), 0);
	assert_int_equal(cl.len, 0);
	cmdline_fini(&cl);
}

static void test_append_separates_with_one_space(void **state)
{
	struct cmdline cl;

	(void)state;
	cmdline_init(&cl);
	assert_int_equal(cmdline_append(&cl, "console=ttyS0 quiet"), 0);
	assert_int_equal(cmdline_append(&cl, "virtio_mmio.device=4K@0xd0000000:5"), 0);
	assert_string_equal(cmdline_str(&cl),
			    "console=ttyS0 quiet virtio_mmio.device=4K@0xd0000000:5");
	assert_int_equal(cl.len, strlen(cmdline_str(&cl)));
	cmdline_fini(&cl);
}

static void test_control_characters_refused(void **state)
{
	struct cmdline cl;

	(void)state;
	cmdline_init(&cl);
	assert_int_equal(cmdline_append(&cl, "a\nb"), -EINVAL);
	assert_int_equal(cmdline_append(&cl, "\x1b[31m"), -EINVAL);
	assert_int_equal(cmdline_append(&cl, "tab\tis fine"), 0);
	assert_int_equal(cmdline_append(&cl, NULL), -EINVAL);
	assert_string_equal(cmdline_str(&cl), "tab\tis fine");
	cmdline_fini(&cl);
}

static void test_long_lines_grow(void **state)
{
	struct cmdline cl;
	char word[1000];

	(void)state;
	memset(word, 'x', sizeof(word) - 1);
	word[sizeof(word) - 1] = '\0';
	cmdline_init(&cl);
	for (int i = 0; i < 100; i++)
		assert_int_equal(cmdline_append(&cl, word), 0);
	assert_int_equal(cl.len, 100 * 999 + 99);
	assert_int_equal(strlen(cmdline_str(&cl)), cl.len);
	cmdline_fini(&cl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_append_separates_with_one_space),
		cmocka_unit_test(test_control_characters_refused),
		cmocka_unit_test(test_long_lines_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Metrics lines: valid JSON, every group, and counts since the previous line. */
#include <errno.h>
#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/metrics.h"

static int64_t field(struct json_object *o, const char *group, const char *name)
{
	struct json_object *g = json_object_object_get(o, group);

	assert_non_null(g);
	return json_object_get_int64(json_object_object_get(g, name));
}

static struct json_object *line(void)
{
	static char buf[4096];
	size_t n = metrics_format(buf, sizeof(buf), 1234);
	struct json_object *o;

	assert_true(n > 0 && n < sizeof(buf) && buf[n - 1] == '\n');
	o = json_tokener_parse(buf);
	assert_non_null(o);
	return o;
}

static void test_deltas(void **state)
{
	struct json_object *o;

	(void)state;
	json_object_put(line()); /* from zero */
	METRIC_ADD(block, read_bytes, 4096);
	METRIC_INC(block, read_count);
	METRIC_INC(vcpu, exit_io);
	o = line();
	assert_int_equal(json_object_get_int64(json_object_object_get(o, "utc_timestamp_ms")),
			 1234);
	assert_int_equal(field(o, "block", "read_bytes"), 4096);
	assert_int_equal(field(o, "block", "read_count"), 1);
	assert_int_equal(field(o, "vcpu", "exit_io"), 1);
	assert_int_equal(field(o, "net", "rx_bytes"), 0);
	assert_int_equal(field(o, "virtio", "needs_reset"), 0);
	json_object_put(o);
	o = line();
	assert_int_equal(field(o, "block", "read_bytes"), 0); /* already reported */
	json_object_put(o);
	assert_int_equal(metrics_flush(), -ENODEV); /* no file given */
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_deltas) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

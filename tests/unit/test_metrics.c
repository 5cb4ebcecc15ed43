/* Metrics lines: valid JSON, every group, and counts since the previous line. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
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

/* A line that could not be written leaves its counts for the next one. */
static void test_failed_write_keeps_the_counts(void **state)
{
	static char buf[1 << 16], line[4096];
	struct json_object *o;
	int p[2];
	ssize_t n;

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	metrics_set_fd(p[1]);
	while (write(p[1], buf, sizeof(buf)) > 0) /* fill the pipe */
		;
	METRIC_ADD(net, tx_bytes, 1500);
	assert_int_equal(metrics_flush(), -EAGAIN);
	while (read(p[0], buf, sizeof(buf)) > 0) /* drain it */
		;
	assert_int_equal(metrics_flush(), 0);
	n = read(p[0], line, sizeof(line) - 1);
	assert_true(n > 0);
	line[n] = '\0';
	o = json_tokener_parse(line);
	assert_int_equal(field(o, "net", "tx_bytes"), 1500);
	json_object_put(o);
	metrics_set_fd(-1);
	close(p[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_deltas),
					    cmocka_unit_test(test_failed_write_keeps_the_counts) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bus/bus.h"

struct probe {
	uint64_t last_off;
	uint32_t last_len;
	int reads, writes;
};

static void probe_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct probe *p = opaque;

	p->last_off = off;
	p->last_len = len;
	p->reads++;
	*(uint8_t *)data = 0x5a;
}

static void probe_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct probe *p = opaque;

	(void)data;
	p->last_off = off;
	p->last_len = len;
	p->writes++;
}

static const struct bus_ops probe_ops = { .read = probe_read, .write = probe_write };

static void test_register_and_find(void **state)
{
	struct probe a = { 0 }, b = { 0 };
	struct bus bus;
	uint8_t v = 0;

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &probe_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x60, 1, &probe_ops, &b), 0);
	assert_ptr_equal(bus_find(&bus, 0x3f8, 1)->opaque, &a);
	assert_ptr_equal(bus_find(&bus, 0x3ff, 1)->opaque, &a);
	assert_null(bus_find(&bus, 0x400, 1));
	assert_null(bus_find(&bus, 0x3f7, 1));
	assert_ptr_equal(bus_find(&bus, 0x60, 1)->opaque, &b);
	assert_int_equal(bus_read(&bus, 0x3fd, &v, 1), 0);
	assert_int_equal(v, 0x5a);
	assert_int_equal(a.last_off, 5);
	assert_int_equal(bus_write(&bus, 0x61, &v, 1), -ENOENT);
	bus_fini(&bus);
}

static void test_overlap_rejected(void **state)
{
	struct bus bus;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 0x100, &probe_ops, NULL), 0);
	assert_int_equal(bus_register(&bus, 0x10ff, 1, &probe_ops, NULL), -EEXIST);
	assert_int_equal(bus_register(&bus, 0xfff, 2, &probe_ops, NULL), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x0, 0x10000, &probe_ops, NULL), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x1100, 1, &probe_ops, NULL), 0);
	assert_int_equal(bus_register(&bus, 0xfff, 1, &probe_ops, NULL), 0);
	assert_int_equal(bus_register(&bus, 0x2000, 0, &probe_ops, NULL), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &probe_ops, NULL), -EINVAL);
	assert_int_equal(bus.count, 3);
	bus_fini(&bus);
}

static void test_access_must_not_straddle(void **state)
{
	struct probe a = { 0 };
	struct bus bus;
	uint32_t v;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 4, &probe_ops, &a), 0);
	assert_non_null(bus_find(&bus, 0x1000, 4));
	assert_null(bus_find(&bus, 0x1002, 4));
	assert_null(bus_find(&bus, 0x1000, 0));
	assert_int_equal(bus_read(&bus, 0x1003, &v, 2), -ENOENT);
	assert_int_equal(a.reads, 0);
	bus_fini(&bus);
}

static void test_many_ranges_sorted(void **state)
{
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	/* Insert in reverse so that every insertion shifts the array. */
	for (int i = 99; i >= 0; i--)
		assert_int_equal(bus_register(&bus, (uint64_t)i * 16, 8, &probe_ops,
					      (void *)(uintptr_t)(i + 1)),
				 0);
	for (int i = 0; i < 100; i++) {
		assert_ptr_equal(bus_find(&bus, (uint64_t)i * 16 + 7, 1)->opaque,
				 (void *)(uintptr_t)(i + 1));
		assert_null(bus_find(&bus, (uint64_t)i * 16 + 8, 1));
	}
	bus_fini(&bus);
}

static void test_frozen(void **state)
{
	struct bus bus;

	(void)state;
	bus_init(&bus, "pio");
	bus_freeze(&bus);
	assert_int_equal(bus_register(&bus, 0x10, 1, &probe_ops, NULL), -EBUSY);
	bus_fini(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_register_and_find),
		cmocka_unit_test(test_overlap_rejected),
		cmocka_unit_test(test_access_must_not_straddle),
		cmocka_unit_test(test_many_ranges_sorted),
		cmocka_unit_test(test_frozen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bus/bus.h"
#include "devices/rtc.h"

/* 2026-11-25 13:45:56 UTC, a Wednesday */
#define FIXED_NOW 1795614356

static time_t fixed_now(void)
{
	return FIXED_NOW;
}

struct fixture {
	struct bus bus;
	struct rtc *rtc;
};

static int setup(void **state)
{
	static struct fixture f;
	struct rtc_config cfg = { .low_ram_end = 128 << 20, .now = fixed_now };

	bus_init(&f.bus, "pio");
	assert_int_equal(rtc_create(&f.bus, &cfg, &f.rtc), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rtc_destroy(f->rtc);
	bus_fini(&f->bus);
	return 0;
}

static uint8_t cmos(struct fixture *f, uint8_t reg)
{
	uint8_t v;

	assert_int_equal(bus_write(&f->bus, 0x70, &reg, 1), 0);
	assert_int_equal(bus_read(&f->bus, 0x71, &v, 1), 0);
	return v;
}

static void cmos_set(struct fixture *f, uint8_t reg, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, 0x70, &reg, 1), 0);
	assert_int_equal(bus_write(&f->bus, 0x71, &v, 1), 0);
}

static void test_bcd_time(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos(f, 0x0b), 0x02); /* BCD, 24-hour */
	assert_int_equal(cmos(f, 0x00), 0x56);
	assert_int_equal(cmos(f, 0x02), 0x45);
	assert_int_equal(cmos(f, 0x04), 0x13);
	assert_int_equal(cmos(f, 0x07), 0x25);
	assert_int_equal(cmos(f, 0x08), 0x11);
	assert_int_equal(cmos(f, 0x09), 0x26);
	assert_int_equal(cmos(f, 0x32), 0x20);
	assert_int_equal(cmos(f, 0x06), 4); /* Wednesday: 1 is Sunday */
	assert_int_equal(cmos(f, 0x0a) & 0x80, 0);
	assert_int_equal(cmos(f, 0x0d), 0x80);
}

static void test_binary_and_12_hour(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, 0x0b, 0x04); /* binary, 12-hour */
	assert_int_equal(cmos(f, 0x00), 56);
	assert_int_equal(cmos(f, 0x04), 0x80 | 1); /* 1 PM */
	assert_int_equal(cmos(f, 0x09), 26);
}

static void test_guest_sets_the_clock(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, 0x0b, 0x82); /* SET while writing */
	cmos_set(f, 0x09, 0x30);
	cmos_set(f, 0x04, 0x08);
	cmos_set(f, 0x0b, 0x02);
	assert_int_equal(cmos(f, 0x09), 0x30);
	assert_int_equal(cmos(f, 0x04), 0x08);
	assert_int_equal(cmos(f, 0x02), 0x45);
	assert_int_equal(cmos(f, 0x32), 0x20);
}

static void test_nvram(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, 0x40, 0x99);
	assert_int_equal(cmos(f, 0x40), 0x99);
	cmos_set(f, 0x0c, 0xff);
	assert_int_equal(cmos(f, 0x0c), 0); /* no interrupt flags, read-only */
	/* KiB above 1 MiB, which saturates at 0xffff as on a PC; 64 KiB units above 16 MiB. */
	assert_int_equal(cmos(f, 0x17) | (cmos(f, 0x18) << 8), 0xffff);
	assert_int_equal(cmos(f, 0x34) | (cmos(f, 0x35) << 8), (128 - 16) * 16);
	/* The index register ignores the NMI-mask bit. */
	assert_int_equal(cmos(f, 0x80 | 0x40), 0x99);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bcd_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary_and_12_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_guest_sets_the_clock, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvram, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

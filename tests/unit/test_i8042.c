#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "bus/bus.h"
#include "devices/i8042.h"

struct fixture {
	struct bus bus;
	struct i8042 *k;
	int resets;
	int irq_level;
	int irq_edges; /* rising edges: interrupts an edge-triggered pin sees */
};

static void on_reset(void *ctx)
{
	((struct fixture *)ctx)->resets++;
}

static void fake_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	(void)gsi;
	f->irq_edges += level && !f->irq_level;
	f->irq_level = level;
}

static int setup(void **state)
{
	static struct fixture f;
	struct i8042_config cfg = { .reset = on_reset, .reset_ctx = &f };

	memset(&f, 0, sizeof(f));
	cfg.irq = (struct irq_line){ .set_level = fake_irq, .ctx = &f, .gsi = 1 };
	bus_init(&f.bus, "pio");
	assert_int_equal(i8042_create(&f.bus, &cfg, &f.k), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_destroy(f->k);
	bus_fini(&f->bus);
	return 0;
}

static uint8_t rd(struct fixture *f, uint16_t port)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, port, &v, 1), 0);
	return v;
}

static void wr(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, port, &v, 1), 0);
}

static void test_reset_command(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x64, 0xfe);
	assert_int_equal(f->resets, 1);
	wr(f, 0x64, 0xff); /* pulses no line that matters */
	assert_int_equal(f->resets, 1);
}

static void test_reset_through_output_port(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x64, 0xd0);
	assert_int_equal(rd(f, 0x60) & 1, 1);
	wr(f, 0x64, 0xd1);
	wr(f, 0x60, 0x02);
	assert_int_equal(f->resets, 1);
}

static void test_linux_probe(void **state)
{
	struct fixture *f = *state;

	assert_int_not_equal(rd(f, 0x64), 0xff);
	wr(f, 0x64, 0xaa);
	assert_int_equal(rd(f, 0x64) & 1, 1);
	assert_int_equal(rd(f, 0x60), 0x55);
	wr(f, 0x64, 0x20);
	assert_int_equal(rd(f, 0x60), 0x45);
	wr(f, 0x64, 0x60);
	wr(f, 0x60, 0x44); /* keyboard interrupt off */
	wr(f, 0x64, 0x20);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(rd(f, 0x60), 0x44);
	assert_int_equal(rd(f, 0x64) & 1, 0);
	wr(f, 0x64, 0xa9);
	assert_int_equal(rd(f, 0x60), 0x01); /* no mouse port */
}

static void test_keyboard_replies_and_irq(void **state)
{
	struct fixture *f = *state;

	wr(f, 0x60, 0xff);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, 0x60), 0xfa);
	assert_int_equal(rd(f, 0x60), 0xaa);
	assert_int_equal(f->irq_level, 0);
	wr(f, 0x60, 0xf2);
	assert_int_equal(rd(f, 0x60), 0xfa);
	assert_int_equal(rd(f, 0x60), 0xab);
	assert_int_equal(rd(f, 0x60), 0x41);
	wr(f, 0x60, 0xed);
	assert_int_equal(rd(f, 0x60), 0xfa);
	wr(f, 0x60, 0x07); /* the LED byte, not a command */
	assert_int_equal(rd(f, 0x60), 0xfa);
	assert_int_equal(rd(f, 0x64) & 1, 0);
}

/* Each byte is its own interrupt (edge), as the guest's handler reads one at a time. */
static void test_ctrl_alt_del(void **state)
{
	static const uint8_t set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	struct fixture *f = *state;

	i8042_ctrl_alt_del(f->k);
	for (size_t i = 0; i < sizeof(set1); i++) {
		assert_int_equal(f->irq_edges, (int)i + 1);
		assert_int_equal(rd(f, 0x64) & 1, 1);
		assert_int_equal(rd(f, 0x60), set1[i]);
	}
	assert_int_equal(rd(f, 0x64) & 1, 0);
	assert_int_equal(f->irq_level, 0);
	/* Without translation the keyboard's own set 2 codes come through. */
	wr(f, 0x64, 0x60);
	wr(f, 0x60, 0x01); /* CTR: keyboard interrupt on, translation off */
	i8042_ctrl_alt_del(f->k);
	assert_int_equal(rd(f, 0x60), 0x14);
	assert_int_equal(rd(f, 0x60), 0x11);
	assert_int_equal(rd(f, 0x60), 0xe0);
	assert_int_equal(rd(f, 0x60), 0x71);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reset_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_through_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_replies_and_irq, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

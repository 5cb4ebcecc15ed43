/*
 * Command set: IBM PC/AT Technical Reference (keyboard controller) and the
 * behaviour Linux expects (drivers/input/serio/i8042.c, keyboard/atkbd.c).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "devices/i8042.h"
#include "util/log.h"

#define OFF_DATA   0
#define OFF_STATUS 4 /* read: status, write: command */

#define STS_OBF	   0x01
#define STS_SYS	   0x04
#define STS_CMD	   0x08
#define STS_UNLOCK 0x10

#define CTR_KBD_INT	0x01
#define CTR_SYS		0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE	0x40

#define CMD_READ_CTR	0x20
#define CMD_WRITE_CTR	0x60
#define CMD_AUX_DISABLE 0xa7
#define CMD_AUX_ENABLE	0xa8
#define CMD_AUX_TEST	0xa9
#define CMD_SELF_TEST	0xaa
#define CMD_KBD_TEST	0xab
#define CMD_KBD_DISABLE 0xad
#define CMD_KBD_ENABLE	0xae
#define CMD_READ_OUTP	0xd0
#define CMD_WRITE_OUTP	0xd1
#define CMD_WRITE_KBD	0xd2
#define CMD_WRITE_AUX	0xd3
#define CMD_TO_AUX	0xd4
#define CMD_PULSE_FIRST 0xf0

#define OUTP_RESET_HIGH 0x01 /* the CPU reset line is active low */
#define OUTP_A20	0x02

#define KBD_ACK	      0xfa
#define KBD_ECHO      0xee
#define KBD_CMD_RESET 0xff
#define KBD_CMD_GETID 0xf2
#define KBD_BAT_OK    0xaa
#define AUX_TEST_FAIL 0x01

#define OUT_QUEUE 32

struct i8042 {
	pthread_mutex_t lock;
	struct irq_line irq;
	i8042_reset_fn reset;
	void *reset_ctx;

	uint8_t ctr;
	uint8_t outp;
	uint8_t status_cmd;  /* STS_CMD: the last write went to the command port */
	uint8_t pending;     /* controller command waiting for its data byte */
	uint8_t kbd_pending; /* keyboard command waiting for its parameter */
	bool irq_level;

	uint8_t out[OUT_QUEUE];
	unsigned int out_head, out_count;
};

static void i8042_update_irq(struct i8042 *k)
{
	bool level = k->out_count && (k->ctr & CTR_KBD_INT);

	if (level != k->irq_level) {
		k->irq_level = level;
		irq_line_set(&k->irq, level);
	}
}

static void i8042_queue(struct i8042 *k, uint8_t byte)
{
	if (k->out_count == OUT_QUEUE)
		return; /* a real controller drops bytes the host does not read */
	k->out[(k->out_head + k->out_count) % OUT_QUEUE] = byte;
	k->out_count++;
}

static uint8_t i8042_dequeue(struct i8042 *k)
{
	uint8_t byte;

	if (!k->out_count)
		return 0;
	byte = k->out[k->out_head];
	k->out_head = (k->out_head + 1) % OUT_QUEUE;
	k->out_count--;
	return byte;
}

static void i8042_pull_reset(struct i8042 *k)
{
	if (k->reset)
		k->reset(k->reset_ctx);
}

static void i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CTR:
		i8042_queue(k, k->ctr);
		break;
	case CMD_WRITE_CTR:
	case CMD_WRITE_OUTP:
	case CMD_WRITE_KBD:
	case CMD_WRITE_AUX:
	case CMD_TO_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->ctr |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		k->ctr &= ~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
		i8042_queue(k, AUX_TEST_FAIL); /* there is no mouse port */
		break;
	case CMD_SELF_TEST:
		i8042_queue(k, 0x55);
		break;
	case CMD_KBD_TEST:
		i8042_queue(k, 0x00);
		break;
	case CMD_KBD_DISABLE:
		k->ctr |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		k->ctr &= ~CTR_KBD_DISABLE;
		break;
	case CMD_READ_OUTP:
		i8042_queue(k, k->outp);
		break;
	default:
		/* 0xf0-0xff pulse output-port lines low for 6 us; bit 0 is CPU reset. */
		if (cmd >= CMD_PULSE_FIRST && !(cmd & OUTP_RESET_HIGH))
			i8042_pull_reset(k);
		break;
	}
}

/* What the AT keyboard answers; parameters of two-byte commands get an ACK. */
static void i8042_keyboard(struct i8042 *k, uint8_t byte)
{
	if (k->kbd_pending) {
		k->kbd_pending = 0;
		i8042_queue(k, KBD_ACK);
		return;
	}
	switch (byte) {
	case KBD_CMD_RESET:
		i8042_queue(k, KBD_ACK);
		i8042_queue(k, KBD_BAT_OK);
		break;
	case KBD_CMD_GETID: /* MF2 keyboard, as seen through translation */
		i8042_queue(k, KBD_ACK);
		i8042_queue(k, 0xab);
		i8042_queue(k, (k->ctr & CTR_XLATE) ? 0x41 : 0x83);
		break;
	case KBD_ECHO:
		i8042_queue(k, KBD_ECHO);
		break;
	case 0xed: /* set LEDs */
	case 0xf0: /* scancode set */
	case 0xf3: /* typematic rate */
		k->kbd_pending = byte;
		i8042_queue(k, KBD_ACK);
		break;
	default:
		i8042_queue(k, KBD_ACK);
		break;
	}
}

static void i8042_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CTR:
		k->ctr = val;
		break;
	case CMD_WRITE_OUTP:
		k->outp = val;
		if (!(val & OUTP_RESET_HIGH))
			i8042_pull_reset(k);
		break;
	case CMD_WRITE_KBD:
		i8042_queue(k, val);
		break;
	case CMD_WRITE_AUX: /* no mouse port: echo as keyboard data, which fails the probe */
		i8042_queue(k, val);
		break;
	case CMD_TO_AUX:
		break;
	default:
		i8042_keyboard(k, val);
		break;
	}
}

uint8_t i8042_port_read(struct i8042 *k, unsigned int off)
{
	uint8_t val;

	if (off == OFF_STATUS)
		return (uint8_t)((k->out_count ? STS_OBF : 0) | STS_SYS | STS_UNLOCK |
				 k->status_cmd);
	val = i8042_dequeue(k);
	/* The next byte, if any, is a new interrupt: an edge of its own, as on a real 8042. */
	if (k->irq_level) {
		irq_line_set(&k->irq, 0);
		k->irq_level = false;
	}
	i8042_update_irq(k);
	return val;
}

void i8042_port_write(struct i8042 *k, unsigned int off, uint8_t val)
{
	if (off == OFF_STATUS) {
		k->status_cmd = STS_CMD;
		i8042_command(k, val);
	} else {
		k->status_cmd = 0;
		i8042_data(k, val);
	}
	i8042_update_irq(k);
}

static void i8042_bus_read(struct i8042 *k, unsigned int off, void *data, uint32_t len)
{
	memset(data, 0xff, len);
	if (len != 1)
		return;
	pthread_mutex_lock(&k->lock);
	*(uint8_t *)data = i8042_port_read(k, off);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_bus_write(struct i8042 *k, unsigned int off, const void *data, uint32_t len)
{
	if (len != 1)
		return;
	pthread_mutex_lock(&k->lock);
	i8042_port_write(k, off, *(const uint8_t *)data);
	pthread_mutex_unlock(&k->lock);
}

static void i8042_data_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)off;
	i8042_bus_read(opaque, OFF_DATA, data, len);
}

static void i8042_data_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	(void)off;
	i8042_bus_write(opaque, OFF_DATA, data, len);
}

static void i8042_status_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)off;
	i8042_bus_read(opaque, OFF_STATUS, data, len);
}

static void i8042_command_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	(void)off;
	i8042_bus_write(opaque, OFF_STATUS, data, len);
}

/* Ports 0x60 and 0x64 are separate ranges: 0x61-0x63 belong to other devices. */
static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops i8042_status_ops = {
	.read = i8042_status_read,
	.write = i8042_command_write,
};

/* Make codes then break codes, in the set the guest reads (translated: set 1). */
static const uint8_t cad_set1[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
static const uint8_t cad_set2[] = {
	0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0, 0x71, 0xf0, 0x11, 0xf0, 0x14
};

void i8042_ctrl_alt_del(struct i8042 *k)
{
	bool xlate;

	pthread_mutex_lock(&k->lock);
	xlate = k->ctr & CTR_XLATE;
	for (size_t i = 0; i < (xlate ? sizeof(cad_set1) : sizeof(cad_set2)); i++)
		i8042_queue(k, xlate ? cad_set1[i] : cad_set2[i]);
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
}

_Static_assert(sizeof(((struct i8042_state *)0)->out) == OUT_QUEUE, "i8042 state queue");

void i8042_save(struct i8042 *k, struct i8042_state *st)
{
	pthread_mutex_lock(&k->lock);
	*st = (struct i8042_state){ .ctr = k->ctr,
				    .outp = k->outp,
				    .status_cmd = k->status_cmd,
				    .pending = k->pending,
				    .kbd_pending = k->kbd_pending,
				    .out_head = (uint8_t)k->out_head,
				    .out_count = (uint8_t)k->out_count };
	memcpy(st->out, k->out, sizeof(st->out));
	pthread_mutex_unlock(&k->lock);
}

int i8042_restore(struct i8042 *k, const struct i8042_state *st)
{
	if (st->out_head >= OUT_QUEUE || st->out_count > OUT_QUEUE)
		return -EINVAL;
	pthread_mutex_lock(&k->lock);
	k->ctr = st->ctr;
	k->outp = st->outp;
	k->status_cmd = st->status_cmd;
	k->pending = st->pending;
	k->kbd_pending = st->kbd_pending;
	memcpy(k->out, st->out, sizeof(k->out));
	k->out_head = st->out_head;
	k->out_count = st->out_count;
	k->irq_level = false;
	i8042_update_irq(k);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

int i8042_create(struct bus *pio, const struct i8042_config *cfg, struct i8042 **out)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return -ENOMEM;
	pthread_mutex_init(&k->lock, NULL);
	k->irq = cfg->irq;
	k->reset = cfg->reset;
	k->reset_ctx = cfg->reset_ctx;
	k->ctr = CTR_KBD_INT | CTR_SYS | CTR_XLATE;
	k->outp = OUTP_RESET_HIGH | OUTP_A20;
	ret = bus_register(pio, 0x60, 1, &i8042_data_ops, k);
	if (ret == 0)
		ret = bus_register(pio, 0x64, 1, &i8042_status_ops, k);
	if (ret < 0) {
		i8042_destroy(k);
		return ret;
	}
	*out = k;
	return 0;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

/*
 * The PC keyboard controller (Intel 8042) with a keyboard that answers the
 * commands Linux's i8042 and atkbd drivers send while probing. Its one job
 * that matters is the CPU reset line: command 0xFE (or clearing bit 0 of the
 * output port) resets the VM, which ends ember. No mouse (AUX) port.
 */
#ifndef EMBER_DEVICES_I8042_H
#define EMBER_DEVICES_I8042_H

#include <stdint.h>

#include "kvm/irq.h"
#include "util/compiler.h"

struct bus;
struct i8042;

/* Called (on the vCPU thread) when the guest pulls the reset line. */
typedef void (*i8042_reset_fn)(void *ctx);

struct i8042_config {
	struct irq_line irq;
	i8042_reset_fn reset;
	void *reset_ctx;
};

int i8042_create(struct bus *pio, const struct i8042_config *cfg, struct i8042 **out) __must_check;
void i8042_destroy(struct i8042 *k);

/* The controller's registers and output queue, as a snapshot keeps them. */
struct i8042_state {
	uint8_t ctr, outp, status_cmd, pending, kbd_pending;
	uint8_t out_head, out_count;
	uint8_t pad;
	uint8_t out[32];
};

void i8042_save(struct i8042 *k, struct i8042_state *st);
/* -EINVAL for queue positions out of range. */
int i8042_restore(struct i8042 *k, const struct i8042_state *st) __must_check;

/*
 * Presses and releases Ctrl, Alt and Delete on the keyboard (the API's
 * SendCtrlAltDel): Linux's keyboard driver then asks init to reboot.
 */
void i8042_ctrl_alt_del(struct i8042 *k);

/* Register interface, exposed for unit tests: port 0x60 is offset 0, 0x64 offset 4. */
uint8_t i8042_port_read(struct i8042 *k, unsigned int off);
void i8042_port_write(struct i8042 *k, unsigned int off, uint8_t val);

#endif

/*
 * A 16550A UART (the PC's COM1). Guest writes to the transmit register go to
 * `out_fd` at once (the transmitter is always empty); host input is queued
 * in the 16-byte receive FIFO by serial_rx_push() with backpressure: when the
 * FIFO is full the caller stops reading and waits for `rx_space_fd`.
 *
 * Register accesses come from vCPU threads, input from the main thread; a
 * mutex inside the device serialises them.
 */
#ifndef EMBER_DEVICES_SERIAL_H
#define EMBER_DEVICES_SERIAL_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/irq.h"
#include "util/compiler.h"

struct serial;
struct bus;

struct serial_config {
	uint16_t port;
	struct irq_line irq;
	int out_fd; /* -1 discards output; borrowed, not closed */
};

int serial_create(struct bus *pio, const struct serial_config *cfg,
		  struct serial **out) __must_check;
void serial_destroy(struct serial *s);

/* The registers and receive FIFO, as a snapshot keeps them. */
struct serial_state {
	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	uint8_t thr_ipending;
	uint8_t rx[16];
	uint8_t rx_head, rx_count;
	uint8_t pad[4];
};

void serial_save(struct serial *s, struct serial_state *st);
/* -EINVAL for a state no UART can be in (FIFO positions out of range). */
int serial_restore(struct serial *s, const struct serial_state *st) __must_check;

/* Queues host input; returns how many bytes fit (0 when the FIFO is full). */
size_t serial_rx_push(struct serial *s, const uint8_t *data, size_t len);

/* An eventfd that becomes readable when the FIFO has room after being full. */
int serial_rx_space_fd(const struct serial *s);

/* The register interface, exposed for unit tests. */
void serial_reg_read(struct serial *s, uint64_t off, uint8_t *val);
void serial_reg_write(struct serial *s, uint64_t off, uint8_t val);

#endif

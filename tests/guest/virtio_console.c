/*
 * virtio-console (virtio 1.2, 5.3): a line echo on the first console device.
 * The host types lines into the console; the guest writes each back on the
 * console as "ECHO <line>" and reports it on COM1.
 *
 * Without VIRTIO_CONSOLE_F_MULTIPORT (never negotiated, nor any other
 * console feature) the device has port 0 only, on queue 0 (receiveq, device
 * to driver) and queue 1 (transmitq, driver to device), and no control
 * queues (5.3.2). Every entry of the receive queue gets a 64-byte buffer
 * before DRIVER_OK (3.1.1 step 7, 5.3.5); a used buffer's bytes are copied
 * out and the buffer goes straight back. Text to the host goes out on the
 * transmit queue, one descriptor, one buffer in flight.
 */
#include "guest.h"
#include "io.h"
#include "virtio.h"

#define CON_RXQ 0
#define CON_TXQ 1

#define CON_RX_BUF	      64
#define CON_LINE_MAX	      120
#define CON_TX_MAX	      (sizeof(CON_ECHO) - 1 + CON_LINE_MAX + 1) /* "ECHO <line>\n" */
#define CON_LINE_TIMEOUT_MS   20000					/* for each line */
#define CON_TX_TIMEOUT_MS     3000
#define CON_DEFAULT_LINES     1
#define CON_READY	      "READY virtio-console\n"
#define CON_ECHO	      "ECHO "
#define CON_PRINTABLE_FIRST   0x20
#define CON_PRINTABLE_LAST    0x7e
#define CON_UNPRINTABLE_SHOWN '?'

/* Written by the device or before every use, so out of .bss; never across a page. */
static uint8_t rx_bufs[VIRTQ_MAX_SIZE][CON_RX_BUF] __noinit __attribute__((aligned(CON_RX_BUF)));
static char tx_buf[CON_TX_MAX] __noinit __attribute__((aligned(256)));

/* What one received byte did to the line. */
enum con_byte_result { CON_KEPT, CON_LINE_ENDED, CON_LINE_TOO_LONG };

struct con {
	struct virtio_dev *d;
	uint64_t want;	 /* lines to echo */
	uint64_t echoed; /* lines echoed so far */
	uint64_t end;	 /* timer tick at which the current line times out */
	char line[CON_LINE_MAX + 1];
	unsigned int len;
	bool after_cr; /* the last byte was '\r': a '\n' now ends nothing */
};

/*
 * n bytes on the transmit queue from tx_buf, one descriptor; waits for the
 * used entry. The device only reads the buffer, so its used length must be
 * 0 (2.7.8.2).
 */
static const char *con_send(struct con *c, const char *text, unsigned int n)
{
	struct virtq *tx = &c->d->vq[CON_TXQ];
	uint16_t head = 0;
	uint32_t id, len;
	const char *err;

	memcpy(tx_buf, text, n);
	tx->desc[head] = (struct virtq_desc){ (uintptr_t)tx_buf, n, 0, 0 };
	virtio_publish_on(c->d, CON_TXQ, &head, 1);
	err = virtio_wait_queue(c->d, CON_TXQ, timer_ticks() + CON_TX_TIMEOUT_MS,
				"timeout waiting for the transmit queue");
	if (err)
		return err;
	virtio_next_used(c->d, CON_TXQ, &id, &len);
	if (id != head)
		return "the transmit queue returned another descriptor";
	if (len != 0)
		return "a transmit buffer came back with a used length (the device only reads it)";
	return NULL;
}

/* "ECHO <line>\n" on the console, then the line on COM1 (unprintable bytes as '?'). */
static const char *con_echo_line(struct con *c)
{
	unsigned int n = sizeof(CON_ECHO) - 1;
	char text[CON_TX_MAX];
	const char *err;

	memcpy(text, CON_ECHO, n);
	memcpy(text + n, c->line, c->len);
	n += c->len;
	text[n++] = '\n';
	err = con_send(c, text, n);
	if (err)
		return err;
	for (unsigned int i = 0; i < c->len; i++)
		if (c->line[i] < CON_PRINTABLE_FIRST || c->line[i] > CON_PRINTABLE_LAST)
			c->line[i] = CON_UNPRINTABLE_SHOWN;
	c->line[c->len] = '\0';
	gprintf("KV console_line=%s\n", c->line);
	c->echoed++;
	c->len = 0;
	return NULL;
}

/*
 * One received byte into the line. '\r', '\n' and "\r\n" end a line; empty
 * lines are skipped.
 */
static enum con_byte_result con_byte(struct con *c, char b)
{
	bool cr_lf = b == '\n' && c->after_cr;

	c->after_cr = b == '\r';
	if (cr_lf)
		return CON_KEPT;
	if (b == '\r' || b == '\n')
		return c->len ? CON_LINE_ENDED : CON_KEPT;
	if (c->len == CON_LINE_MAX)
		return CON_LINE_TOO_LONG;
	c->line[c->len++] = b;
	return CON_KEPT;
}

/* Every receive buffer, one device-writable descriptor each, on descriptor i. */
static void con_fill_rx(struct con *c)
{
	struct virtq *rx = &c->d->vq[CON_RXQ];
	uint16_t heads[VIRTQ_MAX_SIZE];

	for (uint16_t i = 0; i < rx->size; i++) {
		rx->desc[i] = (struct virtq_desc){ (uintptr_t)rx_bufs[i], CON_RX_BUF,
						   VIRTQ_DESC_F_WRITE, 0 };
		heads[i] = i;
	}
	virtio_publish_on(c->d, CON_RXQ, heads, rx->size);
}

/*
 * The next used receive buffer: its bytes are copied out and it goes back to
 * the device before any of them is looked at; then each byte goes into the
 * line, and every line it ends is echoed. Bytes after the last wanted line
 * are dropped.
 */
static const char *con_receive(struct con *c, uint32_t id, uint32_t len)
{
	const struct virtq *rx = &c->d->vq[CON_RXQ];
	uint8_t bytes[CON_RX_BUF];
	uint16_t head = (uint16_t)id;
	const char *err;

	/* Every receive buffer is always the device's: each goes straight back. */
	if (id >= rx->size)
		return "the device used a receive buffer it did not have";
	if (len > CON_RX_BUF)
		return "a used receive length larger than the 64-byte buffer";
	memcpy(bytes, rx_bufs[id], len);
	virtio_publish_on(c->d, CON_RXQ, &head, 1);
	for (uint32_t i = 0; i < len && c->echoed < c->want; i++) {
		switch (con_byte(c, (char)bytes[i])) {
		case CON_LINE_TOO_LONG:
			return "a line longer than 120 bytes";
		case CON_LINE_ENDED:
			err = con_echo_line(c);
			if (err)
				return err;
			c->end = timer_ticks() + CON_LINE_TIMEOUT_MS;
			break;
		case CON_KEPT:
			break;
		}
	}
	return NULL;
}

/* Lines until `want` are echoed, an error, or 20 s without a complete line. */
static const char *con_serve(struct con *c)
{
	const char *err = NULL;
	uint32_t id, len;

	c->end = timer_ticks() + CON_LINE_TIMEOUT_MS;
	while (!err && c->echoed < c->want) {
		if (virtio_next_used(c->d, CON_RXQ, &id, &len))
			err = con_receive(c, id, len);
		else
			err = virtio_wait_queue(c->d, CON_RXQ, c->end,
						"timeout waiting for a line");
	}
	return err;
}

void test_virtio_console(void)
{
	struct con c = { .d = virtio_find(VIRTIO_ID_CONSOLE, 0) };
	const char *err;

	c.want = config.console_lines ? config.console_lines : CON_DEFAULT_LINES;
	if (!c.d) {
		virtio_fail_missing("virtio-console", "virtio-console");
		return;
	}
	/* No console feature: above all not MULTIPORT (bit 1), so port 0 only. */
	err = virtio_setup(c.d, 0, 2);
	if (!err) {
		gprintf("KV console_offered=0x%llx\n", (unsigned long long)c.d->offered);
		con_fill_rx(&c);
		virtio_driver_ok(c.d);
		timer_start();
		err = con_send(&c, CON_READY, sizeof(CON_READY) - 1);
		if (!err) {
			gprintf("READY virtio-console\n");
			err = con_serve(&c);
		}
		timer_stop();
		virtio_take_irq(c.d); /* for the last transmit: an exact count */
	}
	virtio_stop(c.d);
	gprintf("KV console_irqs=%u\n", c.d->irqs);
	if (err)
		test_fail("virtio-console", "%s (%llu of %llu lines)", err,
			  (unsigned long long)c.echoed, (unsigned long long)c.want);
	else
		test_pass("virtio-console");
}

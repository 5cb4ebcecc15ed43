/* Register behaviour follows the National Semiconductor PC16550D data sheet. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus/bus.h"
#include "devices/serial.h"
#include "util/log.h"

#define UART_RBR 0 /* read, DLAB=0 */
#define UART_THR 0 /* write, DLAB=0 */
#define UART_IER 1
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_MSR 6
#define UART_SCR 7

#define IER_RDI	 0x01
#define IER_THRI 0x02
#define IER_RLSI 0x04
#define IER_MSI	 0x08

#define IIR_NO_INT 0x01
#define IIR_MSI	   0x00
#define IIR_THRI   0x02
#define IIR_RDI	   0x04
#define IIR_RLSI   0x06
#define IIR_FIFO   0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB 0x80

#define MCR_DTR	 0x01
#define MCR_RTS	 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define LSR_DR	 0x01
#define LSR_OE	 0x02
#define LSR_BI	 0x10
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS  0x01
#define MSR_DDSR  0x02
#define MSR_TERI  0x04
#define MSR_DDCD  0x08
#define MSR_CTS	  0x10
#define MSR_DSR	  0x20
#define MSR_RI	  0x40
#define MSR_DCD	  0x80
#define MSR_DELTA 0x0f

#define RX_FIFO_SIZE 16

struct serial {
	pthread_mutex_t lock;
	struct irq_line irq;
	int out_fd;
	bool out_broken;
	int rx_space_efd;
	bool rx_waiting; /* the host stopped feeding us: tell it when room appears */

	uint8_t ier, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
	bool thr_ipending;
	bool irq_level;

	uint8_t rx[RX_FIFO_SIZE];
	unsigned int rx_head, rx_count;
};

static unsigned int serial_rx_capacity(const struct serial *s)
{
	/* Without the FIFO the 16550 has a single receive holding register. */
	return (s->fcr & FCR_ENABLE) ? RX_FIFO_SIZE : 1;
}

static uint8_t serial_iir(const struct serial *s)
{
	uint8_t fifo = (s->fcr & FCR_ENABLE) ? IIR_FIFO : 0;

	if ((s->ier & IER_RLSI) && (s->lsr & (LSR_OE | LSR_BI)))
		return IIR_RLSI | fifo;
	if ((s->ier & IER_RDI) && s->rx_count)
		return IIR_RDI | fifo;
	if ((s->ier & IER_THRI) && s->thr_ipending)
		return IIR_THRI | fifo;
	if ((s->ier & IER_MSI) && (s->msr & MSR_DELTA))
		return IIR_MSI | fifo;
	return IIR_NO_INT | fifo;
}

/* The line is a level: high while any enabled condition is pending. */
static void serial_update_irq(struct serial *s)
{
	bool level = !(serial_iir(s) & IIR_NO_INT);

	if (level != s->irq_level) {
		s->irq_level = level;
		irq_line_set(&s->irq, level);
	}
}

static bool serial_rx_put(struct serial *s, uint8_t byte)
{
	if (s->rx_count >= serial_rx_capacity(s))
		return false;
	s->rx[(s->rx_head + s->rx_count) % RX_FIFO_SIZE] = byte;
	s->rx_count++;
	return true;
}

/* Tells the host feeder, if it stopped on a full FIFO, that there is room again. */
static void serial_wake_feeder(struct serial *s)
{
	if (!s->rx_waiting)
		return;
	s->rx_waiting = false;
	eventfd_write(s->rx_space_efd, 1); /* fails only when already signalled */
}

static uint8_t serial_rx_pop(struct serial *s)
{
	uint8_t byte;

	if (!s->rx_count)
		return 0;
	byte = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_FIFO_SIZE;
	s->rx_count--;
	serial_wake_feeder(s);
	return byte;
}

static void serial_output(struct serial *s, uint8_t byte)
{
	struct pollfd pfd = { .fd = s->out_fd, .events = POLLOUT };
	ssize_t n;

	if (s->out_fd < 0 || s->out_broken)
		return;
	for (;;) {
		n = write(s->out_fd, &byte, 1);
		if (n == 1)
			return;
		if (n < 0 && errno == EINTR)
			continue;
		/* Nobody reads now (a console socket's client left): this byte is lost, not the
		 * next. */
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
			return;
		/* A non-blocking terminal: wait a little, then drop rather than stall the vCPU. */
		if (n < 0 && errno == EAGAIN && poll(&pfd, 1, 100) > 0)
			continue;
		break;
	}
	s->out_broken = true;
	log_warn("serial: output failed (%s); discarding further guest output",
		 n < 0 ? strerror(errno) : "short write");
}

static void serial_transmit(struct serial *s, uint8_t byte)
{
	if (s->mcr & MCR_LOOP) {
		if (!serial_rx_put(s, byte))
			s->lsr |= LSR_OE;
	} else {
		serial_output(s, byte);
	}
	/* The byte left at once: the holding register is empty again. */
	s->thr_ipending = true;
}

static uint8_t serial_loop_msr(uint8_t mcr)
{
	return (uint8_t)(((mcr & MCR_RTS) ? MSR_CTS : 0) | ((mcr & MCR_DTR) ? MSR_DSR : 0) |
			 ((mcr & MCR_OUT1) ? MSR_RI : 0) | ((mcr & MCR_OUT2) ? MSR_DCD : 0));
}

static void serial_write_mcr(struct serial *s, uint8_t val)
{
	uint8_t old = s->msr & ~MSR_DELTA, new;

	s->mcr = val & 0x1f;
	new = (s->mcr & MCR_LOOP) ? serial_loop_msr(s->mcr) : (MSR_DCD | MSR_DSR | MSR_CTS);
	/* Delta bits record changes since the guest last read the MSR. */
	if ((old ^ new) & MSR_CTS)
		s->msr |= MSR_DCTS;
	if ((old ^ new) & MSR_DSR)
		s->msr |= MSR_DDSR;
	if ((old & MSR_RI) && !(new &MSR_RI))
		s->msr |= MSR_TERI;
	if ((old ^ new) & MSR_DCD)
		s->msr |= MSR_DDCD;
	s->msr = (s->msr & MSR_DELTA) | new;
}

static void serial_write_fcr(struct serial *s, uint8_t val)
{
	if ((val ^ s->fcr) & FCR_ENABLE)
		val |= FCR_CLEAR_RX; /* changing the FIFO mode empties it */
	if (val & FCR_CLEAR_RX) {
		s->rx_head = s->rx_count = 0;
		s->lsr &= ~LSR_OE;
		serial_wake_feeder(s);
	}
	s->fcr = val & 0xc9;
}

void serial_reg_write(struct serial *s, uint64_t off, uint8_t val)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (off) {
	case UART_THR:
		if (dlab)
			s->dll = val;
		else
			serial_transmit(s, val);
		break;
	case UART_IER:
		if (dlab) {
			s->dlm = val;
			break;
		}
		/* Enabling THRE interrupts with an empty transmitter interrupts at once. */
		if (!(s->ier & IER_THRI) && (val & IER_THRI))
			s->thr_ipending = true;
		s->ier = val & 0x0f;
		break;
	case UART_FCR:
		serial_write_fcr(s, val);
		break;
	case UART_LCR:
		s->lcr = val;
		break;
	case UART_MCR:
		serial_write_mcr(s, val);
		break;
	case UART_SCR:
		s->scr = val;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	serial_update_irq(s);
}

void serial_reg_read(struct serial *s, uint64_t off, uint8_t *val)
{
	bool dlab = s->lcr & LCR_DLAB;

	switch (off) {
	case UART_RBR:
		*val = dlab ? s->dll : serial_rx_pop(s);
		break;
	case UART_IER:
		*val = dlab ? s->dlm : s->ier;
		break;
	case UART_IIR:
		*val = serial_iir(s);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if ((*val & 0x0f) == IIR_THRI)
			s->thr_ipending = false;
		break;
	case UART_LCR:
		*val = s->lcr;
		break;
	case UART_MCR:
		*val = s->mcr;
		break;
	case UART_LSR:
		*val = s->lsr | LSR_THRE | LSR_TEMT | (s->rx_count ? LSR_DR : 0);
		s->lsr &= ~(LSR_OE | LSR_BI); /* error bits clear on read */
		break;
	case UART_MSR:
		*val = s->msr;
		s->msr &= ~MSR_DELTA;
		break;
	default:
		*val = s->scr;
		break;
	}
	serial_update_irq(s);
}

static void serial_bus_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct serial *s = opaque;

	memset(data, 0xff, len);
	if (len != 1)
		return; /* the UART has byte registers only */
	pthread_mutex_lock(&s->lock);
	serial_reg_read(s, off, data);
	pthread_mutex_unlock(&s->lock);
}

static void serial_bus_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct serial *s = opaque;

	if (len != 1)
		return;
	pthread_mutex_lock(&s->lock);
	serial_reg_write(s, off, *(const uint8_t *)data);
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_ops serial_ops = {
	.read = serial_bus_read,
	.write = serial_bus_write,
};

size_t serial_rx_push(struct serial *s, const uint8_t *data, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&s->lock);
	while (n < len && serial_rx_put(s, data[n]))
		n++;
	if (n < len)
		s->rx_waiting = true;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

int serial_rx_space_fd(const struct serial *s)
{
	return s->rx_space_efd;
}

_Static_assert(sizeof(((struct serial_state *)0)->rx) == RX_FIFO_SIZE, "serial state FIFO");

void serial_save(struct serial *s, struct serial_state *st)
{
	pthread_mutex_lock(&s->lock);
	*st = (struct serial_state){ .ier = s->ier,
				     .lcr = s->lcr,
				     .mcr = s->mcr,
				     .lsr = s->lsr,
				     .msr = s->msr,
				     .scr = s->scr,
				     .dll = s->dll,
				     .dlm = s->dlm,
				     .fcr = s->fcr,
				     .thr_ipending = s->thr_ipending,
				     .rx_head = (uint8_t)s->rx_head,
				     .rx_count = (uint8_t)s->rx_count };
	memcpy(st->rx, s->rx, sizeof(st->rx));
	pthread_mutex_unlock(&s->lock);
}

int serial_restore(struct serial *s, const struct serial_state *st)
{
	if (st->rx_head >= RX_FIFO_SIZE || st->rx_count > RX_FIFO_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	s->ier = st->ier;
	s->lcr = st->lcr;
	s->mcr = st->mcr;
	s->lsr = st->lsr;
	s->msr = st->msr;
	s->scr = st->scr;
	s->dll = st->dll;
	s->dlm = st->dlm;
	s->fcr = st->fcr;
	s->thr_ipending = st->thr_ipending != 0;
	memcpy(s->rx, st->rx, sizeof(s->rx));
	s->rx_head = st->rx_head;
	s->rx_count = st->rx_count;
	s->irq_level = false;
	serial_update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int serial_create(struct bus *pio, const struct serial_config *cfg, struct serial **out)
{
	struct serial *s = calloc(1, sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	pthread_mutex_init(&s->lock, NULL);
	s->irq = cfg->irq;
	s->out_fd = cfg->out_fd;
	s->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	s->rx_space_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->rx_space_efd < 0) {
		ret = -errno;
		goto fail;
	}
	ret = bus_register(pio, cfg->port, 8, &serial_ops, s);
	if (ret < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	serial_destroy(s);
	return ret;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	if (s->rx_space_efd >= 0)
		close(s->rx_space_efd);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

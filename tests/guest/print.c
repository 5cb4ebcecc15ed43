/*
 * Output on COM1, an 8250/16550A UART (register layout: National
 * Semiconductor PC16550D data sheet). The guest polls the transmitter; only
 * the echo test uses the receive interrupt.
 */
#include <stdarg.h>

#include "guest.h"
#include "io.h"
#include "uart.h"

/*
 * Input that came before anyone asked for it: a byte the host typed before
 * boot, which enabling the FIFOs would discard, or bytes the serial test's
 * loopback would mix with its own. The echo test reads them first. In .data,
 * because serial_init() runs before .bss is cleared.
 */
#define STASH_SIZE 64

static uint8_t stash[STASH_SIZE] __attribute__((section(".data")));
static unsigned int stash_len __attribute__((section(".data")));

void serial_stash_input(void)
{
	while (stash_len < STASH_SIZE && (inb(COM1 + UART_LSR) & UART_LSR_DR))
		stash[stash_len++] = inb(COM1 + UART_RBR);
}

unsigned int serial_take_stash(uint8_t *buf, unsigned int max)
{
	unsigned int n = stash_len < max ? stash_len : max;

	memcpy(buf, stash, n);
	memcpy(stash, stash + n, stash_len - n);
	stash_len -= n;
	return n;
}

void serial_init(void)
{
	/* LCR is 0 after reset, so offset 0 is RBR here. */
	serial_stash_input();
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, UART_LCR_DLAB);
	outb(COM1 + UART_DLL, 1); /* 115200 baud: divisor 1 of 1.8432 MHz / 16 */
	outb(COM1 + UART_DLM, 0);
	outb(COM1 + UART_LCR, UART_LCR_8N1);
	outb(COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
}

/* Bounded, so that a missing or stuck UART cannot hang the guest. */
static void serial_write_byte(uint8_t b)
{
	for (unsigned int i = 0; i < 100000; i++)
		if (inb(COM1 + UART_LSR) & UART_LSR_THRE)
			break;
	outb(COM1 + UART_THR, b);
}

void serial_putc(char c)
{
	if (c == '\n')
		serial_write_byte('\r');
	serial_write_byte((uint8_t)c);
}

static void put_str(const char *s)
{
	while (*s)
		serial_putc(*s++);
}

static void put_num(unsigned long long v, unsigned int base, unsigned int width, char pad,
		    bool negative)
{
	char buf[24];
	unsigned int n = 0;

	do {
		buf[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		buf[n++] = '-';
	while (n < width && n < sizeof(buf))
		buf[n++] = pad;
	while (n)
		serial_putc(buf[--n]);
}

/* Reads one integer argument of the given length modifier ('l' count). */
static unsigned long long get_arg(va_list *ap, unsigned int longs, bool is_signed, bool *neg)
{
	long long s;

	*neg = false;
	if (!is_signed) {
		if (longs >= 2)
			return va_arg(*ap, unsigned long long);
		if (longs == 1)
			return va_arg(*ap, unsigned long);
		return va_arg(*ap, unsigned int);
	}
	if (longs >= 2)
		s = va_arg(*ap, long long);
	else if (longs == 1)
		s = va_arg(*ap, long);
	else
		s = va_arg(*ap, int);
	*neg = s < 0;
	return *neg ? 0ULL - (unsigned long long)s : (unsigned long long)s;
}

static void vprint(const char *fmt, va_list *ap)
{
	for (; *fmt; fmt++) {
		unsigned int width = 0, longs = 0;
		char pad = ' ';
		bool neg;

		if (*fmt != '%') {
			serial_putc(*fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		while (*fmt == 'l' || *fmt == 'z') {
			longs++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			unsigned long long v = get_arg(ap, longs, true, &neg);

			put_num(v, 10, width, pad, neg);
			break;
		}
		case 'u':
			put_num(get_arg(ap, longs, false, &neg), 10, width, pad, false);
			break;
		case 'x':
			put_num(get_arg(ap, longs, false, &neg), 16, width, pad, false);
			break;
		case 'c':
			serial_putc((char)va_arg(*ap, int));
			break;
		case 's': {
			const char *s = va_arg(*ap, const char *);

			put_str(s ? s : "(null)");
			break;
		}
		case '%':
			serial_putc('%');
			break;
		case '\0':
			return;
		default:
			serial_putc('%');
			serial_putc(*fmt);
			break;
		}
	}
}

void gprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, &ap);
	va_end(ap);
}

void test_pass(const char *test)
{
	gprintf("PASS %s\n", test);
}

void test_fail(const char *test, const char *fmt, ...)
{
	va_list ap;

	gprintf("FAIL %s: ", test);
	va_start(ap, fmt);
	vprint(fmt, &ap);
	va_end(ap);
	serial_putc('\n');
}

/*
 * Interrupt-driven serial input: COM1's receive interrupt goes through IOAPIC
 * pin 4 (ISA IRQ 4) to this CPU's local APIC. The handler moves bytes into a
 * ring buffer; the main loop echoes them, collects lines, prints each line
 * back as "ECHO <line>" and stops at the line "quit". Between interrupts the
 * CPU sleeps in HLT: polling would be slow where ring 0 is emulated.
 */
#include "guest.h"
#include "io.h"
#include "uart.h"

#define IOAPIC_DEFAULT_BASE 0xfec00000
#define COM1_IOAPIC_PIN	    4
#define RING_SIZE	    256 /* a power of two */
#define LINE_MAX	    256

static volatile uint8_t ring[RING_SIZE] __noinit;
static volatile unsigned int ring_head, ring_tail; /* written by the IRQ / main loop */
static volatile unsigned int serial_irqs;

/* Reads every byte the UART holds; reading RBR clears the interrupt. */
static void serial_irq_drain(void)
{
	while (inb(COM1 + UART_LSR) & UART_LSR_DR) {
		uint8_t b = inb(COM1 + UART_RBR);

		if (ring_head - ring_tail < RING_SIZE) {
			ring[ring_head % RING_SIZE] = b;
			ring_head++;
		}
	}
}

void serial_irq(void)
{
	serial_irqs++;
	serial_irq_drain();
	lapic_eoi();
}

struct line {
	char text[LINE_MAX];
	unsigned int len;
	char last;
};

/* Returns true when the line "quit" ends. */
static bool echo_byte(struct line *l, char c)
{
	bool eol = c == '\r' || c == '\n';

	/* "\r\n" is one line end. */
	if (c == '\n' && l->last == '\r') {
		l->last = c;
		return false;
	}
	l->last = c;
	serial_putc(eol ? '\n' : c);
	if (!eol) {
		if (l->len < LINE_MAX - 1)
			l->text[l->len++] = c;
		return false;
	}
	l->text[l->len] = '\0';
	l->len = 0;
	if (l->text[0] == '\0')
		return false;
	gprintf("ECHO %s\n", l->text);
	return strcmp(l->text, "quit") == 0;
}

void test_echo(void)
{
	static struct madt_info madt __noinit;
	uint64_t ioapic = IOAPIC_DEFAULT_BASE;
	struct line line = { .len = 0 };
	bool quit = false;

	if (acpi_read_madt(&madt) && madt.ioapic_base)
		ioapic = madt.ioapic_base;
	ring_tail = serial_irqs = 0;
	ring_head = serial_take_stash((uint8_t *)ring, RING_SIZE);
	lapic_init();
	ioapic_route(ioapic, COM1_IOAPIC_PIN, VEC_SERIAL, lapic_id());
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS | UART_MCR_OUT2);
	outb(COM1 + UART_IER, UART_IER_RDI);
	gprintf("READY echo\n");
	/* Bytes that arrived before the route was set up raised no edge. */
	cli();
	serial_irq_drain();
	while (!quit) {
		cli();
		if (ring_tail == ring_head) {
			sti_hlt();
			continue;
		}
		quit = echo_byte(&line, (char)ring[ring_tail % RING_SIZE]);
		ring_tail++;
	}
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_MCR, UART_MCR_DTR | UART_MCR_RTS);
	ioapic_mask(ioapic, COM1_IOAPIC_PIN);
	gprintf("KV echo_irqs=%u\n", serial_irqs);
	test_pass("echo");
}

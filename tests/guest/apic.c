/*
 * Local APIC (Intel SDM vol. 3A, chapter 11) in xAPIC or x2APIC mode, its
 * timer as the guest's clock, and the I/O APIC (Intel 82093AA data sheet).
 */
#include "guest.h"
#include "io.h"

#define MSR_APIC_BASE  0x1b
#define APIC_BASE_EXTD (1u << 10) /* x2APIC mode */
#define MSR_X2APIC     0x800	  /* + register offset / 16 */

#define APIC_ID		0x020
#define APIC_TPR	0x080
#define APIC_EOI	0x0b0
#define APIC_SVR	0x0f0
#define APIC_ICR_LOW	0x300
#define APIC_ICR_HIGH	0x310
#define APIC_LVT_TIMER	0x320
#define APIC_LVT_LINT0	0x350
#define APIC_TIMER_INIT 0x380
#define APIC_TIMER_DIV	0x3e0

#define APIC_SVR_ENABLE	     (1u << 8)
#define APIC_ICR_PENDING     (1u << 12)
#define APIC_LVT_MASKED	     (1u << 16)
#define APIC_LVT_PERIODIC    (1u << 17)
#define APIC_TIMER_DIV_16    0x3
#define TIMER_COUNT_PER_TICK 62500 /* 1 ms at KVM's 1 GHz APIC bus, divided by 16 */

/* The two 8259A PICs (Intel 8259A data sheet): command and data ports. */
#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_REDTBL 0x10 /* + 2 * pin: low word, then high word */
#define IOAPIC_MASKED (1u << 16)

static volatile uint64_t ticks;
static bool timer_running;

static bool x2apic(void)
{
	return rdmsr(MSR_APIC_BASE) & APIC_BASE_EXTD;
}

static uint64_t xapic_base(void)
{
	return rdmsr(MSR_APIC_BASE) & ~0xfffULL & 0xffffffffffULL;
}

static uint32_t lapic_read(uint32_t reg)
{
	if (x2apic())
		return (uint32_t)rdmsr(MSR_X2APIC + (reg >> 4));
	return mmio_read32(xapic_base() + reg);
}

static void lapic_write(uint32_t reg, uint32_t v)
{
	if (x2apic())
		wrmsr(MSR_X2APIC + (reg >> 4), v);
	else
		mmio_write32(xapic_base() + reg, v);
}

uint32_t lapic_id(void)
{
	/* x2APIC IDs are 32 bits; the xAPIC ID is bits 31:24. */
	if (x2apic())
		return (uint32_t)rdmsr(MSR_X2APIC + (APIC_ID >> 4));
	return lapic_read(APIC_ID) >> 24;
}

/*
 * A VMM may wire the PIC to LINT0 in ExtINT mode, as PC firmware does, and
 * an uninitialised PIC has vector base 0 and no IRQ masked: COM1's IRQ 4
 * would then arrive as vector 4. Initialise both PICs with their vectors at
 * 0x20-0x2f (ICW1-ICW4), mask every line (OCW1) and mask LINT0 too: only the
 * IOAPIC delivers interrupts here.
 */
static void pic_disable(void)
{
	outb(PIC1_CMD, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, 0x20); /* ICW2: vector base */
	outb(PIC2_DATA, 0x28);
	outb(PIC1_DATA, 0x04); /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01); /* ICW4: 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff); /* OCW1: mask all */
	outb(PIC2_DATA, 0xff);
}

void lapic_init(void)
{
	static bool pic_done;

	if (!pic_done) {
		pic_disable();
		pic_done = true;
	}
	lapic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	lapic_write(APIC_TPR, 0);
	lapic_write(APIC_SVR, APIC_SVR_ENABLE | VEC_SPURIOUS);
}

void lapic_eoi(void)
{
	lapic_write(APIC_EOI, 0);
}

void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low)
{
	if (x2apic()) {
		wrmsr(MSR_X2APIC + (APIC_ICR_LOW >> 4), ((uint64_t)apic_id << 32) | icr_low);
		return;
	}
	lapic_write(APIC_ICR_HIGH, apic_id << 24);
	lapic_write(APIC_ICR_LOW, icr_low);
	for (unsigned int i = 0; i < 1000; i++)
		if (!(lapic_read(APIC_ICR_LOW) & APIC_ICR_PENDING))
			break;
}

/* A periodic 1 ms tick (SDM vol. 3A, 11.5.4); only runs while someone waits. */
void timer_start(void)
{
	lapic_init();
	lapic_write(APIC_TIMER_DIV, APIC_TIMER_DIV_16);
	lapic_write(APIC_LVT_TIMER, APIC_LVT_PERIODIC | VEC_TIMER);
	lapic_write(APIC_TIMER_INIT, TIMER_COUNT_PER_TICK);
	timer_running = true;
}

void timer_stop(void)
{
	lapic_write(APIC_LVT_TIMER, APIC_LVT_MASKED | VEC_TIMER);
	lapic_write(APIC_TIMER_INIT, 0);
	timer_running = false;
}

void timer_irq(void)
{
	ticks++;
	lapic_eoi();
}

uint64_t timer_ticks(void)
{
	return ticks;
}

void sleep_ms(unsigned int ms)
{
	bool was_running = timer_running;
	uint64_t end;

	if (!was_running)
		timer_start();
	/* The next tick may be due at once: one more makes `ms` a minimum. */
	end = ticks + ms + 1;
	for (;;) {
		cli();
		if (ticks >= end)
			break;
		sti_hlt();
	}
	if (!was_running)
		timer_stop();
}

static void ioapic_write(uint64_t base, uint32_t reg, uint32_t v)
{
	mmio_write32(base + IOAPIC_REGSEL, reg);
	mmio_write32(base + IOAPIC_WIN, v);
}

/* Edge triggered, active high, fixed delivery, physical destination. */
void ioapic_route(uint64_t base, unsigned int pin, uint8_t vector, uint32_t apic_id)
{
	/* Destination first, so the entry is never unmasked with a stale one. */
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin + 1, apic_id << 24);
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, vector);
}

void ioapic_mask(uint64_t base, unsigned int pin)
{
	ioapic_write(base, IOAPIC_REDTBL + 2 * pin, IOAPIC_MASKED);
}

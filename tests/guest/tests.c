/* The small tests: each prints its KV lines, then PASS or FAIL. */
#include "guest.h"
#include "io.h"
#include "uart.h"

#define BENCH_PIO_DEFAULT_ITERS 100000
#define PORT_POST		0x80

void test_hello(void)
{
	gprintf("Hello from the ember test guest\n");
	test_pass("hello");
}

void test_cmdline(void)
{
	gprintf("KV cmdline=%s\n", boot->cmdline);
	test_pass("cmdline");
}

/*
 * The initrd the VMM loaded: where, how big, and an FNV-1a hash of its
 * bytes that the host compares with the file's. Keep test initrds small:
 * ring-0 code may be emulated.
 */
void test_initrd(void)
{
	const uint8_t *p = (const uint8_t *)(uintptr_t)boot->initrd_addr;
	uint32_t hash = 0x811c9dc5;

	gprintf("KV initrd=0x%llx,0x%llx\n", (unsigned long long)boot->initrd_addr,
		(unsigned long long)boot->initrd_size);
	if (!boot->initrd_size) {
		test_fail("initrd", "no initrd was passed");
		return;
	}
	if (boot->initrd_addr < MIB || boot->initrd_addr + boot->initrd_size > 4 * GIB) {
		test_fail("initrd", "initrd outside the identity-mapped low memory");
		return;
	}
	for (uint64_t i = 0; i < boot->initrd_size; i++)
		hash = (hash ^ p[i]) * 0x01000193;
	gprintf("KV initrd_fnv1a=%x\n", hash);
	test_pass("initrd");
}

/* Waits, bounded, for the transmitter to drain so loopback bytes are ours. */
static uint8_t uart_wait_lsr(uint8_t bits)
{
	uint8_t lsr = 0;

	for (unsigned int i = 0; i < 10000; i++) {
		lsr = inb(COM1 + UART_LSR);
		if ((lsr & bits) == bits)
			break;
	}
	return lsr;
}

static const char *serial_loopback(void)
{
	uint8_t mcr = UART_MCR_DTR | UART_MCR_RTS, lsr, got;

	/* Keep (or past the stash's size, drop) pending input, then talk to ourselves. */
	serial_stash_input();
	for (unsigned int i = 0; i < 64 && (inb(COM1 + UART_LSR) & UART_LSR_DR); i++)
		inb(COM1 + UART_RBR);
	outb(COM1 + UART_MCR, mcr | UART_MCR_LOOP);
	outb(COM1 + UART_THR, 0xa5);
	lsr = uart_wait_lsr(UART_LSR_DR);
	got = inb(COM1 + UART_RBR);
	outb(COM1 + UART_MCR, mcr);
	if (!(lsr & UART_LSR_DR))
		return "loopback: LSR.DR not set after writing THR";
	if (got != 0xa5)
		return "loopback: RBR does not hold the byte written";
	return NULL;
}

/* The 16550A's registers behave as the data sheet says. */
void test_serial(void)
{
	static const uint8_t values[] = { 0x00, 0xff, 0x55, 0xaa, 0x5a, 0xa5 };
	const char *err;
	uint8_t lsr, iir;

	for (unsigned int i = 0; i < ARRAY_SIZE(values); i++) {
		outb(COM1 + UART_SCR, values[i]);
		if (inb(COM1 + UART_SCR) != values[i]) {
			test_fail("serial", "scratch register lost 0x%02x", values[i]);
			return;
		}
	}
	lsr = uart_wait_lsr(UART_LSR_THRE | UART_LSR_TEMT);
	if ((lsr & (UART_LSR_THRE | UART_LSR_TEMT)) != (UART_LSR_THRE | UART_LSR_TEMT)) {
		test_fail("serial", "LSR 0x%02x lacks THRE|TEMT", lsr);
		return;
	}
	outb(COM1 + UART_FCR, UART_FCR_ENABLE | UART_FCR_CLEAR_RX | UART_FCR_CLEAR_TX);
	iir = inb(COM1 + UART_IIR);
	if ((iir & UART_IIR_FIFO_MASK) != UART_IIR_FIFO_MASK) {
		test_fail("serial", "IIR 0x%02x: FIFOs not enabled after FCR=0x07", iir);
		return;
	}
	err = serial_loopback();
	if (err)
		test_fail("serial", "%s", err);
	else
		test_pass("serial");
}

/* MC146818 CMOS clock: register numbers and formats from its data sheet. */
#define CMOS_INDEX   0x70
#define CMOS_DATA    0x71
#define RTC_SECONDS  0x00
#define RTC_MINUTES  0x02
#define RTC_HOURS    0x04
#define RTC_DAY	     0x07
#define RTC_MONTH    0x08
#define RTC_YEAR     0x09
#define RTC_REG_A    0x0a
#define RTC_REG_B    0x0b
#define RTC_CENTURY  0x32 /* the FADT's CENTURY field on PCs */
#define RTC_A_UIP    0x80
#define RTC_B_24H    0x02
#define RTC_B_BINARY 0x04
#define RTC_HOUR_PM  0x80

struct rtc_time {
	unsigned int sec, min, hour, day, mon, year, century;
};

static uint8_t cmos_read(uint8_t reg)
{
	outb(CMOS_INDEX, reg);
	return inb(CMOS_DATA);
}

static bool rtc_read_raw(struct rtc_time *t)
{
	unsigned int i;

	/* Avoid the update cycle: at most 244 us after UIP rises (data sheet). */
	for (i = 0; i < 10000 && (cmos_read(RTC_REG_A) & RTC_A_UIP); i++)
		;
	t->sec = cmos_read(RTC_SECONDS);
	t->min = cmos_read(RTC_MINUTES);
	t->hour = cmos_read(RTC_HOURS);
	t->day = cmos_read(RTC_DAY);
	t->mon = cmos_read(RTC_MONTH);
	t->year = cmos_read(RTC_YEAR);
	t->century = cmos_read(RTC_CENTURY);
	return i < 10000;
}

static unsigned int bcd(unsigned int v)
{
	return (v >> 4) * 10 + (v & 0xf);
}

static void rtc_decode(struct rtc_time *t, uint8_t reg_b)
{
	bool pm = t->hour & RTC_HOUR_PM;

	t->hour &= ~RTC_HOUR_PM;
	if (!(reg_b & RTC_B_BINARY)) {
		t->sec = bcd(t->sec);
		t->min = bcd(t->min);
		t->hour = bcd(t->hour);
		t->day = bcd(t->day);
		t->mon = bcd(t->mon);
		t->year = bcd(t->year);
		t->century = bcd(t->century);
	}
	/* 12-hour mode: 12 AM is midnight, PM adds 12 to 1..11. */
	if (!(reg_b & RTC_B_24H)) {
		if (t->hour == 12)
			t->hour = 0;
		if (pm)
			t->hour += 12;
	}
	if (t->century == 0)
		t->century = 20; /* no century register */
	t->year += t->century * 100;
}

void test_rtc(void)
{
	struct rtc_time a, b;
	uint8_t reg_b;
	bool stable = false;

	for (unsigned int i = 0; i < 5 && !stable; i++) {
		if (!rtc_read_raw(&a) || !rtc_read_raw(&b)) {
			test_fail("rtc", "update-in-progress never cleared (register A 0x%02x)",
				  cmos_read(RTC_REG_A));
			return;
		}
		stable = memcmp(&a, &b, sizeof(a)) == 0;
	}
	reg_b = cmos_read(RTC_REG_B);
	rtc_decode(&a, reg_b);
	gprintf("KV rtc=%04u-%02u-%02uT%02u:%02u:%02u\n", a.year, a.mon, a.day, a.hour, a.min,
		a.sec);
	if (!stable)
		test_fail("rtc", "two reads never agreed");
	else if (a.sec > 59 || a.min > 59 || a.hour > 23 || a.day < 1 || a.day > 31 || a.mon < 1 ||
		 a.mon > 12 || a.year < 2000 || a.year > 2199)
		test_fail("rtc", "value out of range (register B 0x%02x)", reg_b);
	else
		test_pass("rtc");
}

/* Four ASCII characters per register, as CPUID returns vendor strings. */
static void put_regs(char *out, const uint32_t *regs, unsigned int n)
{
	unsigned int k = 0;

	for (unsigned int i = 0; i < n; i++)
		for (unsigned int s = 0; s < 32; s += 8) {
			char c = (char)(regs[i] >> s);

			if (c >= 0x20 && c < 0x7f)
				out[k++] = c;
		}
	out[k] = '\0';
}

#define CPUID_1_ECX_HYPERVISOR (1u << 31)

void test_cpuid(void)
{
	struct cpuid_regs r = cpuid(0, 0);
	uint32_t vendor[3] = { r.ebx, r.edx, r.ecx };
	char text[16];

	put_regs(text, vendor, 3);
	gprintf("KV cpu_vendor=%s\n", text);
	r = cpuid(1, 0);
	text[0] = '\0';
	if (r.ecx & CPUID_1_ECX_HYPERVISOR) {
		/* Hypervisor leaves, e.g. Linux's Documentation/virt/kvm/x86/cpuid.rst. */
		struct cpuid_regs h = cpuid(0x40000000, 0);
		uint32_t sig[3] = { h.ebx, h.ecx, h.edx };

		put_regs(text, sig, 3);
	}
	gprintf("KV hypervisor=%s\n", text);
	gprintf("KV apic_id=%u\n", r.ebx >> 24);
	test_pass("cpuid");
}

/* Ring 3, IOPL 3: every OUT exits to the VMM, the guest itself runs natively. */
static void bench_pio_user(void *arg)
{
	uint64_t n = *(const uint64_t *)arg;

	for (uint64_t i = 0; i < n; i++)
		outb(PORT_POST, (uint8_t)i);
	gprintf("BENCH pio end\n");
}

void test_bench_pio(void)
{
	uint64_t n = config.iters ? config.iters : BENCH_PIO_DEFAULT_ITERS;

	gprintf("BENCH pio start iters=%llu\n", (unsigned long long)n);
	user_call(bench_pio_user, &n, user_stack_top);
	test_pass("bench-pio");
}

void test_idle(void)
{
	gprintf("IDLE\n");
	halt_forever();
}

/*
 * KVM's instruction emulator has no CMPXCHG16B, and an access to MMIO with
 * nothing behind it has to be emulated: the VMM must report the failure.
 */
void test_emulation_failure(void)
{
	volatile uint64_t *p = (volatile uint64_t *)0xd0000000;
	uint64_t lo = 0, hi = 0;

	gprintf("KV expect=emulation-failure\n");
	__asm__ __volatile__("lock cmpxchg16b %2"
			     : "+a"(lo), "+d"(hi), "+m"(*p)
			     : "b"(1ULL), "c"(2ULL)
			     : "memory", "cc");
	test_fail("emulation-failure", "lock cmpxchg16b on MMIO completed");
}

void test_exception(void)
{
	__asm__ __volatile__("ud2");
	test_fail("exception", "ud2 did not raise #UD");
}

/*
 * Accesses nothing claims: COM2's ports and an MMIO address in the PCI hole.
 * Reads must return all ones (as on a PC with nothing decoding the address),
 * writes must vanish, and the VMM must keep running.
 */
void test_unhandled(void)
{
	uint8_t port = 0;
	uint32_t mmio = 0;

	for (int i = 0; i < 3; i++) {
		outb(0x2f8, 'x');
		port = inb(0x2fd);
		mmio_write32(0xd0001000, 0x12345678);
		mmio = mmio_read32(0xd0001000);
	}
	gprintf("KV unhandled_port=0x%x\n", port);
	gprintf("KV unhandled_mmio=0x%x\n", mmio);
	if (port != 0xff || mmio != 0xffffffff) {
		test_fail("unhandled", "reads of unclaimed addresses are not all ones");
		return;
	}
	test_pass("unhandled");
}

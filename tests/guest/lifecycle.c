/*
 * Tests for the VM's lifecycle as the API drives it.
 *
 * memhog: a busy guest for migration benchmarks: from ring 3 (native
 * speed on any KVM host) writes one word into every page of `iters` MiB of
 * RAM from 64 MiB up (default 32), over and over, forever.
 *
 * ticker: prints "TICK <n>" every 100 ms of guest timer time, `ticks` times
 * (default 50). While the VM is paused no line comes; after a resume the
 * count goes on from where it was.
 *
 * ctrl-alt-del: prints READY, then reads the keyboard controller (polling
 * its status port, no interrupt) until 8 bytes came (the translated make and
 * break codes of Ctrl, Alt and Delete) or 30 s passed; reports them.
 *
 * power-button: routes the ACPI GED's interrupt (GSI 9, as ember's DSDT
 * declares it) to this CPU, prints READY, and waits up to 30 s for the
 * press; reports the interrupts seen.
 */
#include "guest.h"
#include "io.h"

#define TICK_MS	       100
#define TICK_DEFAULT   50
#define KBD_DATA       0x60
#define KBD_STATUS     0x64
#define KBD_STATUS_OBF 0x01
#define KBD_WANT       8
#define KBD_TIMEOUT_MS 30000
#define KBD_POLL_MS    1
#define GED_GSI	       9
#define PWRBTN_WAIT_MS 30000
#define IOAPIC_BASE    0xfec00000ULL

static volatile unsigned int pwrbtn_irqs;

void pwrbtn_irq(void)
{
	pwrbtn_irqs++;
	lapic_eoi();
}

void test_power_button(void)
{
	static struct madt_info madt __noinit;
	uint64_t ioapic = IOAPIC_BASE, end;

	if (acpi_read_madt(&madt) && madt.ioapic_base)
		ioapic = madt.ioapic_base;
	lapic_init();
	ioapic_route(ioapic, GED_GSI, VEC_PWRBTN, lapic_id());
	timer_start();
	end = timer_ticks() + PWRBTN_WAIT_MS;
	gprintf("READY power-button\n");
	while (!pwrbtn_irqs && timer_ticks() < end)
		sleep_ms(1);
	timer_stop();
	ioapic_mask(ioapic, GED_GSI);
	gprintf("KV pwrbtn_irqs=%u\n", pwrbtn_irqs);
	if (pwrbtn_irqs)
		test_pass("power-button");
	else
		test_fail("power-button", "no interrupt on GSI %u in 30 s", GED_GSI);
}

#define MEMHOG_BASE	   (64ULL << 20)
#define MEMHOG_DEFAULT_MIB 32

static void memhog_user(void *arg)
{
	volatile uint64_t *ram = (volatile uint64_t *)(uintptr_t)MEMHOG_BASE;
	uint64_t pages = *(const uint64_t *)arg * 256;

	for (uint64_t round = 1;; round++)
		for (uint64_t i = 0; i < pages; i++)
			ram[i * 512] = round;
}

void test_memhog(void)
{
	static uint64_t mib;

	mib = config.iters ? config.iters : MEMHOG_DEFAULT_MIB;
	gprintf("READY memhog mib=%llu\n", (unsigned long long)mib);
	user_call(memhog_user, &mib, user_stack_top);
}

/* What Firecracker's guests write once booted, for --boot-timer. */
void test_boot_timer(void)
{
	outb(0x3f0, 123);
	test_pass("boot-timer");
}

void test_ticker(void)
{
	uint64_t want = config.ticks ? config.ticks : TICK_DEFAULT;

	timer_start();
	gprintf("READY ticker\n");
	for (uint64_t n = 1; n <= want; n++) {
		sleep_ms(TICK_MS);
		gprintf("TICK %llu\n", (unsigned long long)n);
	}
	timer_stop();
	test_pass("ticker");
}

void test_ctrl_alt_del(void)
{
	static const uint8_t expect[KBD_WANT] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	uint8_t got[KBD_WANT];
	unsigned int n = 0;
	uint64_t end;

	timer_start();
	end = timer_ticks() + KBD_TIMEOUT_MS;
	gprintf("READY ctrl-alt-del\n");
	while (n < KBD_WANT && timer_ticks() < end) {
		if (inb(KBD_STATUS) & KBD_STATUS_OBF)
			got[n++] = inb(KBD_DATA);
		else
			sleep_ms(KBD_POLL_MS);
	}
	timer_stop();
	gprintf("KV kbd=");
	for (unsigned int i = 0; i < n; i++)
		gprintf("%s%02x", i ? "," : "", got[i]);
	gprintf("\n");
	if (n == KBD_WANT && memcmp(got, expect, KBD_WANT) == 0)
		test_pass("ctrl-alt-del");
	else
		test_fail("ctrl-alt-del", "%u of %u bytes, or not Ctrl-Alt-Del", n, KBD_WANT);
}

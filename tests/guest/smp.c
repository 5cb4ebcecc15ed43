/*
 * Bring up every processor the MADT lists with INIT, SIPI, SIPI (Intel SDM
 * vol. 3A, 9.4.4.1 "Typical BSP Initialization Sequence") and check that each
 * one runs: it takes a stack slot, records its local APIC ID and its CPUID
 * initial APIC ID, checks in on a shared counter and halts.
 */
#include "guest.h"
#include "io.h"

#define ICR_INIT	      0x00004500 /* INIT, level assert */
#define ICR_STARTUP	      0x00004600 /* SIPI; the vector is the page number */
#define SMP_TIMEOUT_MS	      10000
#define CPUID_1_EBX_APIC(ebx) ((ebx) >> 24)

struct ap_record {
	uint32_t lapic_id;
	uint32_t cpuid_id;
	uint32_t valid;
};

extern const uint8_t ap_trampoline[], ap_trampoline_end[];
extern volatile uint32_t ap_next_slot;

static volatile struct ap_record ap_records[MAX_CPUS] __noinit;
static volatile uint32_t ap_checked_in;

/* Runs on each AP in long mode, on its own stack, with interrupts off. */
void ap_main(uint32_t slot);
void ap_main(uint32_t slot)
{
	uint32_t one = 1;

	ap_records[slot].lapic_id = lapic_id();
	ap_records[slot].cpuid_id = CPUID_1_EBX_APIC(cpuid(1, 0).ebx);
	ap_records[slot].valid = 1;
	/* LOCK XADD orders the record before the count (SDM vol. 3A, 9.2.3.3). */
	__asm__ __volatile__("lock xaddl %0, %1" : "+r"(one), "+m"(ap_checked_in) : : "memory");
}

static void sort(uint32_t *v, unsigned int n)
{
	for (unsigned int i = 1; i < n; i++)
		for (unsigned int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			uint32_t t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
}

static void start_aps(const struct madt_info *m, uint32_t bsp)
{
	uint32_t vector = TRAMPOLINE_ADDR >> 12;

	memcpy((void *)TRAMPOLINE_ADDR, ap_trampoline, ap_trampoline_end - ap_trampoline);
	for (unsigned int i = 0; i < m->nr_cpus; i++)
		if (m->apic_ids[i] != bsp)
			lapic_send_ipi(m->apic_ids[i], ICR_INIT);
	sleep_ms(10);
	for (unsigned int pass = 0; pass < 2; pass++) {
		for (unsigned int i = 0; i < m->nr_cpus; i++)
			if (m->apic_ids[i] != bsp)
				lapic_send_ipi(m->apic_ids[i], ICR_STARTUP | vector);
		sleep_ms(1);
	}
}

/* Waits in HLT between timer ticks until `want` APs checked in, or times out. */
static bool wait_aps(uint32_t want)
{
	uint64_t end = timer_ticks() + SMP_TIMEOUT_MS;

	for (;;) {
		cli();
		if (ap_checked_in >= want)
			return true;
		if (timer_ticks() >= end)
			return false;
		sti_hlt();
	}
}

/* Slots are taken in one order and check-ins happen in another: use `valid`. */
static void report(uint32_t bsp, uint32_t *ids)
{
	unsigned int n = 0;

	ids[n++] = bsp;
	for (uint32_t i = 0; i < MAX_CPUS; i++)
		if (ap_records[i].valid)
			ids[n++] = ap_records[i].lapic_id;
	sort(ids, n);
	gprintf("KV cpus=%u\n", ap_checked_in + 1);
	gprintf("KV apic_ids=");
	for (uint32_t i = 0; i < n; i++)
		gprintf(i ? ",%u" : "%u", ids[i]);
	gprintf("\n");
}

void test_smp(void)
{
	static struct madt_info m __noinit;
	static uint32_t ids[MAX_CPUS + 1] __noinit;
	uint32_t bsp, count;
	bool in_time;

	if (!acpi_read_madt(&m)) {
		test_fail("smp", "no MADT");
		return;
	}
	gprintf("KV madt_cpus=%u\n", m.nr_cpus);
	bsp = lapic_id();
	ap_next_slot = 0;
	ap_checked_in = 0;
	for (unsigned int i = 0; i < MAX_CPUS; i++)
		ap_records[i].valid = 0;
	timer_start();
	if (m.nr_cpus > 1)
		start_aps(&m, bsp);
	in_time = wait_aps(m.nr_cpus ? m.nr_cpus - 1 : 0);
	timer_stop();
	count = ap_checked_in;
	report(bsp, ids);
	for (uint32_t i = 0; i < MAX_CPUS; i++) {
		if (ap_records[i].valid &&
		    ap_records[i].cpuid_id != (ap_records[i].lapic_id & 0xff)) {
			test_fail("smp", "CPU with APIC ID %u reports initial APIC ID %u in CPUID",
				  ap_records[i].lapic_id, ap_records[i].cpuid_id);
			return;
		}
	}
	if (CPUID_1_EBX_APIC(cpuid(1, 0).ebx) != (bsp & 0xff))
		test_fail("smp", "the BSP's CPUID initial APIC ID differs from its APIC ID %u",
			  bsp);
	else if (!in_time)
		test_fail("smp", "timeout: %u of %u CPUs checked in after %u ms", count + 1,
			  m.nr_cpus, SMP_TIMEOUT_MS);
	else if (count + 1 != m.nr_cpus)
		test_fail("smp", "%u CPUs checked in, the MADT lists %u", count + 1, m.nr_cpus);
	else if (config.expect_cpus && count + 1 != config.expect_cpus)
		test_fail("smp", "%u CPUs checked in, expect_cpus=%u", count + 1,
			  config.expect_cpus);
	else
		test_pass("smp");
}

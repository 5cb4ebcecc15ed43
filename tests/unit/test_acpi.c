#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "devices/acpi_pm.h"

#define BASE 0xe0000u
#define SIZE 0x10000u

static uint8_t area[SIZE];

static const uint8_t *at(uint64_t gpa)
{
	assert_true(gpa >= BASE && gpa < BASE + SIZE);
	return area + (gpa - BASE);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void build(unsigned int cpus)
{
	struct acpi_config cfg = { .nr_cpus = cpus,
				   .ioapic_id = (uint8_t)cpus,
				   .pm_port = PORT_ACPI_PM };

	memset(area, 0xcc, sizeof(area));
	assert_true(acpi_build(&cfg, area, sizeof(area), BASE) > 0);
}

/* The table the XSDT lists with this signature, checked for a valid checksum. */
static const uint8_t *find_table(const char *sig)
{
	const uint8_t *xsdt = at(rd64(area + 24));
	uint32_t len = rd32(xsdt + 4);

	for (uint32_t off = 36; off < len; off += 8) {
		const uint8_t *t = at(rd64(xsdt + off));

		if (memcmp(t, sig, 4) == 0) {
			assert_int_equal(acpi_checksum(t, rd32(t + 4)), 0);
			return t;
		}
	}
	fail_msg("no %s table", sig);
	return NULL;
}

static void test_rsdp(void **state)
{
	(void)state;
	build(1);
	assert_memory_equal(area, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(area, 20), 0);
	assert_int_equal(acpi_checksum(area, 36), 0);
	assert_int_equal(area[15], 2); /* revision: XSDT present */
	assert_int_equal(rd32(area + 20), 36);
}

static void test_xsdt_checksum(void **state)
{
	const uint8_t *xsdt;

	(void)state;
	build(4);
	xsdt = at(rd64(area + 24));
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(acpi_checksum(xsdt, rd32(xsdt + 4)), 0);
}

static void test_madt_lists_every_cpu(void **state)
{
	unsigned int counts[] = { 1, 2, 64, 254 };

	(void)state;
	for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
		const uint8_t *madt;
		uint32_t len, off, cpus = 0, ioapics = 0;

		build(counts[c]);
		madt = find_table("APIC");
		len = rd32(madt + 4);
		assert_int_equal(rd32(madt + 36), LAYOUT_LAPIC);
		for (off = 44; off < len; off += madt[off + 1]) {
			assert_true(madt[off + 1] >= 2);
			if (madt[off] == 0) {
				assert_int_equal(madt[off + 3], cpus); /* APIC ID */
				assert_int_equal(rd32(madt + off + 4) & 1, 1);
				cpus++;
			} else if (madt[off] == 1) {
				assert_int_equal(rd32(madt + off + 4), LAYOUT_IOAPIC);
				assert_int_equal(madt[off + 2], counts[c]);
				ioapics++;
			}
		}
		assert_int_equal(off, len);
		assert_int_equal(cpus, counts[c]);
		assert_int_equal(ioapics, 1);
	}
}

static void test_fadt_is_hardware_reduced(void **state)
{
	const uint8_t *fadt;

	(void)state;
	build(2);
	fadt = find_table("FACP");
	assert_int_equal(rd32(fadt + 4), 276);
	assert_true(rd32(fadt + 112) & (1u << 20)); /* HW_REDUCED_ACPI */
	assert_true(rd32(fadt + 112) & (1u << 10)); /* RESET_REG_SUP */
	/* Sleep control register: byte-wide I/O port, as acpi_pm serves it. */
	assert_int_equal(fadt[244], 1);
	assert_int_equal(fadt[245], 8);
	assert_int_equal(rd64(fadt + 248), PORT_ACPI_PM + ACPI_PM_SLEEP_CONTROL);
	assert_int_equal(rd64(fadt + 260), PORT_ACPI_PM + ACPI_PM_SLEEP_STATUS);
	assert_int_equal(fadt[116], 1);
	assert_int_equal(rd64(fadt + 120), PORT_ACPI_PM + ACPI_PM_RESET);
	assert_int_equal(fadt[128], ACPI_PM_RESET_VALUE);
	assert_int_equal(fadt[108], 0x32); /* CMOS century register */
	assert_int_equal(rd64(fadt + 140), rd32(fadt + 40));
}

static const uint8_t *memmem_or_null(const uint8_t *hay, size_t n, const void *needle, size_t m)
{
	for (size_t i = 0; i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

static void test_dsdt(void **state)
{
	const uint8_t *fadt, *dsdt, *s5;
	uint32_t len;

	(void)state;
	build(1);
	fadt = find_table("FACP");
	dsdt = at(rd64(fadt + 140));
	len = rd32(dsdt + 4);
	assert_memory_equal(dsdt, "DSDT", 4);
	assert_int_equal(acpi_checksum(dsdt, len), 0);
	assert_int_equal(len, acpi_dsdt_aml_len);
	/* \_S5_ package: NameOp, "_S5_", PackageOp, length, 4 elements, BytePrefix 5. */
	s5 = memmem_or_null(dsdt, len, "_S5_", 4);
	assert_non_null(s5);
	assert_int_equal(s5[4], 0x12);
	assert_int_equal(s5[7], 0x0a);
	assert_int_equal(s5[8], ACPI_PM_S5_TYPE);
	/* The devices ember emulates, by their hardware IDs and ports. */
	assert_non_null(memmem_or_null(dsdt, len, "ACPI0013", 8));	   /* GED */
	assert_non_null(memmem_or_null(dsdt, len, "\x47\x01\xf8\x03", 4)); /* IO 0x3f8 */
	assert_non_null(memmem_or_null(dsdt, len, "\x47\x01\x60\x00", 4)); /* IO 0x60 */
	assert_non_null(memmem_or_null(dsdt, len, "\x47\x01\x70\x00", 4)); /* IO 0x70 */
}

static const uint8_t *memfind(const uint8_t *hay, size_t n, const void *needle, size_t k)
{
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(hay + i, needle, k) == 0)
			return hay + i;
	return NULL;
}

/* One SSDT per virtio device, each with its own name, _UID, window and GSI. */
static void test_virtio_ssdts(void **state)
{
	static const struct acpi_virtio v[] = { { 0xd0000000, 5 }, { 0xd0001000, 6 } };
	struct acpi_config cfg = {
		.nr_cpus = 1, .ioapic_id = 1, .pm_port = PORT_ACPI_PM, .virtio = v, .nr_virtio = 2
	};
	const uint8_t *xsdt, *t;
	/* Memory32Fixed(ReadWrite, base, 0x1000), then Interrupt(Edge, ActiveHigh) {gsi}. */
	uint8_t mem[12] = { 0x86, 0x09, 0x00, 0x01 }, irq[9] = { 0x89, 0x06, 0x00, 0x03, 0x01 };
	uint32_t win = 0x1000;

	(void)state;
	memset(area, 0xcc, sizeof(area));
	assert_true(acpi_build(&cfg, area, sizeof(area), BASE) > 0);
	xsdt = at(rd64(area + 24));
	assert_int_equal(rd32(xsdt + 4), 36 + 4 * 8);
	for (unsigned int i = 0; i < 2; i++) {
		char name[5];
		uint32_t len;

		t = at(rd64(xsdt + 36 + 8 * (2 + i)));
		len = rd32(t + 4);
		assert_memory_equal(t, "SSDT", 4);
		assert_int_equal(acpi_checksum(t, len), 0);
		snprintf(name, sizeof(name), "VR%02X", i);
		assert_non_null(memfind(t, len, name, 4));
		assert_non_null(memfind(t, len, "LNRO0005", 8));
		memcpy(mem + 4, &v[i].base, 4);
		memcpy(mem + 8, &win, 4);
		assert_non_null(memfind(t, len, mem, sizeof(mem)));
		memcpy(irq + 5, &v[i].gsi, 4);
		assert_non_null(memfind(t, len, irq, sizeof(irq)));
	}
	cfg.nr_virtio = ACPI_MAX_VIRTIO + 1;
	assert_int_equal(acpi_build(&cfg, area, sizeof(area), BASE), -EINVAL);
}

static void test_too_small_area(void **state)
{
	struct acpi_config cfg = { .nr_cpus = 254, .pm_port = PORT_ACPI_PM };

	(void)state;
	assert_int_equal(acpi_build(&cfg, area, 512, BASE), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsdp),
		cmocka_unit_test(test_xsdt_checksum),
		cmocka_unit_test(test_madt_lists_every_cpu),
		cmocka_unit_test(test_fadt_is_hardware_reduced),
		cmocka_unit_test(test_dsdt),
		cmocka_unit_test(test_virtio_ssdts),
		cmocka_unit_test(test_too_small_area),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

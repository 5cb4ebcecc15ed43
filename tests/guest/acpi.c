/*
 * Just enough ACPI (ACPI 6.5, chapter 5) to count processors (MADT), power
 * off (FADT sleep control register or PM1a control block, with SLP_TYPa from
 * the DSDT's \_S5 package) and reset (FADT RESET_REG).
 */
#include "guest.h"
#include "io.h"

struct __attribute__((packed)) acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt;
	uint32_t length;
	uint64_t xsdt;
	uint8_t extended_checksum;
	uint8_t reserved[3];
};

struct __attribute__((packed)) acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	uint32_t creator_id;
	uint32_t creator_revision;
};

/* Generic Address Structure, 5.2.3.2. */
struct __attribute__((packed)) acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
};

#define GAS_MEMORY 0
#define GAS_IO	   1

/* FADT field offsets, table 5.9. */
#define FADT_DSDT	   40
#define FADT_PM1A_CNT	   64
#define FADT_FLAGS	   112
#define FADT_RESET_REG	   116
#define FADT_RESET_VALUE   128
#define FADT_X_DSDT	   140
#define FADT_SLEEP_CONTROL 244
#define FADT_RESET_REG_SUP (1u << 10)
#define SLP_EN_SLEEP_CTL   0x20	      /* sleep control register, 4.8.3.7 */
#define SLP_EN_PM1	   (1u << 13) /* PM1 control register, table 4.13 */
#define MADT_ENTRIES	   44
#define MADT_LAPIC	   0
#define MADT_IOAPIC	   1
#define MADT_X2APIC	   9
#define MADT_LAPIC_ENABLED 1
#define AML_PACKAGE_OP	   0x12
#define AML_ZERO_OP	   0x00
#define AML_ONE_OP	   0x01
#define AML_BYTE_PREFIX	   0x0a
#define LOW_4G		   0x100000000ULL

static const struct acpi_rsdp *rsdp_cache;

static uint8_t checksum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (n--)
		sum += *b++;
	return sum;
}

/* The signature and the ACPI 1.0 checksum over the first 20 bytes (5.2.5.3). */
static bool rsdp_valid(const struct acpi_rsdp *r)
{
	return memcmp(r->signature, "RSD PTR ", 8) == 0 && checksum(r, 20) == 0;
}

/*
 * The RSDP the boot protocol gave, else the BIOS read-only area scan of
 * 5.2.5.1: 16-byte boundaries from 0xE0000 to 0xFFFFF. One 64-bit compare per
 * step keeps the scan short when ring 0 is emulated.
 */
static const struct acpi_rsdp *find_rsdp(void)
{
	const uint64_t magic = 0x2052545020445352ULL; /* "RSD PTR " */

	if (rsdp_cache)
		return rsdp_cache;
	if (boot->rsdp && boot->rsdp < LOW_4G &&
	    rsdp_valid((const struct acpi_rsdp *)(uintptr_t)boot->rsdp))
		return rsdp_cache = (const struct acpi_rsdp *)(uintptr_t)boot->rsdp;
	for (uintptr_t a = 0xe0000; a < 0x100000; a += 16)
		if (*(const volatile uint64_t *)a == magic &&
		    rsdp_valid((const struct acpi_rsdp *)a))
			return rsdp_cache = (const struct acpi_rsdp *)a;
	return NULL;
}

static const struct acpi_header *table_at(uint64_t addr)
{
	if (addr == 0 || addr >= LOW_4G)
		return NULL;
	return (const struct acpi_header *)(uintptr_t)addr;
}

/* Through the XSDT when there is one (revision 2+), else the RSDT. */
const void *acpi_find_table(const char *sig)
{
	const struct acpi_rsdp *r = find_rsdp();
	const struct acpi_header *sdt;
	bool x;
	unsigned int n;

	if (!r)
		return NULL;
	x = r->revision >= 2 && r->xsdt;
	sdt = table_at(x ? r->xsdt : r->rsdt);
	if (!sdt)
		return NULL;
	n = (sdt->length - sizeof(*sdt)) / (x ? 8 : 4);
	for (unsigned int i = 0; i < n; i++) {
		const uint8_t *e = (const uint8_t *)(sdt + 1) + i * (x ? 8 : 4);
		uint64_t addr = 0;
		const struct acpi_header *t;

		memcpy(&addr, e, x ? 8 : 4);
		t = table_at(addr);
		if (t && memcmp(t->signature, sig, 4) == 0)
			return t;
	}
	return NULL;
}

/* Enabled processors (5.2.12.2 and 5.2.12.12) and the IOAPIC for GSI 0. */
bool acpi_read_madt(struct madt_info *out)
{
	const struct acpi_header *m = acpi_find_table("APIC");
	const uint8_t *p, *end;

	memset(out, 0, sizeof(*out));
	if (!m)
		return false;
	p = (const uint8_t *)m + MADT_ENTRIES;
	end = (const uint8_t *)m + m->length;
	for (; p + 2 <= end && p[1] >= 2 && p + p[1] <= end; p += p[1]) {
		uint32_t flags, id, gsi_base, addr;

		if (p[0] == MADT_LAPIC && p[1] >= 8) {
			memcpy(&flags, p + 4, 4);
			id = p[3];
		} else if (p[0] == MADT_X2APIC && p[1] >= 16) {
			memcpy(&id, p + 4, 4);
			memcpy(&flags, p + 8, 4);
		} else {
			if (p[0] == MADT_IOAPIC && p[1] >= 12) {
				memcpy(&addr, p + 4, 4);
				memcpy(&gsi_base, p + 8, 4);
				if (gsi_base == 0)
					out->ioapic_base = addr;
			}
			continue;
		}
		if ((flags & MADT_LAPIC_ENABLED) && out->nr_cpus < MAX_CPUS)
			out->apic_ids[out->nr_cpus++] = id;
	}
	return true;
}

static const struct acpi_header *fadt_dsdt(const uint8_t *fadt, uint32_t fadt_len)
{
	uint64_t x_dsdt = 0;
	uint32_t dsdt = 0;

	if (fadt_len >= FADT_X_DSDT + 8)
		memcpy(&x_dsdt, fadt + FADT_X_DSDT, 8);
	memcpy(&dsdt, fadt + FADT_DSDT, 4);
	return table_at(x_dsdt ? x_dsdt : dsdt);
}

/*
 * SLP_TYPa for S5: the first element of the \_S5_ package (7.4.2). AML
 * encodes Name(_S5_, Package(){...}) as the name followed by PackageOp,
 * PkgLength (1 to 4 bytes, 20.2.4), NumElements, then the elements.
 */
static int s5_sleep_type(const struct acpi_header *dsdt)
{
	const uint8_t *aml = (const uint8_t *)dsdt;
	uint32_t len = dsdt->length;

	for (uint32_t i = sizeof(*dsdt); i + 5 < len; i++) {
		uint32_t j;

		if (memcmp(aml + i, "_S5_", 4) != 0 || aml[i + 4] != AML_PACKAGE_OP)
			continue;
		j = i + 5;
		j += 1 + (aml[j] >> 6); /* PkgLength */
		j += 1;			/* NumElements */
		if (j + 1 >= len)
			return -1;
		if (aml[j] == AML_BYTE_PREFIX)
			return aml[j + 1];
		if (aml[j] == AML_ZERO_OP || aml[j] == AML_ONE_OP)
			return aml[j];
		return -1;
	}
	return -1;
}

/* Writes a register given by a GAS in system memory or I/O space. */
static bool gas_write(const uint8_t *p, uint64_t v)
{
	struct acpi_gas g;
	unsigned int bytes;

	memcpy(&g, p, sizeof(g));
	if (g.address == 0)
		return false;
	bytes = g.access_size ? 1u << (g.access_size - 1) : (g.bit_width ? g.bit_width / 8 : 1);
	if (g.space_id == GAS_IO && g.address <= 0xffff) {
		if (bytes >= 4)
			outl((uint16_t)g.address, (uint32_t)v);
		else if (bytes == 2)
			outw((uint16_t)g.address, (uint16_t)v);
		else
			outb((uint16_t)g.address, (uint8_t)v);
		return true;
	}
	if (g.space_id == GAS_MEMORY && g.address + 8 <= LOW_4G) {
		volatile void *a = (volatile void *)(uintptr_t)g.address;

		if (bytes >= 8)
			*(volatile uint64_t *)a = v;
		else if (bytes == 4)
			*(volatile uint32_t *)a = (uint32_t)v;
		else if (bytes == 2)
			*(volatile uint16_t *)a = (uint16_t)v;
		else
			*(volatile uint8_t *)a = (uint8_t)v;
		return true;
	}
	return false;
}

/*
 * S5 soft-off (7.4.2, 16.1.4): hardware-reduced ACPI's sleep control register
 * takes SLP_TYP in bits 4:2 and SLP_EN in bit 5 (4.8.3.7); the fixed-hardware
 * PM1 control register takes them in bits 12:10 and 13. On success the VM
 * is gone before the wait ends; otherwise the reason is returned.
 */
const char *acpi_poweroff(void)
{
	const struct acpi_header *fadt = acpi_find_table("FACP");
	const uint8_t *f = (const uint8_t *)fadt;
	const struct acpi_header *dsdt;
	uint32_t pm1a = 0;
	int slp_typ;

	if (!fadt)
		return "no FADT";
	dsdt = fadt_dsdt(f, fadt->length);
	if (!dsdt)
		return "no DSDT";
	slp_typ = s5_sleep_type(dsdt);
	if (slp_typ < 0)
		return "no \\_S5_ package in the DSDT";
	if (fadt->length >= FADT_SLEEP_CONTROL + sizeof(struct acpi_gas) &&
	    gas_write(f + FADT_SLEEP_CONTROL, ((uint32_t)(slp_typ & 7) << 2) | SLP_EN_SLEEP_CTL)) {
		sleep_ms(1000);
		return "still running 1 s after writing the sleep control register";
	}
	memcpy(&pm1a, f + FADT_PM1A_CNT, 4);
	if (pm1a == 0 || pm1a > 0xffff)
		return "no sleep control register and no PM1a control block";
	outw((uint16_t)pm1a, (uint16_t)(((slp_typ & 7) << 10) | SLP_EN_PM1));
	sleep_ms(1000);
	return "still running 1 s after writing PM1a_CNT";
}

/* The reset register, 4.8.3.6; the FADT flag says whether it exists. */
const char *acpi_reset(void)
{
	const struct acpi_header *fadt = acpi_find_table("FACP");
	const uint8_t *f = (const uint8_t *)fadt;
	uint32_t flags;

	if (!fadt)
		return "no FADT";
	if (fadt->length < FADT_RESET_VALUE + 1)
		return "FADT too short for RESET_REG";
	memcpy(&flags, f + FADT_FLAGS, 4);
	if (!(flags & FADT_RESET_REG_SUP))
		return "FADT flag RESET_REG_SUP is clear";
	if (!gas_write(f + FADT_RESET_REG, f[FADT_RESET_VALUE]))
		return "RESET_REG is in an address space the guest cannot write";
	sleep_ms(1000);
	return "still running 1 s after writing RESET_REG";
}

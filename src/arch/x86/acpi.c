/* Table layouts: ACPI 6.5, chapter 5.2. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "devices/acpi_pm.h"
#include "arch/x86/layout.h"

#define ACPI_OEM_ID	  "EMBER "
#define ACPI_OEM_TABLE_ID "EMBERVMM"
#define ACPI_CREATOR_ID	  "EMBR"

struct __packed acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
};
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP size");

struct __packed acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
};
_Static_assert(sizeof(struct acpi_header) == 36, "table header size");

/* Generic Address Structure (5.2.3.2). */
struct __packed acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
};

#define ACPI_GAS_SYSTEM_IO   1
#define ACPI_GAS_ACCESS_BYTE 1

struct __packed acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t legacy_blocks[56]; /* ACPI_ENABLE .. CENTURY-1: unused when hardware-reduced */
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_legacy_blocks[8]; /* X_PM1a_EVT_BLK .. X_GPE1_BLK */
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	uint64_t hypervisor_vendor_id;
};
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT size");
_Static_assert(offsetof(struct acpi_fadt, century) == 108, "FADT century");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT flags");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT reset register");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT X_DSDT");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT sleep control");

#define FADT_F_WBINVD	      (1u << 0)
#define FADT_F_PROC_C1	      (1u << 2)
#define FADT_F_PWR_BUTTON     (1u << 4) /* the power button is a control-method device */
#define FADT_F_SLP_BUTTON     (1u << 5) /* no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP  (1u << 10)
#define FADT_F_HW_REDUCED     (1u << 20)
#define FADT_BOOT_ARCH_8042   (1u << 1)
#define FADT_BOOT_ARCH_NO_VGA (1u << 2)

struct __packed acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
};

struct __packed madt_lapic {
	uint8_t type; /* 0 */
	uint8_t length;
	uint8_t uid;
	uint8_t apic_id;
	uint32_t flags;
};

struct __packed madt_ioapic {
	uint8_t type; /* 1 */
	uint8_t length;
	uint8_t id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
};

struct __packed madt_lapic_nmi {
	uint8_t type; /* 4 */
	uint8_t length;
	uint8_t uid;
	uint16_t flags;
	uint8_t lint;
};

#define MADT_LAPIC_ENABLED 1

uint8_t acpi_checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	while (len--)
		sum += *b++;
	return sum;
}

struct acpi_writer {
	uint8_t *buf;
	size_t size;
	size_t used;
	uint64_t base;
};

/* Reserves `len` zeroed bytes, 16-byte aligned; NULL when the area is full. */
static void *acpi_alloc(struct acpi_writer *w, size_t len, uint64_t *gpa)
{
	size_t off = ALIGN_UP(w->used, 16);
	void *p;

	if (off > w->size || len > w->size - off)
		return NULL;
	p = w->buf + off;
	memset(p, 0, len);
	w->used = off + len;
	*gpa = w->base + off;
	return p;
}

static void acpi_header_init(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, ACPI_OEM_ID, 6);
	memcpy(h->oem_table_id, ACPI_OEM_TABLE_ID, 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, ACPI_CREATOR_ID, 4);
	h->creator_revision = 1;
}

static void acpi_header_seal(struct acpi_header *h)
{
	h->checksum = 0;
	h->checksum = (uint8_t)-acpi_checksum(h, h->length);
}

static struct acpi_gas acpi_io_reg(uint16_t port)
{
	return (struct acpi_gas){ .space_id = ACPI_GAS_SYSTEM_IO,
				  .bit_width = 8,
				  .access_size = ACPI_GAS_ACCESS_BYTE,
				  .address = port };
}

static int acpi_build_fadt(const struct acpi_config *cfg, struct acpi_writer *w, uint64_t dsdt,
			   uint64_t *gpa)
{
	struct acpi_fadt *f = acpi_alloc(w, sizeof(*f), gpa);

	if (!f)
		return -ENOSPC;
	acpi_header_init(&f->h, "FACP", sizeof(*f), 6);
	f->minor_version = 5;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->century = 0x32; /* CMOS register holding the century */
	f->iapc_boot_arch = FADT_BOOT_ARCH_8042 | FADT_BOOT_ARCH_NO_VGA;
	f->flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON |
		   FADT_F_RESET_REG_SUP | FADT_F_HW_REDUCED;
	f->reset_reg = acpi_io_reg(cfg->pm_port + ACPI_PM_RESET);
	f->reset_value = ACPI_PM_RESET_VALUE;
	f->sleep_control_reg = acpi_io_reg(cfg->pm_port + ACPI_PM_SLEEP_CONTROL);
	f->sleep_status_reg = acpi_io_reg(cfg->pm_port + ACPI_PM_SLEEP_STATUS);
	memcpy(&f->hypervisor_vendor_id, "EMBERVMM", 8);
	acpi_header_seal(&f->h);
	return 0;
}

static int acpi_build_madt(const struct acpi_config *cfg, struct acpi_writer *w, uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_madt) + cfg->nr_cpus * sizeof(struct madt_lapic) +
		     sizeof(struct madt_ioapic) + sizeof(struct madt_lapic_nmi);
	struct acpi_madt *m = acpi_alloc(w, len, gpa);
	struct madt_lapic *lapic;
	struct madt_ioapic *ioapic;
	struct madt_lapic_nmi *nmi;

	if (!m)
		return -ENOSPC;
	acpi_header_init(&m->h, "APIC", (uint32_t)len, 5);
	m->lapic_address = (uint32_t)LAYOUT_LAPIC;
	lapic = (struct madt_lapic *)(m + 1);
	for (unsigned int i = 0; i < cfg->nr_cpus; i++, lapic++)
		*lapic = (struct madt_lapic){ .type = 0,
					      .length = sizeof(*lapic),
					      .uid = (uint8_t)i,
					      .apic_id = (uint8_t)i,
					      .flags = MADT_LAPIC_ENABLED };
	ioapic = (struct madt_ioapic *)lapic;
	*ioapic = (struct madt_ioapic){ .type = 1,
					.length = sizeof(*ioapic),
					.id = cfg->ioapic_id,
					.address = (uint32_t)LAYOUT_IOAPIC };
	nmi = (struct madt_lapic_nmi *)(ioapic + 1);
	/* LINT1 of every processor is wired to NMI, as on a PC. */
	*nmi = (struct madt_lapic_nmi){ .type = 4, .length = sizeof(*nmi), .uid = 0xff, .lint = 1 };
	acpi_header_seal(&m->h);
	return 0;
}

static int acpi_build_dsdt(struct acpi_writer *w, uint64_t *gpa)
{
	void *d = acpi_alloc(w, acpi_dsdt_aml_len, gpa);

	if (!d)
		return -ENOSPC;
	/* iasl wrote the header and its checksum. */
	memcpy(d, acpi_dsdt_aml, acpi_dsdt_aml_len);
	return 0;
}

/* Replaces the one occurrence of `from` in the table; -EINVAL unless there is exactly one. */
static int aml_patch(uint8_t *t, size_t len, const void *from, const void *to, size_t n)
{
	uint8_t *hit = NULL;

	for (uint8_t *p = t; p + n <= t + len; p++) {
		if (memcmp(p, from, n) != 0)
			continue;
		if (hit)
			return -EINVAL;
		hit = p;
	}
	if (!hit)
		return -EINVAL;
	memcpy(hit, to, n);
	return 0;
}

/* Placeholders of virtio_ssdt.asl, as iasl encodes them (little-endian). */
static const uint8_t SSDT_NAME[4] = { 'V', 'R', 'X', 'X' };
static const uint8_t SSDT_UID[4] = { 0x5a, 0x5a, 0x5a, 0x5a };
static const uint8_t SSDT_BASE[4] = { 0x00, 0xe0, 0xe7, 0xe7 };
static const uint8_t SSDT_GSI[4] = { 0xef, 0xcd, 0xab, 0x00 };

static int acpi_build_virtio_ssdt(struct acpi_writer *w, unsigned int i,
				  const struct acpi_virtio *v, uint64_t *gpa)
{
	size_t len = acpi_virtio_ssdt_aml_len;
	uint8_t *t = acpi_alloc(w, len, gpa);
	uint32_t uid = i;
	char name[5];
	int ret;

	if (!t)
		return -ENOSPC;
	memcpy(t, acpi_virtio_ssdt_aml, len);
	snprintf(name, sizeof(name), "VR%02X", i & 0xff);
	ret = aml_patch(t, len, SSDT_NAME, name, 4);
	if (ret == 0)
		ret = aml_patch(t, len, SSDT_UID, &uid, 4);
	if (ret == 0)
		ret = aml_patch(t, len, SSDT_BASE, &v->base, 4);
	if (ret == 0)
		ret = aml_patch(t, len, SSDT_GSI, &v->gsi, 4);
	if (ret == 0)
		acpi_header_seal((struct acpi_header *)t);
	return ret;
}

static int acpi_build_xsdt(struct acpi_writer *w, const uint64_t *tables, unsigned int n,
			   uint64_t *gpa)
{
	size_t len = sizeof(struct acpi_header) + n * sizeof(uint64_t);
	struct acpi_header *x = acpi_alloc(w, len, gpa);

	if (!x)
		return -ENOSPC;
	acpi_header_init(x, "XSDT", (uint32_t)len, 1);
	/* Entries are unaligned 64-bit addresses right after the header. */
	memcpy(x + 1, tables, n * sizeof(uint64_t));
	acpi_header_seal(x);
	return 0;
}

static void acpi_fill_rsdp(struct acpi_rsdp *r, uint64_t xsdt)
{
	memcpy(r->signature, "RSD PTR ", 8);
	memcpy(r->oem_id, ACPI_OEM_ID, 6);
	r->revision = 2;
	r->length = sizeof(*r);
	r->xsdt_address = xsdt;
	r->checksum = (uint8_t)-acpi_checksum(r, 20);
	r->extended_checksum = (uint8_t)-acpi_checksum(r, sizeof(*r));
}

int acpi_build(const struct acpi_config *cfg, uint8_t *buf, size_t size, uint64_t base)
{
	struct acpi_writer w = { .buf = buf, .size = size, .base = base };
	uint64_t rsdp_gpa, dsdt, tables[2 + ACPI_MAX_VIRTIO], xsdt;
	struct acpi_rsdp *rsdp;
	int ret;

	if (cfg->nr_virtio > ACPI_MAX_VIRTIO)
		return -EINVAL;
	rsdp = acpi_alloc(&w, sizeof(*rsdp), &rsdp_gpa);
	if (!rsdp)
		return -ENOSPC;
	ret = acpi_build_dsdt(&w, &dsdt);
	if (ret == 0)
		ret = acpi_build_fadt(cfg, &w, dsdt, &tables[0]);
	if (ret == 0)
		ret = acpi_build_madt(cfg, &w, &tables[1]);
	for (unsigned int i = 0; ret == 0 && i < cfg->nr_virtio; i++)
		ret = acpi_build_virtio_ssdt(&w, i, &cfg->virtio[i], &tables[2 + i]);
	if (ret == 0)
		ret = acpi_build_xsdt(&w, tables, 2 + cfg->nr_virtio, &xsdt);
	if (ret < 0)
		return ret;
	acpi_fill_rsdp(rsdp, xsdt);
	return (int)w.used;
}

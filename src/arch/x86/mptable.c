/* Layouts: MultiProcessor Specification 1.4, chapter 4. */
#include <errno.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

struct __packed mpf_intel {
	char signature[4]; /* "_MP_" */
	uint32_t physptr;
	uint8_t length; /* in 16-byte units */
	uint8_t specification;
	uint8_t checksum;
	uint8_t feature[5];
};

struct __packed mpc_table {
	char signature[4]; /* "PCMP" */
	uint16_t length;
	uint8_t spec;
	uint8_t checksum;
	char oem[8];
	char product[12];
	uint32_t oemptr;
	uint16_t oemsize;
	uint16_t oemcount; /* entries */
	uint32_t lapic;
	uint16_t ext_length;
	uint8_t ext_checksum;
	uint8_t reserved;
};

struct __packed mpc_cpu {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t cpuflag;
	uint32_t cpufeature;
	uint32_t featureflag;
	uint32_t reserved[2];
};

struct __packed mpc_bus {
	uint8_t type;
	uint8_t busid;
	char bustype[6];
};

struct __packed mpc_ioapic {
	uint8_t type;
	uint8_t apicid;
	uint8_t apicver;
	uint8_t flags;
	uint32_t apicaddr;
};

struct __packed mpc_intsrc {
	uint8_t type;
	uint8_t irqtype;
	uint16_t irqflag;
	uint8_t srcbus;
	uint8_t srcbusirq;
	uint8_t dstapic;
	uint8_t dstirq;
};

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config header");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry");

#define MP_PROCESSOR 0
#define MP_BUS	     1
#define MP_IOAPIC    2
#define MP_INTSRC    3
#define MP_LINTSRC   4

#define CPU_ENABLED    1
#define CPU_BSP	       2
#define MP_IRQ_INT     0
#define MP_IRQ_NMI     1
#define MP_IRQ_EXTINT  3
#define APIC_VERSION   0x14
#define IOAPIC_VERSION 0x11
#define CPU_SIGNATURE  0x600 /* family 6 */
#define CPU_FEATURES   0x201 /* FPU, APIC */
#define ISA_BUS	       0
#define ALL_LAPICS     0xff

struct mp_writer {
	uint8_t *p;
	uint16_t count;
};

static void mp_put(struct mp_writer *w, const void *entry, size_t len)
{
	memcpy(w->p, entry, len);
	w->p += len;
	w->count++;
}

static void mp_put_cpus(struct mp_writer *w, unsigned int nr_cpus)
{
	for (unsigned int i = 0; i < nr_cpus; i++) {
		struct mpc_cpu c = {
			.type = MP_PROCESSOR,
			.apicid = (uint8_t)i,
			.apicver = APIC_VERSION,
			.cpuflag = CPU_ENABLED | (i == 0 ? CPU_BSP : 0),
			.cpufeature = CPU_SIGNATURE,
			.featureflag = CPU_FEATURES,
		};
		mp_put(w, &c, sizeof(c));
	}
}

/* ISA IRQs 0-15 go to the same IOAPIC pins, as KVM's default routing wires them. */
static void mp_put_interrupts(struct mp_writer *w, uint8_t ioapic_id)
{
	struct mpc_intsrc lint = { .type = MP_LINTSRC, .srcbus = ISA_BUS, .dstapic = ALL_LAPICS };

	for (uint8_t irq = 0; irq < 16; irq++) {
		struct mpc_intsrc s = {
			.type = MP_INTSRC,
			.irqtype = MP_IRQ_INT,
			.srcbus = ISA_BUS,
			.srcbusirq = irq,
			.dstapic = ioapic_id,
			.dstirq = irq,
		};
		mp_put(w, &s, sizeof(s));
	}
	lint.irqtype = MP_IRQ_EXTINT;
	lint.dstirq = 0;
	mp_put(w, &lint, sizeof(lint));
	lint.irqtype = MP_IRQ_NMI;
	lint.dstirq = 1;
	mp_put(w, &lint, sizeof(lint));
}

static size_t mptable_size(unsigned int nr_cpus)
{
	return sizeof(struct mpf_intel) + sizeof(struct mpc_table) +
	       nr_cpus * sizeof(struct mpc_cpu) + sizeof(struct mpc_bus) +
	       sizeof(struct mpc_ioapic) + 18 * sizeof(struct mpc_intsrc);
}

int mptable_build(unsigned int nr_cpus, uint8_t ioapic_id, uint8_t *buf, size_t size, uint64_t base)
{
	struct mpf_intel *mpf = (struct mpf_intel *)buf;
	struct mpc_table *mpc = (struct mpc_table *)(mpf + 1);
	struct mp_writer w = { .p = (uint8_t *)(mpc + 1) };
	struct mpc_bus bus = { .type = MP_BUS, .busid = ISA_BUS, .bustype = "ISA   " };
	struct mpc_ioapic io = { .type = MP_IOAPIC,
				 .apicid = ioapic_id,
				 .apicver = IOAPIC_VERSION,
				 .flags = 1,
				 .apicaddr = (uint32_t)LAYOUT_IOAPIC };
	size_t total = mptable_size(nr_cpus);

	if (nr_cpus == 0 || nr_cpus > 254)
		return -EINVAL;
	if (total > size || total - sizeof(*mpf) > UINT16_MAX)
		return -ENOSPC;
	memset(buf, 0, total);
	mp_put_cpus(&w, nr_cpus);
	mp_put(&w, &bus, sizeof(bus));
	mp_put(&w, &io, sizeof(io));
	mp_put_interrupts(&w, ioapic_id);

	memcpy(mpc->signature, "PCMP", 4);
	mpc->length = (uint16_t)(total - sizeof(*mpf));
	mpc->spec = 4;
	memcpy(mpc->oem, "EMBER   ", 8);
	memcpy(mpc->product, "EMBERVMM    ", 12);
	mpc->oemcount = w.count;
	mpc->lapic = (uint32_t)LAYOUT_LAPIC;
	mpc->checksum = (uint8_t)-acpi_checksum(mpc, mpc->length);

	memcpy(mpf->signature, "_MP_", 4);
	mpf->physptr = (uint32_t)(base + sizeof(*mpf));
	mpf->length = 1;
	mpf->specification = 4;
	mpf->checksum = (uint8_t)-acpi_checksum(mpf, sizeof(*mpf));
	return (int)total;
}

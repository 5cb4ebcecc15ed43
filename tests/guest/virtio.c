/*
 * virtio-mmio devices the command line lists (Linux's
 * virtio_mmio.device=<size>@<base>:<irq>[:<id>] syntax), version 2 (modern)
 * only, each with one or two split virtqueues (virtio 1.2, 2.7 and 4.2).
 *
 * virtio_request() has one request in flight at a time on queue 0, always
 * starting at descriptor 0: the tests are sequential, and this keeps the
 * ring logic short. virtio-net and virtio-console use the calls below it on
 * both of their queues (virtio_publish_on(), virtio_next_used(),
 * virtio_wait_queue()). Completion is found by polling the used ring while
 * the CPU sleeps in HLT between 1 ms timer ticks; the device's interrupt
 * (through the IOAPIC) wakes it sooner and is counted.
 */
#include "guest.h"
#include "io.h"
#include "virtio.h"

#define VIRTIO_MMIO_MAGIC	0x74726976 /* "virt" */
#define VIRTIO_USED_F_NO_NOTIFY 1

/*
 * Queue memory: one page per queue, identity mapped, with room for
 * VIRTQ_BIG_SIZE entries. Only the rings of the size in use are zeroed at
 * setup; descriptors and the indirect table are written before each use.
 */
#define QUEUE_PAGE     4096
#define QUEUE_DESC     0x000 /* 128 * 16 bytes */
#define QUEUE_AVAIL    0x800 /* 4 + 2 * 128 + 2 */
#define QUEUE_USED     0x980 /* 4 + 8 * 128 + 2, 4-byte aligned */
#define QUEUE_INDIRECT 0xe00 /* VIRTQ_MAX_CHAIN * 16 */

#define VIRTIO_TIMEOUT_MS   3000
#define VIRTIO_IRQ_WAIT_MS  100 /* for an interrupt already owed: only a lost one waits */
#define IOAPIC_DEFAULT_BASE 0xfec00000
#define IOAPIC_PINS	    24 /* the one at GSI 0; other IOAPICs are not used */

#define READ_ONCE16(x)	   (*(const volatile uint16_t *)&(x))
#define WRITE_ONCE16(x, v) (*(volatile uint16_t *)&(x) = (v))

static uint8_t queue_pages[VIRTIO_MAX_DEVICES][VIRTIO_MAX_QUEUES][QUEUE_PAGE] __noinit
	__attribute__((aligned(QUEUE_PAGE)));
static struct virtio_dev devs[VIRTIO_MAX_DEVICES] __noinit;
static unsigned int nr_devs;
static bool probed;
static uint64_t ioapic;

/* The first command-line entry that was not usable (base 0: unparsed), for messages. */
static uint64_t note_base;
static const char *note_why;

/*
 * x86 keeps stores in order and loads in order, so the compiler barrier is
 * the write and read barrier; a store followed by a load of another location
 * needs a full barrier. A locked add rather than MFENCE: KVM's instruction
 * emulator, which may run this ring-0 code, has no MFENCE.
 */
static inline void virtio_wmb(void)
{
	barrier();
}

static inline void virtio_rmb(void)
{
	barrier();
}

static inline void virtio_mb(void)
{
	__asm__ __volatile__("lock addl $0, (%%rsp)" : : : "memory", "cc");
}

static uint32_t reg_read(const struct virtio_dev *d, unsigned int reg)
{
	return mmio_read32(d->base + reg);
}

static void reg_write(const struct virtio_dev *d, unsigned int reg, uint32_t v)
{
	mmio_write32(d->base + reg, v);
}

uint32_t virtio_reg_read(const struct virtio_dev *d, unsigned int reg)
{
	return reg_read(d, reg);
}

void virtio_reg_write(const struct virtio_dev *d, unsigned int reg, uint32_t v)
{
	reg_write(d, reg, v);
}

/* A decimal or 0x-hex number at *s; *s moves past it. */
static bool parse_num(const char **s, uint64_t *out)
{
	const char *p = *s;
	unsigned int base = 10;
	uint64_t v = 0;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		unsigned int d;

		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			break;
		v = v * base + d;
	}
	if (p == *s || (base == 16 && p == *s + 2))
		return false;
	*s = p;
	*out = v;
	return true;
}

/* Linux's memparse() suffixes, as in "4K". */
static uint64_t size_suffix(const char **s)
{
	uint64_t m;

	switch (**s) {
	case 'K':
	case 'k':
		m = 1024;
		break;
	case 'M':
	case 'm':
		m = MIB;
		break;
	case 'G':
	case 'g':
		m = GIB;
		break;
	default:
		return 1;
	}
	(*s)++;
	return m;
}

static bool word_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t';
}

/* <size>@<base>:<irq>[:<id>]; the platform device id is not needed. */
static bool parse_device(const char *s, struct virtio_dev *d)
{
	uint64_t size, base, irq, id;

	if (!parse_num(&s, &size))
		return false;
	size *= size_suffix(&s);
	if (*s++ != '@' || !parse_num(&s, &base) || *s++ != ':' || !parse_num(&s, &irq))
		return false;
	if (*s == ':') {
		s++;
		if (!parse_num(&s, &id))
			return false;
	}
	if (!word_end(*s))
		return false;
	*d = (struct virtio_dev){ .base = base, .size = size, .irq = (unsigned int)irq };
	return true;
}

static void note(uint64_t base, const char *why)
{
	if (!note_why) {
		note_base = base;
		note_why = why;
	}
}

/* The magic value, version 2 (4.2.2) and a device behind the transport. */
static bool probe(struct virtio_dev *d)
{
	if (d->base >= 4 * GIB || d->size < VIRTIO_MMIO_CONFIG) {
		note(d->base, "outside low memory or smaller than the registers");
		return false;
	}
	if (reg_read(d, VIRTIO_MMIO_MAGIC_VALUE) != VIRTIO_MMIO_MAGIC) {
		note(d->base, "no virtio-mmio magic value");
		return false;
	}
	if (reg_read(d, VIRTIO_MMIO_VERSION) != 2) {
		note(d->base, "not version 2 (a legacy transport?)");
		return false;
	}
	d->id = reg_read(d, VIRTIO_MMIO_DEVICE_ID);
	if (d->id == 0) {
		note(d->base, "device ID 0 (no device)");
		return false;
	}
	return true;
}

unsigned int virtio_probe_all(void)
{
	static const char key[] = "virtio_mmio.device=";
	const char *c = boot->cmdline;

	if (probed)
		return nr_devs;
	probed = true;
	for (const char *w = c; *w; w++) {
		struct virtio_dev *d = &devs[nr_devs];

		if ((w != c && !word_end(w[-1])) || !starts_with(w, key))
			continue;
		if (nr_devs == VIRTIO_MAX_DEVICES) {
			note(0, "more devices than the guest handles");
			break;
		}
		if (!parse_device(w + sizeof(key) - 1, d))
			note(0, "a virtio_mmio.device= word it cannot parse");
		else if (probe(d))
			nr_devs++;
	}
	return nr_devs;
}

/* The nth (from 0) device with this ID, in command-line order. */
struct virtio_dev *virtio_find(uint32_t id, unsigned int nth)
{
	virtio_probe_all();
	for (unsigned int i = 0; i < nr_devs; i++)
		if (devs[i].id == id && nth-- == 0)
			return &devs[i];
	return NULL;
}

/* FAIL <test>: no <what> device, and why an entry was skipped if one was. */
void virtio_fail_missing(const char *test, const char *what)
{
	if (note_why && note_base)
		test_fail(test, "no %s device (skipped 0x%llx: %s)", what,
			  (unsigned long long)note_base, note_why);
	else if (note_why)
		test_fail(test, "no %s device (skipped %s)", what, note_why);
	else
		test_fail(test, "no %s device", what);
}

bool virtio_has(const struct virtio_dev *d, unsigned int feature)
{
	return d->features & (1ULL << feature);
}

bool virtio_needs_reset(const struct virtio_dev *d)
{
	return reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET;
}

/*
 * Sleeps in HLT until done(d) holds or `ms` pass. The 1 ms timer bounds each
 * sleep, so a lost device interrupt only costs time; interrupts are enabled
 * only inside STI; HLT.
 */
static bool wait_until(struct virtio_dev *d, bool (*done)(const struct virtio_dev *d),
		       unsigned int ms)
{
	uint64_t end;
	bool ok;

	if (done(d))
		return true;
	timer_start();
	end = timer_ticks() + ms;
	for (;;) {
		cli();
		ok = done(d);
		if (ok || timer_ticks() >= end)
			break;
		sti_hlt();
	}
	timer_stop();
	return ok;
}

static bool status_zero(const struct virtio_dev *d)
{
	return reg_read(d, VIRTIO_MMIO_STATUS) == 0;
}

/* Writing 0 resets; the device may take time, so wait for it to read 0 (4.2.3.1). */
bool virtio_reset(struct virtio_dev *d)
{
	d->active = false;
	d->driver_ok = false;
	reg_write(d, VIRTIO_MMIO_STATUS, 0);
	return wait_until(d, status_zero, VIRTIO_TIMEOUT_MS);
}

static uint64_t read_features(const struct virtio_dev *d)
{
	uint64_t f;

	reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	f = (uint64_t)reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	reg_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | reg_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

static const char *negotiate(struct virtio_dev *d, uint64_t wanted, uint32_t status)
{
	wanted |= 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_RING_F_INDIRECT_DESC |
		  1ULL << VIRTIO_RING_F_EVENT_IDX;
	d->offered = read_features(d);
	if (!(d->offered & 1ULL << VIRTIO_F_VERSION_1))
		return "the device does not offer VIRTIO_F_VERSION_1";
	d->features = d->offered & wanted;
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->features);
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	reg_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
	reg_write(d, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_FEATURES_OK);
	/* The device clears FEATURES_OK if it cannot work with this subset (3.1.1). */
	if (!(reg_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return "FEATURES_OK did not stick";
	return NULL;
}

static void queue_addr(const struct virtio_dev *d, unsigned int low, const void *p)
{
	uint64_t a = (uint64_t)(uintptr_t)p;

	reg_write(d, low, (uint32_t)a);
	reg_write(d, low + 4, (uint32_t)(a >> 32));
}

_Static_assert(QUEUE_AVAIL >= VIRTQ_BIG_SIZE * sizeof(struct virtq_desc) &&
		       QUEUE_USED >= QUEUE_AVAIL + 6 + 2 * VIRTQ_BIG_SIZE &&
		       QUEUE_INDIRECT >= QUEUE_USED + 6 + 8 * VIRTQ_BIG_SIZE &&
		       QUEUE_INDIRECT + VIRTQ_MAX_CHAIN * sizeof(struct virtq_desc) <= QUEUE_PAGE,
	       "a queue outgrows its page");

/* Queue q in its page (4.2.3.2), of d->queue_cap entries or VIRTQ_MAX_SIZE. */
static const char *setup_queue(struct virtio_dev *d, unsigned int q)
{
	uint8_t *page = queue_pages[d - devs][q];
	struct virtq *vq = &d->vq[q];
	uint32_t max;

	reg_write(d, VIRTIO_MMIO_QUEUE_SEL, q);
	if (reg_read(d, VIRTIO_MMIO_QUEUE_READY))
		return "a queue is ready before setup";
	max = reg_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
	if (max == 0)
		return "a queue is not available (QueueNumMax 0)";
	/* Split queue sizes are powers of two (2.7). */
	vq->size = d->queue_cap ? d->queue_cap : VIRTQ_MAX_SIZE;
	if (vq->size > VIRTQ_BIG_SIZE || (vq->size & (vq->size - 1)))
		return "bad queue size wanted";
	while (vq->size > max)
		vq->size >>= 1;
	/* The rings with their event fields (2.7.6, 2.7.8). */
	memset(page + QUEUE_AVAIL, 0, 6 + 2 * vq->size);
	memset(page + QUEUE_USED, 0, 6 + 8 * vq->size);
	vq->desc = (struct virtq_desc *)(page + QUEUE_DESC);
	vq->avail = (struct virtq_avail *)(page + QUEUE_AVAIL);
	vq->used = (volatile struct virtq_used *)(page + QUEUE_USED);
	vq->indirect = (struct virtq_desc *)(page + QUEUE_INDIRECT);
	vq->last_used = 0;
	reg_write(d, VIRTIO_MMIO_QUEUE_NUM, vq->size);
	queue_addr(d, VIRTIO_MMIO_QUEUE_DESC_LOW, vq->desc);
	queue_addr(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, vq->avail);
	queue_addr(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (const void *)vq->used);
	reg_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return NULL;
}

static uint64_t ioapic_base(void)
{
	static struct madt_info madt __noinit;

	if (!ioapic) {
		ioapic = IOAPIC_DEFAULT_BASE;
		if (acpi_read_madt(&madt) && madt.ioapic_base)
			ioapic = madt.ioapic_base;
	}
	return ioapic;
}

/* The device's line, edge triggered, to this CPU; see virtio_irq(). */
static void route_irq(struct virtio_dev *d)
{
	if (d->irq_routed || d->irq >= IOAPIC_PINS)
		return;
	lapic_init();
	ioapic_route(ioapic_base(), d->irq, VEC_VIRTIO, lapic_id());
	d->irq_routed = true;
}

/*
 * The initialisation of 3.1.1 up to step 7, accepting VERSION_1,
 * INDIRECT_DESC and EVENT_IDX when offered plus the device-specific `wanted`
 * bits, with queues 0..nr_queues-1. Returns NULL, or why the device cannot
 * be used (then its status has FAILED). Buffers made available before
 * virtio_driver_ok() are not notified (3.1.1: no notifications before
 * DRIVER_OK); virtio_driver_ok() sends the notifications they are owed.
 */
const char *virtio_setup(struct virtio_dev *d, uint64_t wanted, unsigned int nr_queues)
{
	uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	const char *err;

	if (nr_queues == 0 || nr_queues > VIRTIO_MAX_QUEUES)
		return "bad queue count";
	if (!virtio_reset(d))
		return "the device did not reset (Status never read 0)";
	d->irqs = 0;
	d->isr_seen = 0;
	reg_write(d, VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	reg_write(d, VIRTIO_MMIO_STATUS, status);
	err = negotiate(d, wanted, status);
	status |= VIRTIO_STATUS_FEATURES_OK;
	for (unsigned int q = 0; !err && q < nr_queues; q++)
		err = setup_queue(d, q);
	if (err) {
		reg_write(d, VIRTIO_MMIO_STATUS, status | VIRTIO_STATUS_FAILED);
		return err;
	}
	d->nr_queues = nr_queues;
	route_irq(d);
	d->active = true;
	return NULL;
}

/* virtio_setup(), then DRIVER_OK (3.1.1 step 8). */
const char *virtio_init_queues(struct virtio_dev *d, uint64_t wanted, unsigned int nr_queues)
{
	const char *err = virtio_setup(d, wanted, nr_queues);

	if (!err)
		virtio_driver_ok(d);
	return err;
}

/* One queue: rng and blk. */
const char *virtio_init(struct virtio_dev *d, uint64_t wanted)
{
	return virtio_init_queues(d, wanted, 1);
}

/* Reset (the device lets go of guest memory) and mask its line. */
void virtio_stop(struct virtio_dev *d)
{
	virtio_reset(d);
	if (d->irq_routed)
		ioapic_mask(ioapic_base(), d->irq);
	d->irq_routed = false;
}

/* Config space: 32-bit fields with 32-bit reads (4.2.2.2). */
uint32_t virtio_config32(const struct virtio_dev *d, unsigned int off)
{
	return reg_read(d, VIRTIO_MMIO_CONFIG + off);
}

/*
 * 64-bit fields are read as two 32-bit halves (4.2.2.2), so retry until
 * ConfigGeneration shows no change happened in between (2.5.1).
 */
uint64_t virtio_config64(const struct virtio_dev *d, unsigned int off)
{
	uint32_t gen, lo, hi;
	unsigned int tries = 0;

	do {
		gen = reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
		lo = virtio_config32(d, off);
		hi = virtio_config32(d, off + 4);
	} while (gen != reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION) && ++tries < 16);
	return (uint64_t)hi << 32 | lo;
}

/*
 * n bytes of 8-bit fields (such as virtio-net's mac), with 8-bit reads
 * (4.2.2.2), retried like virtio_config64().
 */
void virtio_config_bytes(const struct virtio_dev *d, unsigned int off, uint8_t *buf, unsigned int n)
{
	uint32_t gen;
	unsigned int tries = 0;

	do {
		gen = reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
		for (unsigned int i = 0; i < n; i++)
			buf[i] = *(volatile uint8_t *)(uintptr_t)(d->base + VIRTIO_MMIO_CONFIG +
								  off + i);
	} while (gen != reg_read(d, VIRTIO_MMIO_CONFIG_GENERATION) && ++tries < 16);
}

/* After the used ring's last entry: the device's avail_event (2.7.8). */
static volatile uint16_t *avail_event(const struct virtq *vq)
{
	return (volatile uint16_t *)((uintptr_t)vq->used + offsetof(struct virtq_used, ring) +
				     vq->size * sizeof(struct virtq_used_elem));
}

/* vring_need_event() of 2.7.10: has new_idx passed event since old_idx? */
static bool need_event(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * After the avail index moved from old to new_idx: a notification unless the
 * device suppresses it (2.7.13.4).
 */
static void notify(struct virtio_dev *d, unsigned int q, uint16_t old, uint16_t new_idx)
{
	const struct virtq *vq = &d->vq[q];
	bool send;

	virtio_mb(); /* the index before reading the suppression fields (2.7.13.4) */
	if (virtio_has(d, VIRTIO_RING_F_EVENT_IDX))
		send = need_event(*avail_event(vq), new_idx, old);
	else
		send = !(READ_ONCE16(vq->used->flags) & VIRTIO_USED_F_NO_NOTIFY);
	if (send)
		reg_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

/*
 * Sets DRIVER_OK (3.1.1 step 8), then notifies every queue that already has
 * buffers: setup zeroed the avail index, so they are all new to the device.
 */
void virtio_driver_ok(struct virtio_dev *d)
{
	reg_write(d, VIRTIO_MMIO_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
	d->driver_ok = true;
	for (unsigned int q = 0; q < d->nr_queues; q++) {
		uint16_t idx = READ_ONCE16(d->vq[q].avail->idx);

		if (idx)
			notify(d, q, 0, idx);
	}
}

/*
 * Makes the chains at heads[0..n-1] of queue q available, then notifies once
 * unless suppressed (2.7.13), or, before DRIVER_OK, leaves the notification
 * to virtio_driver_ok(). The caller never has more than the queue size
 * outstanding.
 */
void virtio_publish_on(struct virtio_dev *d, unsigned int q, const uint16_t *heads, unsigned int n)
{
	struct virtq *vq = &d->vq[q];
	uint16_t old = vq->avail->idx, new_idx = old + n;

	for (unsigned int i = 0; i < n; i++)
		vq->avail->ring[(uint16_t)(old + i) % vq->size] = heads[i];
	/*
	 * used_event: an interrupt for the very next used entry (2.7.10), or,
	 * for a polling driver, for none: half the index space away.
	 */
	if (virtio_has(d, VIRTIO_RING_F_EVENT_IDX))
		WRITE_ONCE16(vq->avail->ring[vq->size],
			     (uint16_t)(vq->last_used + (d->polled ? 0x8000 : 0)));
	else if (d->polled)
		WRITE_ONCE16(vq->avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT);
	virtio_wmb(); /* descriptors and ring entries before the index (2.7.13.2) */
	WRITE_ONCE16(vq->avail->idx, new_idx);
	if (d->driver_ok)
		notify(d, q, old, new_idx);
}

/* One chain on queue 0. */
void virtio_publish(struct virtio_dev *d, uint16_t head)
{
	virtio_publish_on(d, 0, &head, 1);
}

bool virtio_used_pending(const struct virtio_dev *d, unsigned int q)
{
	return READ_ONCE16(d->vq[q].used->idx) != d->vq[q].last_used;
}

/*
 * The next used entry of queue q, if there is one, consumed. The id and
 * length are the device's word: the caller checks them.
 */
bool virtio_next_used(struct virtio_dev *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct virtq *vq = &d->vq[q];
	volatile struct virtq_used_elem *e;

	if (!virtio_used_pending(d, q))
		return false;
	virtio_rmb(); /* used->idx before the entry it covers (2.7.14) */
	e = &vq->used->ring[vq->last_used % vq->size];
	*id = e->id;
	*len = e->len;
	vq->last_used++;
	return true;
}

static bool isr_clear(const struct virtio_dev *d)
{
	return reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS) == 0;
}

/* Waits, briefly, for the interrupt the device owes (InterruptStatus != 0). */
void virtio_take_irq(struct virtio_dev *d)
{
	if (d->irq_routed)
		wait_until(d, isr_clear, VIRTIO_IRQ_WAIT_MS);
}

static bool used_or_broken(const struct virtio_dev *d)
{
	return virtio_used_pending(d, 0) || virtio_needs_reset(d);
}

/* Waits for the next used entry; it must be `head` (one request in flight). */
const char *virtio_wait_used(struct virtio_dev *d, uint16_t head, uint32_t *len)
{
	uint32_t id;

	virtio_mb(); /* the avail index and the notify before reading used->idx */
	if (!wait_until(d, used_or_broken, VIRTIO_TIMEOUT_MS))
		return "timeout waiting for the used ring";
	if (!virtio_next_used(d, 0, &id, len))
		return "the device set DEVICE_NEEDS_RESET";
	/*
	 * The used entry can be seen before its interrupt is taken; when the
	 * next completion comes first, InterruptStatus never drops and the
	 * edge-triggered pin sees one edge for both. Taking it now gives each
	 * request its own interrupt, so the counts are exact.
	 */
	virtio_take_irq(d);
	if (id != head)
		return "the used ring returned another descriptor";
	return NULL;
}

/*
 * With the timer running (the caller's timer_start()): sleeps in HLT until
 * queue q has a used entry, the device needs a reset, or tick `end`, and
 * says which (NULL: a used entry; `timeout` at the end). The device's
 * interrupt wakes it sooner; the used ring is checked after every wake-up.
 */
const char *virtio_wait_queue(struct virtio_dev *d, unsigned int q, uint64_t end,
			      const char *timeout)
{
	virtio_mb(); /* the avail index and the notify before reading used->idx */
	for (;;) {
		cli();
		if (virtio_used_pending(d, q))
			return NULL;
		if (virtio_needs_reset(d))
			return "the device set DEVICE_NEEDS_RESET";
		if (timer_ticks() >= end)
			return timeout;
		sti_hlt();
	}
}

/* Bounded wait for DEVICE_NEEDS_RESET. */
bool virtio_wait_needs_reset(struct virtio_dev *d)
{
	return wait_until(d, virtio_needs_reset, VIRTIO_TIMEOUT_MS);
}

/*
 * One request: bufs chained from descriptor 0, or, with `indirect` (only
 * when INDIRECT_DESC was negotiated), in the indirect table that descriptor
 * 0 points to (2.7.5.3). Returns NULL and the used length, or an error.
 */
const char *virtio_request(struct virtio_dev *d, const struct virtio_buf *bufs, unsigned int n,
			   bool indirect, uint32_t *len)
{
	struct virtq *vq = &d->vq[0];
	struct virtq_desc *t = indirect ? vq->indirect : vq->desc;

	if (n == 0 || n > VIRTQ_MAX_CHAIN || n > vq->size)
		return "bad request: chain length";
	for (unsigned int i = 0; i < n; i++) {
		bool more = i + 1 < n;

		t[i] = (struct virtq_desc){
			.addr = (uint64_t)(uintptr_t)bufs[i].addr,
			.len = bufs[i].len,
			.flags = (bufs[i].write ? VIRTQ_DESC_F_WRITE : 0) |
				 (more ? VIRTQ_DESC_F_NEXT : 0),
			.next = more ? i + 1 : 0,
		};
	}
	if (indirect)
		vq->desc[0] = (struct virtq_desc){
			.addr = (uint64_t)(uintptr_t)vq->indirect,
			.len = n * sizeof(struct virtq_desc),
			.flags = VIRTQ_DESC_F_INDIRECT,
		};
	virtio_publish(d, 0);
	return virtio_wait_used(d, 0, len);
}

/* VEC_VIRTIO: every active device's InterruptStatus, acknowledged and counted. */
void virtio_irq(void)
{
	for (unsigned int i = 0; i < nr_devs; i++) {
		struct virtio_dev *d = &devs[i];
		uint32_t isr;

		if (!d->active)
			continue;
		isr = reg_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
		if (!isr)
			continue;
		reg_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
		d->isr_seen |= isr;
		d->irqs++;
	}
	lapic_eoi();
}

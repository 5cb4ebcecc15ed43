#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "devices/rtc.h"

#define REG_SEC	    0x00
#define REG_MIN	    0x02
#define REG_HOUR    0x04
#define REG_WDAY    0x06
#define REG_MDAY    0x07
#define REG_MONTH   0x08
#define REG_YEAR    0x09
#define REG_A	    0x0a
#define REG_B	    0x0b
#define REG_C	    0x0c
#define REG_D	    0x0d
#define REG_CENTURY 0x32

#define A_UIP	 0x80
#define B_SET	 0x80
#define B_BINARY 0x04
#define B_24H	 0x02
#define D_VRT	 0x80 /* valid RAM and time */
#define HOUR_PM	 0x80 /* in 12-hour mode */

#define CMOS_SIZE 128

struct rtc {
	pthread_mutex_t lock;
	time_t (*now)(void);
	int64_t offset; /* guest seconds minus host seconds */
	uint8_t index;
	uint8_t cmos[CMOS_SIZE];
};

static time_t rtc_host_now(void)
{
	return time(NULL);
}

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10 + (v & 0x0f);
}

static bool rtc_binary(const struct rtc *r)
{
	return r->cmos[REG_B] & B_BINARY;
}

static uint8_t rtc_encode(const struct rtc *r, unsigned int v)
{
	return rtc_binary(r) ? (uint8_t)v : to_bcd(v);
}

static unsigned int rtc_decode(const struct rtc *r, uint8_t v)
{
	return rtc_binary(r) ? v : from_bcd(v);
}

static void rtc_guest_tm(const struct rtc *r, struct tm *tm)
{
	time_t t = r->now() + r->offset;

	gmtime_r(&t, tm);
}

static uint8_t rtc_encode_hour(const struct rtc *r, int hour)
{
	unsigned int h12;

	if (r->cmos[REG_B] & B_24H)
		return rtc_encode(r, (unsigned int)hour);
	h12 = hour % 12 == 0 ? 12 : (unsigned int)hour % 12;
	return (uint8_t)(rtc_encode(r, h12) | (hour >= 12 ? HOUR_PM : 0));
}

static int rtc_decode_hour(const struct rtc *r, uint8_t v)
{
	unsigned int h;

	if (r->cmos[REG_B] & B_24H)
		return (int)rtc_decode(r, v);
	h = rtc_decode(r, v & ~HOUR_PM) % 12;
	return (int)(h + ((v & HOUR_PM) ? 12 : 0));
}

static uint8_t rtc_time_reg(const struct rtc *r, uint8_t index)
{
	struct tm tm;

	rtc_guest_tm(r, &tm);
	switch (index) {
	case REG_SEC:
		return rtc_encode(r, (unsigned int)tm.tm_sec);
	case REG_MIN:
		return rtc_encode(r, (unsigned int)tm.tm_min);
	case REG_HOUR:
		return rtc_encode_hour(r, tm.tm_hour);
	case REG_WDAY:
		return rtc_encode(r, (unsigned int)tm.tm_wday + 1);
	case REG_MDAY:
		return rtc_encode(r, (unsigned int)tm.tm_mday);
	case REG_MONTH:
		return rtc_encode(r, (unsigned int)tm.tm_mon + 1);
	case REG_YEAR:
		return rtc_encode(r, (unsigned int)(tm.tm_year + 1900) % 100);
	default: /* REG_CENTURY */
		return rtc_encode(r, (unsigned int)(tm.tm_year + 1900) / 100);
	}
}

static bool rtc_is_time_reg(uint8_t index)
{
	return index == REG_SEC || index == REG_MIN || index == REG_HOUR || index == REG_WDAY ||
	       index == REG_MDAY || index == REG_MONTH || index == REG_YEAR || index == REG_CENTURY;
}

/* The guest sets one field of the clock: move the offset so that it reads back. */
static void rtc_set_time_reg(struct rtc *r, uint8_t index, uint8_t val)
{
	struct tm tm;
	int v = index == REG_HOUR ? rtc_decode_hour(r, val) : (int)rtc_decode(r, val);
	time_t t;

	rtc_guest_tm(r, &tm);
	switch (index) {
	case REG_SEC:
		tm.tm_sec = v;
		break;
	case REG_MIN:
		tm.tm_min = v;
		break;
	case REG_HOUR:
		tm.tm_hour = v;
		break;
	case REG_MDAY:
		tm.tm_mday = v;
		break;
	case REG_MONTH:
		tm.tm_mon = v - 1;
		break;
	case REG_YEAR:
		tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + v - 1900;
		break;
	case REG_CENTURY:
		tm.tm_year = v * 100 + (tm.tm_year + 1900) % 100 - 1900;
		break;
	default: /* the weekday follows from the date */
		return;
	}
	t = timegm(&tm);
	if (t != (time_t)-1)
		r->offset = (int64_t)t - (int64_t)r->now();
}

uint8_t rtc_read_reg(struct rtc *r, uint8_t index)
{
	index &= CMOS_SIZE - 1;
	if (rtc_is_time_reg(index))
		return rtc_time_reg(r, index);
	switch (index) {
	case REG_A:
		return r->cmos[REG_A] & ~A_UIP; /* never mid-update: reads are atomic here */
	case REG_C:
		return 0; /* no interrupt flags: no interrupts */
	case REG_D:
		return D_VRT;
	default:
		return r->cmos[index];
	}
}

void rtc_write_reg(struct rtc *r, uint8_t index, uint8_t val)
{
	index &= CMOS_SIZE - 1;
	if (rtc_is_time_reg(index)) {
		rtc_set_time_reg(r, index, val);
		return;
	}
	switch (index) {
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->cmos[index] = val;
		break;
	}
}

static void rtc_bus_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct rtc *r = opaque;
	uint8_t *out = data;

	memset(data, 0xff, len);
	if (len != 1)
		return;
	pthread_mutex_lock(&r->lock);
	*out = off == 0 ? r->index : rtc_read_reg(r, r->index);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_bus_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct rtc *r = opaque;
	uint8_t val = *(const uint8_t *)data;

	if (len != 1)
		return;
	pthread_mutex_lock(&r->lock);
	if (off == 0)
		r->index = val & (CMOS_SIZE - 1); /* bit 7 masks NMIs: nothing to mask here */
	else
		rtc_write_reg(r, r->index, val);
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = {
	.read = rtc_bus_read,
	.write = rtc_bus_write,
};

static void rtc_put16(struct rtc *r, uint8_t index, uint64_t v)
{
	v = MIN(v, 0xffffu);
	r->cmos[index] = (uint8_t)v;
	r->cmos[index + 1] = (uint8_t)(v >> 8);
}

/* Memory sizes where PC firmware keeps them (the layout QEMU and SeaBIOS share). */
static void rtc_init_nvram(struct rtc *r, const struct rtc_config *cfg)
{
	uint64_t ext_kib = cfg->low_ram_end > MIB(1) ? (cfg->low_ram_end - MIB(1)) >> 10 : 0;
	uint64_t above_16m = cfg->low_ram_end > MIB(16) ? (cfg->low_ram_end - MIB(16)) >> 16 : 0;
	uint64_t above_4g = cfg->high_ram_size >> 16;

	r->cmos[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate */
	r->cmos[REG_B] = B_24H;
	rtc_put16(r, 0x15, 640);     /* base memory, KiB */
	rtc_put16(r, 0x17, ext_kib); /* memory above 1 MiB, KiB */
	rtc_put16(r, 0x30, ext_kib);
	rtc_put16(r, 0x34, above_16m); /* memory above 16 MiB, 64 KiB units */
	r->cmos[0x5b] = (uint8_t)above_4g;
	r->cmos[0x5c] = (uint8_t)(above_4g >> 8);
	r->cmos[0x5d] = (uint8_t)(above_4g >> 16);
}

_Static_assert(sizeof(((struct rtc_state *)0)->cmos) == CMOS_SIZE, "rtc state CMOS");

void rtc_save(struct rtc *r, struct rtc_state *st)
{
	pthread_mutex_lock(&r->lock);
	*st = (struct rtc_state){ .offset = r->offset, .index = r->index };
	memcpy(st->cmos, r->cmos, sizeof(st->cmos));
	pthread_mutex_unlock(&r->lock);
}

/* Every byte value is a state the CMOS can hold; the index is masked as on a write. */
void rtc_restore(struct rtc *r, const struct rtc_state *st)
{
	pthread_mutex_lock(&r->lock);
	r->offset = st->offset;
	r->index = st->index & (CMOS_SIZE - 1);
	memcpy(r->cmos, st->cmos, sizeof(r->cmos));
	pthread_mutex_unlock(&r->lock);
}

int rtc_create(struct bus *pio, const struct rtc_config *cfg, struct rtc **out)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int ret;

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	r->now = cfg->now ? cfg->now : rtc_host_now;
	rtc_init_nvram(r, cfg);
	ret = bus_register(pio, 0x70, 2, &rtc_ops, r);
	if (ret < 0) {
		rtc_destroy(r);
		return ret;
	}
	*out = r;
	return 0;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

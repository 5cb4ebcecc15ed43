/*
 * The CMOS real-time clock and NVRAM (Motorola MC146818A) at ports 0x70-0x71.
 * Time is the host's UTC wall clock plus an offset the guest may change by
 * writing the time registers. No periodic, alarm or update interrupts (the
 * DSDT declares no IRQ for it). The NVRAM holds the memory-size bytes PC
 * firmware conventionally keeps there.
 */
#ifndef EMBER_DEVICES_RTC_H
#define EMBER_DEVICES_RTC_H

#include <stdint.h>
#include <time.h>

#include "util/compiler.h"

struct bus;
struct rtc;

struct rtc_config {
	uint64_t low_ram_end;	/* RAM below the MMIO hole, bytes */
	uint64_t high_ram_size; /* RAM above 4 GiB, bytes */
	/* The wall clock; NULL means time(NULL). Lets unit tests fix the time. */
	time_t (*now)(void);
};

int rtc_create(struct bus *pio, const struct rtc_config *cfg, struct rtc **out) __must_check;
void rtc_destroy(struct rtc *r);

/* CMOS contents, the selected index and the guest's clock offset from the host's. */
struct rtc_state {
	int64_t offset;
	uint8_t index;
	uint8_t pad[7];
	uint8_t cmos[128];
};

void rtc_save(struct rtc *r, struct rtc_state *st);
void rtc_restore(struct rtc *r, const struct rtc_state *st);

/* Register interface for unit tests: select a register, then read or write it. */
uint8_t rtc_read_reg(struct rtc *r, uint8_t index);
void rtc_write_reg(struct rtc *r, uint8_t index, uint8_t val);

#endif

#include <time.h>

#include "devices/boot_timer.h"
#include "util/log.h"

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void boot_timer_init(struct boot_timer *t)
{
	t->start_ns = clock_ns(CLOCK_MONOTONIC);
	t->start_cpu_ns = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
}

static void boot_timer_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)data)[i] = 0xff;
}

/* Firecracker's line, so that tools which read it work unchanged. */
static void boot_timer_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	const struct boot_timer *t = opaque;
	uint64_t us, cpu_us;

	if (off != 0 || len != 1 || *(const uint8_t *)data != BOOT_TIMER_MAGIC)
		return;
	us = (clock_ns(CLOCK_MONOTONIC) - t->start_ns) / 1000;
	cpu_us = (clock_ns(CLOCK_PROCESS_CPUTIME_ID) - t->start_cpu_ns) / 1000;
	log_info("Guest-boot-time = %6llu us %llu ms, %6llu CPU us %llu CPU ms",
		 (unsigned long long)us, (unsigned long long)(us / 1000),
		 (unsigned long long)cpu_us, (unsigned long long)(cpu_us / 1000));
}

const struct bus_ops boot_timer_ops = {
	.read = boot_timer_read,
	.write = boot_timer_write,
};

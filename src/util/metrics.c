#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/file.h"
#include "util/metrics.h"

struct ember_metrics ember_metrics;

/* The values the last line reported; guarded by the lock, as is the fd. */
static uint64_t reported[sizeof(struct ember_metrics) / sizeof(uint64_t)];
static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static int metrics_fd = -1;

void metrics_set_fd(int fd)
{
	pthread_mutex_lock(&metrics_lock);
	if (metrics_fd >= 0)
		close(metrics_fd);
	metrics_fd = fd;
	pthread_mutex_unlock(&metrics_lock);
}

int metrics_open(const char *path)
{
	int fd = file_open_sink(path);

	if (fd < 0)
		return fd;
	metrics_set_fd(fd);
	return 0;
}

bool metrics_enabled(void)
{
	bool on;

	pthread_mutex_lock(&metrics_lock);
	on = metrics_fd >= 0;
	pthread_mutex_unlock(&metrics_lock);
	return on;
}

static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static size_t append(char *buf, size_t cap, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (n >= cap)
		return n;
	va_start(ap, fmt);
	r = vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
	return r < 0 ? n : n + (size_t)r;
}

/* Formats against `base` (the values last reported), leaving the new values in `now_out`. */
static size_t metrics_format_locked(char *buf, size_t cap, uint64_t utc_ms, const uint64_t *base,
				    uint64_t *now_out)
{
	const char *group = "";
	size_t n = append(buf, cap, 0, "{\"utc_timestamp_ms\": %" PRIu64, utc_ms);
	unsigned int i = 0;

#define METRICS_EMIT(g, name)                                                                      \
	do {                                                                                       \
		uint64_t now =                                                                     \
			atomic_load_explicit(&ember_metrics.g##_##name, memory_order_relaxed);     \
		n = append(buf, cap, n, "%s\"%s\": %" PRIu64,                                      \
			   strcmp(group, #g) ? (group[0] ? "}, \"" #g "\": {" : ", \"" #g "\": {") \
					     : ", ",                                               \
			   #name, now - base[i]);                                                  \
		now_out[i++] = now;                                                                \
		group = #g;                                                                        \
	} while (0);
	METRICS_FIELDS(METRICS_EMIT)
#undef METRICS_EMIT
	return append(buf, cap, n, "}}\n");
}

size_t metrics_format(char *buf, size_t cap, uint64_t utc_ms)
{
	size_t n;

	pthread_mutex_lock(&metrics_lock);
	n = metrics_format_locked(buf, cap, utc_ms, reported, reported);
	pthread_mutex_unlock(&metrics_lock);
	return n;
}

int metrics_flush(void)
{
	uint64_t now[ARRAY_SIZE(reported)];
	struct timespec ts;
	char line[4096];
	ssize_t w;
	size_t n;
	int ret = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	pthread_mutex_lock(&metrics_lock);
	if (metrics_fd < 0) {
		pthread_mutex_unlock(&metrics_lock);
		return -ENODEV;
	}
	n = metrics_format_locked(line, sizeof(line),
				  (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000,
				  reported, now);
	/* One write per line: a reader of the FIFO never sees half of one. */
	if (n >= sizeof(line))
		ret = -E2BIG;
	else if ((w = write(metrics_fd, line, n)) != (ssize_t)n)
		ret = w < 0 ? -errno : -EAGAIN;
	/* Counts written are reported; after a failed line they go into the next one. */
	if (ret == 0)
		memcpy(reported, now, sizeof(reported));
	pthread_mutex_unlock(&metrics_lock);
	return ret;
}

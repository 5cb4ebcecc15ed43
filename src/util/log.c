#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

static _Atomic enum log_level current_level = LOG_WARN;
static atomic_int log_fd = STDERR_FILENO;

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_set_fd(int fd)
{
	return atomic_exchange(&log_fd, fd);
}

void log_set_level(enum log_level level)
{
	atomic_store(&current_level, level);
}

enum log_level log_get_level(void)
{
	return atomic_load(&current_level);
}

int log_parse_level(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char buf[1024];
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int n;

	int fd = atomic_load(&log_fd);

	if (level > atomic_load(&current_level) || fd < 0)
		return;
	n = snprintf(buf, sizeof(buf), "ember: %s", level == LOG_WARN ? "warning: " : "");
	len = n > 0 ? (size_t)n : 0;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, sizeof(buf) - len - 1, fmt, ap);
	va_end(ap);
	if (n > 0)
		len += MIN((size_t)n, sizeof(buf) - len - 2);
	buf[len++] = '\n';
	/* One write per line so that threads never interleave inside a message. */
	if (write(fd, buf, len) < 0) {
		/* Nowhere left to report it. */
	}
	errno = saved_errno;
}

bool log_limit_allow(struct log_limit *lim, unsigned int burst)
{
	unsigned int seen = atomic_load_explicit(&lim->count, memory_order_relaxed);

	while (seen < burst) {
		if (atomic_compare_exchange_weak(&lim->count, &seen, seen + 1))
			return true;
	}
	return false;
}

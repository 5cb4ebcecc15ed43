#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

static _Atomic enum log_level current_level = LOG_WARN;
static atomic_int log_fd = STDERR_FILENO;
static atomic_bool log_muted;
static char log_id[65] = "anonymous-instance";
/* Kept here: asking the kernel (prctl) is not allowed once a thread is filtered. */
static _Thread_local char log_thread[16] = "main";

static const char *const level_names[] = {
	[LOG_ERROR] = "error",
	[LOG_WARN] = "warn",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

int log_redirect(int fd)
{
	int cur = atomic_load(&log_fd);

	/*
	 * Another thread may be writing to the current fd right now: never
	 * close it, put the new file on top of its number instead.
	 */
	if (cur == STDERR_FILENO) {
		atomic_store(&log_fd, fd);
		return 0;
	}
	if (dup3(fd, cur, O_CLOEXEC) < 0)
		return -errno;
	close(fd);
	return 0;
}

void log_mute(bool mute)
{
	atomic_store(&log_muted, mute);
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

void log_name_thread(const char *name)
{
	snprintf(log_thread, sizeof(log_thread), "%s", name);
	pthread_setname_np(pthread_self(), log_thread);
}

void log_set_id(const char *id)
{
	snprintf(log_id, sizeof(log_id), "%s", id);
}

/* "vsock" from ".../src/virtio/vsock.c". */
static void log_module(const char *file, char *out, size_t cap)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	const char *dot = strrchr(base, '.');

	snprintf(out, cap, "%.*s", (int)(dot ? (size_t)(dot - base) : strlen(base)), base);
}

/* The prefix of a log file's line: time, instance, thread, level, module. */
static int log_file_prefix(char *buf, size_t cap, enum log_level level, const char *file)
{
	static const char *const upper[] = { "ERROR", "WARN", "INFO", "DEBUG" };
	char module[32], stamp[32];
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	log_module(file, module, sizeof(module));
	return snprintf(buf, cap, "%s.%06ldZ [%s:%s] %s %s: ", stamp, ts.tv_nsec / 1000, log_id,
			log_thread, upper[level], module);
}

void log_msg_src(enum log_level level, const char *file, const char *fmt, ...)
{
	char buf[1024];
	int saved_errno = errno;
	size_t len;
	va_list ap;
	int n, fd = atomic_load(&log_fd);

	if (level > atomic_load(&current_level) || atomic_load(&log_muted))
		return;
	if (fd == STDERR_FILENO)
		n = snprintf(buf, sizeof(buf), "ember: %s", level == LOG_WARN ? "warning: " : "");
	else
		n = log_file_prefix(buf, sizeof(buf), level, file);
	len = n > 0 ? MIN((size_t)n, sizeof(buf) - 2) : 0;
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

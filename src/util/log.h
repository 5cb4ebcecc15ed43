/*
 * Logging to stderr with a level filter. Every message is one line prefixed
 * with "ember: " and, by convention, the subsystem ("serial: ...").
 * Thread-safe: each message is written with a single write(2).
 *
 * LOG_ONCE and LOG_RATELIMIT are for anything a guest can trigger, so that a
 * hostile guest cannot flood the host's logs.
 */
#ifndef EMBER_UTIL_LOG_H
#define EMBER_UTIL_LOG_H

#include <stdatomic.h>
#include <stdbool.h>

#include "util/compiler.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_set_level(enum log_level level);
/* Messages go to `fd` (taken over) from now on: 0 or -errno. */
int log_redirect(int fd) __must_check;
/* No messages at all (the API's level Off), or again. */
void log_mute(bool mute);
enum log_level log_get_level(void);
int log_parse_level(const char *name, enum log_level *out) __must_check;
/* Names the calling thread (ps, /proc, log files): "vcpu0", "virtio-blk", "api". */
void log_name_thread(const char *name);

/* The instance id a log file's lines carry (the API's --id). */
void log_set_id(const char *id);

/*
 * On stderr a line is "ember: [warning: ]MESSAGE". In a log file (--log-path,
 * PUT /logger) it carries the time (UTC, microseconds), the instance id, the
 * thread, the level and the module (the source file): "2026-11-25T17:53:03.123456Z
 * [vm1:vcpu0] WARN exit: MESSAGE".
 */
void log_msg_src(enum log_level level, const char *file, const char *fmt, ...) __printf(3, 4);
#define log_msg(level, ...) log_msg_src((level), __FILE__, __VA_ARGS__)

#define log_err(...)   log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/* Allows at most `burst` messages from one call site, then stays silent. */
struct log_limit {
	atomic_uint count;
};

bool log_limit_allow(struct log_limit *lim, unsigned int burst);

#define LOG_RATELIMIT(level, burst, ...)                                                           \
	do {                                                                                       \
		static struct log_limit lim__;                                                     \
		if (log_limit_allow(&lim__, (burst)))                                              \
			log_msg((level), __VA_ARGS__);                                             \
	} while (0)

#define LOG_ONCE(level, ...) LOG_RATELIMIT(level, 1, __VA_ARGS__)

#endif

/*
 * A device's rate limit: a byte bucket and an operation bucket (token
 * buckets holding one second's worth) and a timerfd that says when a
 * refused operation may go. Not thread-safe: the device's lock covers it.
 */
#ifndef EMBER_UTIL_RATELIMIT_H
#define EMBER_UTIL_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/tokenbucket.h"

struct rate_limit {
	struct token_bucket bytes;
	struct token_bucket ops;
	uint64_t (*clock_ns)(void);
	int timer_fd; /* readable when a refused operation may be tried again */
	bool waiting;
};

uint64_t monotonic_ns(void);

/* 0 for a rate means no limit; `clock_ns` NULL means monotonic_ns. */
int rate_limit_init(struct rate_limit *rl, uint64_t bytes_per_s, uint64_t ops_per_s,
		    uint64_t (*clock_ns)(void)) __must_check;
void rate_limit_fini(struct rate_limit *rl);

/* Charges one operation of `bytes`; false (timer armed, `waiting` set) when it must wait. */
bool rate_limit_admit(struct rate_limit *rl, uint64_t bytes);

/* The timer fired (or the device reset): stop waiting. */
void rate_limit_clear(struct rate_limit *rl);

#endif

/*
 * A token bucket for rate limits: `rate` tokens per second, at most one
 * second's worth saved up. Time is passed in (nanoseconds of a monotonic
 * clock) so tests can drive it.
 */
#ifndef EMBER_UTIL_TOKENBUCKET_H
#define EMBER_UTIL_TOKENBUCKET_H

#include <stdbool.h>
#include <stdint.h>

#define TB_MAX_RATE 10000000000ULL /* 10^10 per second keeps the arithmetic in 64 bits */

struct token_bucket {
	uint64_t rate; /* tokens per second; 0: no limit */
	uint64_t tokens;
	uint64_t last_ns;
};

/* A full bucket; `rate` 0 means unlimited, at most TB_MAX_RATE. */
void tb_init(struct token_bucket *tb, uint64_t rate, uint64_t now_ns);

/*
 * Nanoseconds until `n` tokens are there (0: now). A request bigger than the
 * bucket waits for a full bucket, so it is never refused for good.
 */
uint64_t tb_wait_ns(struct token_bucket *tb, uint64_t n, uint64_t now_ns);

/* Takes `n` tokens (after tb_wait_ns() said 0; a full bucket covers any n). */
void tb_take(struct token_bucket *tb, uint64_t n);

#endif

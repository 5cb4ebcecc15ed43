#include "util/compiler.h"
#include "util/tokenbucket.h"

#define NS_PER_S 1000000000ULL

void tb_init(struct token_bucket *tb, uint64_t rate, uint64_t now_ns)
{
	tb->rate = MIN(rate, TB_MAX_RATE);
	tb->tokens = tb->rate;
	tb->last_ns = now_ns;
}

static void tb_refill(struct token_bucket *tb, uint64_t now_ns)
{
	uint64_t elapsed = now_ns > tb->last_ns ? now_ns - tb->last_ns : 0;

	/* A second refills everything: past that, no need to multiply (or overflow). */
	if (elapsed >= NS_PER_S)
		tb->tokens = tb->rate;
	else
		tb->tokens = MIN(tb->rate, tb->tokens + elapsed * tb->rate / NS_PER_S);
	/* Keep the remainder of a partial token: advance only by what it bought. */
	if (elapsed >= NS_PER_S || tb->tokens == tb->rate)
		tb->last_ns = now_ns;
	else
		tb->last_ns += elapsed * tb->rate / NS_PER_S * NS_PER_S / tb->rate;
}

uint64_t tb_wait_ns(struct token_bucket *tb, uint64_t n, uint64_t now_ns)
{
	uint64_t need, deadline;

	if (!tb->rate)
		return 0;
	tb_refill(tb, now_ns);
	n = MIN(n, tb->rate);
	if (tb->tokens >= n)
		return 0;
	need = n - tb->tokens;
	/* last_ns carries the part of a token already earned. */
	deadline = tb->last_ns + (need * NS_PER_S + tb->rate - 1) / tb->rate;
	return deadline > now_ns ? deadline - now_ns : 1;
}

void tb_take(struct token_bucket *tb, uint64_t n)
{
	if (!tb->rate)
		return;
	tb->tokens -= MIN(n, tb->tokens);
}

#include <errno.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "util/ratelimit.h"

uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

int rate_limit_init(struct rate_limit *rl, uint64_t bytes_per_s, uint64_t ops_per_s,
		    uint64_t (*clock_ns)(void))
{
	rl->clock_ns = clock_ns ? clock_ns : monotonic_ns;
	tb_init(&rl->bytes, bytes_per_s, rl->clock_ns());
	tb_init(&rl->ops, ops_per_s, rl->clock_ns());
	rl->waiting = false;
	rl->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	return rl->timer_fd < 0 ? -errno : 0;
}

void rate_limit_fini(struct rate_limit *rl)
{
	if (rl->timer_fd >= 0)
		close(rl->timer_fd);
	rl->timer_fd = -1;
}

bool rate_limit_admit(struct rate_limit *rl, uint64_t bytes)
{
	struct itimerspec its = { 0 };
	uint64_t now, wait;

	/* Unlimited (the usual case): no clock read on every request and frame. */
	if (!rl->bytes.rate && !rl->ops.rate)
		return true;
	now = rl->clock_ns();
	wait = MAX(tb_wait_ns(&rl->bytes, bytes, now), tb_wait_ns(&rl->ops, 1, now));
	if (wait == 0) {
		tb_take(&rl->bytes, bytes);
		tb_take(&rl->ops, 1);
		return true;
	}
	its.it_value.tv_sec = (time_t)(wait / 1000000000ULL);
	its.it_value.tv_nsec = (long)(wait % 1000000000ULL);
	if (timerfd_settime(rl->timer_fd, 0, &its, NULL) < 0)
		return true; /* cannot wait: better unlimited than stalled */
	rl->waiting = true;
	return false;
}

void rate_limit_clear(struct rate_limit *rl)
{
	struct itimerspec off = { 0 };
	uint64_t v;

	timerfd_settime(rl->timer_fd, 0, &off, NULL);
	if (read(rl->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: it had not fired. */
	}
	rl->waiting = false;
}

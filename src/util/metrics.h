/*
 * Counters for the Firecracker-style metrics: relaxed atomics bumped where
 * things happen (any thread), written as one JSON line of what changed
 * since the last line (FlushMetrics, a timer, the end of the VM) to the
 * file or FIFO PUT /metrics named.
 */
#ifndef EMBER_UTIL_METRICS_H
#define EMBER_UTIL_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

/* Each group becomes a JSON object, each counter a field (the names below). */
#define METRICS_FIELDS(X)                                                                          \
	X(vcpu, exit_io)                                                                           \
	X(vcpu, exit_mmio)                                                                         \
	X(vcpu, exit_hlt)                                                                          \
	X(vcpu, failures)                                                                          \
	X(block, read_bytes)                                                                       \
	X(block, write_bytes)                                                                      \
	X(block, read_count)                                                                       \
	X(block, write_count)                                                                      \
	X(block, flush_count)                                                                      \
	X(block, io_errors)                                                                        \
	X(net, rx_bytes)                                                                           \
	X(net, tx_bytes)                                                                           \
	X(net, rx_frames)                                                                          \
	X(net, tx_frames)                                                                          \
	X(net, tx_dropped)                                                                         \
	X(vsock, rx_bytes)                                                                         \
	X(vsock, tx_bytes)                                                                         \
	X(vsock, connections)                                                                      \
	X(vsock, resets)                                                                           \
	X(api_server, requests)                                                                    \
	X(api_server, faults)                                                                      \
	X(virtio, needs_reset)

struct ember_metrics {
#define METRICS_DECLARE(group, name) _Atomic uint64_t group##_##name;
	METRICS_FIELDS(METRICS_DECLARE)
#undef METRICS_DECLARE
};

extern struct ember_metrics ember_metrics;

#define METRIC_ADD(group, name, n)                                                                 \
	atomic_fetch_add_explicit(&ember_metrics.group##_##name, (uint64_t)(n),                    \
				  memory_order_relaxed)
#define METRIC_INC(group, name) METRIC_ADD(group, name, 1)

/* Where the lines go (the fd is taken over; -1: nowhere). */
void metrics_set_fd(int fd);
/* The lines go to the existing file or FIFO at `path` (file_open_sink): 0 or -errno. */
int metrics_open(const char *path) __must_check;
bool metrics_enabled(void);

/*
 * Formats one line, {"utc_timestamp_ms": T, "<group>": {"<name>": delta,
 * ...}, ...}, of the changes since the last line, into buf; returns its
 * length (the next line starts from these values).
 */
size_t metrics_format(char *buf, size_t cap, uint64_t utc_ms);

/* Writes that line to the metrics fd: 0, -errno, or -ENODEV without one. */
int metrics_flush(void) __must_check;

#endif

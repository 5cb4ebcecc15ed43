/*
 * A small epoll loop for one thread. Handlers embed struct ev_handler and
 * are found again through epoll's data.ptr (kvmtool's epoll.c and
 * Firecracker's event subscribers work the same way).
 */
#ifndef EMBER_UTIL_EVLOOP_H
#define EMBER_UTIL_EVLOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"

struct ev_handler {
	int fd;
	void (*cb)(struct ev_handler *h, uint32_t events);
};

struct evloop {
	int epfd;
	/*
	 * Optional: runs after each batch of handlers. A handler may end an
	 * object whose event is still waiting later in the same batch; such
	 * objects are freed here, once no event can name them.
	 */
	void (*after_batch)(struct evloop *l);
};

int evloop_init(struct evloop *l) __must_check;
void evloop_fini(struct evloop *l);

/* -EPERM for fds epoll cannot watch (regular files). */
int evloop_add(struct evloop *l, struct ev_handler *h, uint32_t events) __must_check;
int evloop_del(struct evloop *l, struct ev_handler *h);
/* Changes the events watched (0: none, the fd stays registered). */
int evloop_mod(struct evloop *l, struct ev_handler *h, uint32_t events) __must_check;

/* Waits up to `timeout_ms` (-1: forever) and runs the ready handlers. */
int evloop_run_once(struct evloop *l, int timeout_ms) __must_check;

#endif

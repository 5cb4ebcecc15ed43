/*
 * The REST API's routes, Firecracker-compatible (see README, "The API"):
 * one request in (method, path, body), one reply out (status, JSON body).
 * No I/O here: the HTTP server (api/server.h) feeds it, and so can unit
 * tests and fuzzers. Requests are handled one at a time, on one thread.
 *
 * Before InstanceStart the requests edit the VM description; InstanceStart
 * and the runtime actions go to the main thread through `call` and wait for
 * their outcome.
 */
#ifndef EMBER_API_API_H
#define EMBER_API_API_H

#include <stddef.h>

#include "config/vm_config.h"
#include "util/err.h"
#include "vmm/control.h"

#define API_MAX_BODY (64 * 1024)

enum api_state { API_NOT_STARTED, API_RUNNING, API_PAUSED };

struct api {
	struct vm_config *cfg; /* borrowed; read by the main thread only during a start */
	const char *id;
	enum api_state state;
	/* Runs a command on the main thread (ctl_call in ember, a fake in tests). */
	int (*call)(void *ctx, enum ctl_cmd cmd, const void *arg, struct err *err);
	/* PUT /logger: where and what to log; NULL refuses it. */
	int (*logger)(void *ctx, const char *path, const char *level, struct err *err);
	void *ctx;
};

struct api_reply {
	unsigned int status;
	char *body; /* malloc'd JSON, or NULL for 204 No Content */
};

void api_handle(struct api *a, const char *method, const char *path, const char *body, size_t len,
		struct api_reply *r);

/* Firecracker's logger levels (Error, Warning, Info, Debug, Trace, Off) as ember's. */
int api_log_level(const char *name, int *level);

#endif

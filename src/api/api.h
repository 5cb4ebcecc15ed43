/*
 * The REST API's routes, Firecracker-compatible (see README, "The API"):
 * one request in (method, path, body), one reply out (status, JSON body).
 * No I/O here: the HTTP server (api/server.h) feeds it, and so can unit
 * tests and fuzzers. Requests are handled one at a time, on one thread.
 *
 * Before InstanceStart the requests edit the VM description; InstanceStart
 * and the runtime actions go to the main thread through `call` and wait for
 * their outcome. A migration is posted instead (`post`): its request is
 * parked (api_handle's reply has status 0), the HTTP server goes on serving
 * GET / and GET /ember/migration (its progress), and once `wake` says the
 * main thread answered, api_finish() gives the parked request its reply.
 */
#ifndef EMBER_API_API_H
#define EMBER_API_API_H

#include <stddef.h>

#include "config/vm_config.h"
#include "util/err.h"
#include "vmm/control.h"
#include "vmm/migration.h"

#define API_MAX_BODY (64 * 1024)

enum api_state { API_NOT_STARTED, API_RUNNING, API_PAUSED };

#define API_URL_MAX 256

/* The migration posted to the main thread (cmd set), or the last one (cmd CTL_NONE). */
struct api_migration {
	enum ctl_cmd cmd; /* CTL_MIGRATE_SEND or _RECEIVE while posted */
	bool sending;	  /* of the last one */
	bool ran;
	int result; /* how the last one ended */
	char error[256];
	char url[API_URL_MAX];
	uint64_t start_ns;
	struct ctl_migration rq;
	struct json_object
		*body; /* the request, held while it runs: rq's overrides are its strings */
	struct migration_stats st;
};

struct api {
	struct vm_config *cfg; /* borrowed; read by the main thread only during a start */
	const char *id;
	enum api_state state;
	/* Runs a command on the main thread (ctl_call in ember, a fake in tests). */
	int (*call)(void *ctx, enum ctl_cmd cmd, const void *arg, struct err *err);
	/* Posts one without waiting, and collects its result once `done` ran (ctl_post). */
	int (*post)(void *ctx, enum ctl_cmd cmd, const void *arg, ctl_done_fn done, void *cookie,
		    struct err *err);
	int (*collect)(void *ctx, struct err *err);
	/* The HTTP server's: wakes the parked request (called from the main thread). */
	ctl_done_fn wake;
	void *wake_cookie;
	struct api_migration mig;
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

/* Whether a request is parked, waiting for the main thread. */
bool api_parked(const struct api *a);

/* After `wake`: the parked request's reply. */
void api_finish(struct api *a, struct api_reply *r);

/* Firecracker's logger levels (Error, Warning, Info, Debug, Trace, Off) as ember's. */
int api_log_level(const char *name, int *level);

#endif

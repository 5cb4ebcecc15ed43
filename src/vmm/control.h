/*
 * The line from the API thread into the main thread, which owns the VM: the
 * API posts one command at a time and waits for its result; the main thread
 * sees the command through an eventfd in its loop, carries it out, replies.
 * Once closed (the VMM is going away) every call fails with -ESHUTDOWN, so
 * the API thread never waits on a main thread that will not answer.
 *
 * A long command (a migration) is posted instead: the API thread goes on
 * serving other requests (progress, GET /) and collects the result when the
 * main thread's answer wakes it. While a posted command is outstanding,
 * every other command is refused with -EBUSY rather than waited for.
 */
#ifndef EMBER_VMM_CONTROL_H
#define EMBER_VMM_CONTROL_H

#include <pthread.h>
#include <stdbool.h>

#include "util/compiler.h"
#include "util/err.h"

enum ctl_cmd {
	CTL_NONE,
	CTL_START,
	CTL_PAUSE,
	CTL_RESUME,
	CTL_CTRL_ALT_DEL,
	CTL_POWER_BUTTON,
	CTL_SNAPSHOT_CREATE, /* arg: struct ctl_snapshot */
	CTL_SNAPSHOT_LOAD,   /* arg: struct ctl_snapshot */
	CTL_MIGRATE_SEND,    /* arg: struct ctl_migration */
	CTL_MIGRATE_RECEIVE, /* arg: struct ctl_migration */
};

struct migration_stats;

/* Load or receive: the tap that interface `iface_id` of the VM uses from now on. */
struct ctl_net_override {
	const char *iface_id;
	const char *host_dev_name;
};

#define CTL_MAX_NET_OVERRIDES 16

/* Firecracker's network_overrides and vsock_override (none: 0, NULL). */
struct ctl_overrides {
	struct ctl_net_override net[CTL_MAX_NET_OVERRIDES];
	unsigned int nr_net;
	const char *vsock_uds;
};

/* The migration commands' argument; `stats` (send) is filled on the way back. */
struct ctl_migration {
	const char *url;
	unsigned int timeout_s;	 /* receive: how long to wait for the sender */
	struct ctl_overrides ov; /* receive: changes to the sender's description */
	struct migration_stats *stats;
};

/* The snapshot commands' argument, the API thread's until the command returns. */
struct ctl_snapshot {
	const char *snapshot_path;
	const char *mem_path;
	bool resume;		 /* load: run the VM at once rather than leave it paused */
	bool diff;		 /* create: only the pages written since the last snapshot */
	bool track_dirty;	 /* load: track written pages for diff snapshots */
	struct ctl_overrides ov; /* load: changes to the snapshot's description */
};

/* Called once a posted command has its answer (or the VMM is going away). */
typedef void (*ctl_done_fn)(void *cookie);

struct vmm_control {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int efd; /* readable while a command waits for the main thread */
	enum ctl_cmd pending;
	const void *arg;
	bool answered;
	bool closed;
	bool posted; /* pending came from ctl_post: nobody waits, done() tells */
	ctl_done_fn done;
	void *cookie;
	int result;
	struct err err;
};

int ctl_init(struct vmm_control *c) __must_check;
void ctl_fini(struct vmm_control *c);

/* API thread: runs `cmd` on the main thread and waits; 0 or -errno (*err says why). */
int ctl_call(struct vmm_control *c, enum ctl_cmd cmd, const void *arg,
	     struct err *err) __must_check;

/*
 * API thread: hands `cmd` to the main thread without waiting; `done(cookie)`
 * runs (on the main thread, outside any lock) once it is answered, and then
 * ctl_collect() gives the result. -EBUSY while another command is pending.
 */
int ctl_post(struct vmm_control *c, enum ctl_cmd cmd, const void *arg, ctl_done_fn done,
	     void *cookie, struct err *err) __must_check;

/* API thread, after done(): the posted command's 0 or -errno; frees the line. */
int ctl_collect(struct vmm_control *c, struct err *err) __must_check;

/* Main thread: the command waiting, if any (CTL_NONE otherwise), and its argument. */
enum ctl_cmd ctl_take(struct vmm_control *c, const void **arg);
void ctl_reply(struct vmm_control *c, int result, const struct err *err);

/* Main thread: no more commands; a waiting one gets -ESHUTDOWN. */
void ctl_close(struct vmm_control *c);

#endif

/*
 * The ember process behind a running VM: started by emberd (its child), or
 * found again after emberd restarted (then not its child: its exit status
 * cannot be read, the last line ember logs tells how the VM ended).
 */
#ifndef EMBER_MANAGER_VMPROC_H
#define EMBER_MANAGER_VMPROC_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

struct vmproc {
	pid_t pid;
	int pidfd;	     /* readable once the process ended */
	uint64_t start_time; /* /proc/PID/stat's start time: tells a reused pid apart */
	bool child;
};

/* Runs in emberd on the new process before it may exec (to put it in its cgroups). */
typedef int (*vmproc_prepare_fn)(pid_t pid, void *ctx, struct err *err);

/*
 * Starts argv[0] in its own session with stdin `in` and stdout `out` (its
 * console: one end of emberd's socket pair, both) and stderr appended to
 * `log_path`; `prepare` (may be NULL) runs first, and its failure ends the
 * process before it execs.
 */
int vmproc_spawn(char *const argv[], int in, int out, const char *log_path,
		 vmproc_prepare_fn prepare, void *ctx, struct vmproc *p,
		 struct err *err) __must_check;

/* The process `pid` if it still is the one that started at `start_time`. */
int vmproc_adopt(pid_t pid, uint64_t start_time, struct vmproc *p) __must_check;

/*
 * Once the pidfd is readable: the child's exit status (>= 0), or -1 for a
 * process that is not our child. Closes the pidfd.
 */
int vmproc_reap(struct vmproc *p);

/* Whether the process has ended (its pidfd is readable). */
bool vmproc_ended(const struct vmproc *p);

/* SIGTERM, up to `timeout_ms` for it to end, then SIGKILL; reaps it. Returns as vmproc_reap. */
int vmproc_stop(struct vmproc *p, int timeout_ms);

/*
 * Until the API at `sock` answers GET / with Running or Paused (or at all,
 * with `any`), or the process ends.
 */
int vmproc_wait_api(const struct vmproc *p, const char *sock, int timeout_ms, bool any,
		    struct err *err) __must_check;

/* The vCPU threads: [{"vcpu": N, "tid": T, "cpu": C, "affinity": "0-3"}] (C: where it last ran). */
struct json_object *vmproc_vcpus(pid_t pid);

/* The last (at most `cap` - 1) bytes of a log after byte `from`, NUL-terminated; or -errno. */
ssize_t vmproc_log_tail(const char *log_path, uint64_t from, char *buf, size_t cap);

/*
 * How ember said its VM ended: the last "the VM stopped: X" in its log
 * after byte `from` (where the log stood when it started), or NULL.
 */
char *vmproc_logged_end(const char *log_path, uint64_t from);

#endif

/*
 * Puts the jailed process in a cgroup of its own, <parent>/<id>, under each
 * controller its settings name (cgroup v1: one hierarchy per controller, as
 * on hybrid hosts) or in the unified hierarchy (v2, controllers enabled on
 * the way down), writes the settings, then moves the process in.
 */
#ifndef EMBER_JAILER_CGROUP_H
#define EMBER_JAILER_CGROUP_H

#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

#define CGROUP_MAX_SETTINGS 32
#define CGROUP_MAX_DIRS	    CGROUP_MAX_SETTINGS

struct cgroup_setting {
	const char *file; /* "memory.limit_in_bytes" */
	const char *value;
};

struct cgroup_jail {
	int version; /* 1 or 2 */
	const char *parent;
	const char *id;
	struct cgroup_setting settings[CGROUP_MAX_SETTINGS];
	unsigned int nr_settings;
	char *created[CGROUP_MAX_DIRS]; /* directories made here, removed on failure */
	unsigned int nr_created;
	char *joined[CGROUP_MAX_DIRS]; /* the cgroups `pid` was moved into */
	unsigned int nr_joined;
};

/* Parses "FILE=VALUE" (the controller is FILE's prefix before the first '.'). */
int cgroup_add_setting(struct cgroup_jail *cg, const char *spec, struct err *err) __must_check;

/* Creates, configures and joins the cgroups; on failure undoes what it made. */
int cgroup_apply(struct cgroup_jail *cg, pid_t pid, struct err *err) __must_check;

/* Moves this process back to the root cgroups (so that its own can go). */
void cgroup_leave(struct cgroup_jail *cg);

/* Removes the directories this jail made (its process must have left them). */
void cgroup_undo(struct cgroup_jail *cg);
void cgroup_fini(struct cgroup_jail *cg);

#endif

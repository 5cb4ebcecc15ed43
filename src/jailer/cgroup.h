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

/* 2 when the unified hierarchy has the controllers, 1 on a v1 (or hybrid) host, -ENOENT. */
int cgroup_version(void);

/* Writes FILE=VALUE ("memory.max", "4294967296") into <mount>/<parent>/<id> as it is now. */
int cgroup_write(int version, const char *parent, const char *id, const char *file,
		 const char *value, struct err *err) __must_check;

/* Removes <mount>/<parent>/<id> from every hierarchy (those holding a process stay). */
void cgroup_remove(int version, const char *parent, const char *id);

/* Moves this process back to the root cgroups (so that its own can go). */
void cgroup_leave(struct cgroup_jail *cg);

/* Removes the directories this jail made (its process must have left them). */
void cgroup_undo(struct cgroup_jail *cg);
void cgroup_fini(struct cgroup_jail *cg);

#endif

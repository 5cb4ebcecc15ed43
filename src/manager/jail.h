/*
 * A VM run under ember-jailer: its definition says "jail": {"uid": U,
 * "gid": G}. The jailer makes DIR/jail/ember/NAME/root and runs ember there
 * as U, in API mode; emberd then puts the VM's files in (kernel and initrd
 * linked or copied, disks hard-linked: ember sees them under fixed names)
 * and sends the configuration through the API, as Firecracker's own
 * orchestrators do. emberd reaches the API through the run directory's
 * api.sock, a symlink to the socket in the jail.
 *
 * The jail belongs to U, who may be hostile once a guest ran: emberd never
 * follows a link in there (files are made with O_EXCL and O_NOFOLLOW, the
 * tree is removed through directory fds).
 */
#ifndef EMBER_MANAGER_JAIL_H
#define EMBER_MANAGER_JAIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

struct jail_ids {
	uid_t uid;
	gid_t gid;
};

/* The definition's "jail", if any, checked. */
int jail_check(struct json_object *def, struct err *err) __must_check;
bool jail_of(struct json_object *def, struct jail_ids *ids);

/* DIR/jail (the jailer's --chroot-base-dir) and a VM's root in it (malloc'd). */
char *jail_base(const char *dir);
char *jail_root(const char *dir, const char *name);

/* Removes a VM's jail (DIR/jail/ember/NAME) and all in it, following no link. */
void jail_remove(const char *dir, const char *name);

/* Where a jailed ember finds its vsock's socket (inside its jail). */
#define JAIL_VSOCK_PATH "/vsock.sock"

/*
 * Puts the files of ember's config `cfg` into the jail at `root` and gives
 * back the config as ember sees it there (*jailed, new). Disks must be on the
 * jail's filesystem (they are linked, never copied) and are handed to the
 * jail's uid when written (or not readable by it).
 */
int jail_fill(const char *root, struct json_object *cfg, const struct jail_ids *ids,
	      struct json_object **jailed, struct err *err) __must_check;

/* Links `path` (emberd's, e.g. a snapshot) into the jail as /`name`, for the uid to read. */
int jail_link_in(const char *root, const char *path, const char *name, const struct jail_ids *ids,
		 struct err *err) __must_check;

/* The jail's file /`name` (ember made it: a snapshot) moved out to `dest`, if a plain file. */
int jail_take_out(const char *root, const char *name, const char *dest,
		  struct err *err) __must_check;

#endif

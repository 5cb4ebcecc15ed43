/*
 * emberd's state directory:
 *
 *   DIR/vms/NAME.json            a VM's definition
 *   DIR/run/NAME/                while it runs: api.sock, console.sock,
 *                                config.json (what ember boots from),
 *                                console.log (its serial port), ember.log,
 *                                state.json (pid, start time)
 *   DIR/snapshots/NAME/SNAP.*    snapshots (.snap and .mem)
 *   DIR/jail/ember/NAME/root     a jailed VM's root while it runs (jail.h)
 *   DIR/events.log               every event, one JSON line each
 *
 * Files are replaced by writing a temporary file beside them, syncing it
 * and renaming it over: a crash leaves the old or the new version, never a
 * torn one.
 */
#ifndef EMBER_MANAGER_STORE_H
#define EMBER_MANAGER_STORE_H

#include <json-c/json.h>
#include <stddef.h>

#include "util/compiler.h"
#include "util/err.h"

/* Creates DIR (mode 0700) and its subdirectories as needed. */
int store_init(const char *dir, struct err *err) __must_check;

/* `path` replaced by `data` atomically (mode 0600). */
int store_write(const char *path, const char *data, size_t len, struct err *err) __must_check;
int store_write_json(const char *path, struct json_object *o, struct err *err) __must_check;

/* A JSON object file of at most 1 MiB. */
int store_read_json(const char *path, struct json_object **out, struct err *err) __must_check;

/* "DIR/vms/NAME.json" and friends (malloc'd). */
char *store_path(const char *dir, const char *fmt, ...) __printf(2, 3);

/* Removes a directory and the plain files in it (no recursion). */
void store_remove_dir(const char *path);

#endif

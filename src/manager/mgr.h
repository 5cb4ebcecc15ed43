/*
 * What emberd and emberctl share: the protocol on emberd's Unix sockets.
 *
 * One JSON object per line each way. A request is {"cmd": VERB, "args":
 * {...}}; its reply {"ok": true, "result": ...} or {"ok": false, "error":
 * "why"}. After a successful "events" request the connection carries event
 * lines, {"event": "started", "vm": NAME, "time_ms": ...}, until the client
 * hangs up. Lines are at most MGR_MAX_LINE bytes.
 */
#ifndef EMBER_MANAGER_MGR_H
#define EMBER_MANAGER_MGR_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/compiler.h"

#define MGR_MAX_LINE  (1u << 20)
#define MGR_NAME_MAX  64
#define MGR_SOCKET    "/run/ember/emberd.sock"
#define MGR_RO_SOCKET "/run/ember/emberd-ro.sock"
#define MGR_STATE_DIR "/var/lib/ember"

/* Bytes read from a socket, cut into lines. */
struct linebuf {
	char *buf;
	size_t len, cap;
	size_t taken; /* the line lb_next() returned, with its newline */
};

/* Reads what `fd` has: >0 bytes read, 0 at end of stream, -errno (-EAGAIN: nothing now). */
ssize_t lb_fill(struct linebuf *lb, int fd);
/*
 * The next complete line, NUL-terminated in place (valid until the next
 * call), or NULL. -E2BIG in *err when a line grew past MGR_MAX_LINE.
 */
char *lb_next(struct linebuf *lb, int *err);
/* Drops the line lb_next() returned. */
void lb_consume(struct linebuf *lb);
void lb_fini(struct linebuf *lb);

/* Writes `o` as one line (the whole of it, retrying short writes). */
int mgr_write_line(int fd, struct json_object *o) __must_check;

/* A VM or network name: 1 to 64 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool mgr_name_ok(const char *name);

/* The monotonic clock in milliseconds. */
uint64_t mgr_mono_ms(void);

#endif

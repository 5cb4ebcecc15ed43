/*
 * Listening Unix sockets at a path (the API socket, vsock's host side).
 *
 * A socket file left at the path by a process that died is stale: nobody
 * accepts on it, so it is removed and the path taken. A socket some live
 * process listens on, or a path that is not a socket, is an error: ember
 * never takes another program's socket or removes a file it did not make.
 */
#ifndef EMBER_UTIL_UNIXSOCK_H
#define EMBER_UTIL_UNIXSOCK_H

#include <sys/types.h>

#include "util/compiler.h"
#include "util/err.h"

/*
 * A non-blocking, close-on-exec listening socket at `path` with file mode
 * `mode` (0600 for the API). Returns the fd or -errno (*err says why).
 */
int unix_listen(const char *path, int backlog, mode_t mode, struct err *err) __must_check;

/* A close-on-exec stream socket (SOCK_NONBLOCK in `flags` if wanted) connected to `path`; or
 * -errno. */
int unix_connect(const char *path, int flags) __must_check;

#endif

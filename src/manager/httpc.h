/*
 * The smallest HTTP/1.1 client: one request to an ember's API socket, the
 * connection closed after the reply ("Connection: close"), so the reply is
 * everything up to the end of the stream (at most 1 MiB).
 */
#ifndef EMBER_MANAGER_HTTPC_H
#define EMBER_MANAGER_HTTPC_H

#include "util/compiler.h"

/*
 * Returns the reply's status (100-599) with its body in *reply (malloc'd,
 * NUL-terminated, empty when there was none), or -errno.
 */
int httpc_call(const char *sock, const char *method, const char *path, const char *body,
	       char **reply, int timeout_s) __must_check;

#endif

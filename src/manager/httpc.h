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

/*
 * The same in two steps, for an answer that comes much later (a migration):
 * httpc_send() returns the connection with the request written (socket
 * timeouts of `timeout_s`), httpc_receive() reads the reply once the
 * connection is readable and closes it.
 */
int httpc_send(const char *sock, const char *method, const char *path, const char *body,
	       int timeout_s) __must_check;
int httpc_receive(int fd, char **reply) __must_check;

#endif

/*
 * HTTP/1.1 on the API's Unix socket, served by libmicrohttpd on its own
 * thread, one request at a time, each handed whole to api_handle(). Bodies
 * over API_MAX_BODY are refused (413) without being kept.
 */
#ifndef EMBER_API_SERVER_H
#define EMBER_API_SERVER_H

#include "api/api.h"
#include "util/compiler.h"
#include "util/err.h"

struct api_server;

/* Serves `api` on the listening socket `fd` (taken over). */
int api_server_start(struct api *api, int fd, struct api_server **out,
		     struct err *err) __must_check;
/* Stops the thread after the request in progress, closes the socket. */
void api_server_stop(struct api_server *s);

#endif

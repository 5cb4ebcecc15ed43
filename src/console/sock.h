/*
 * ember's console on a Unix socket (--console-sock PATH, an ember
 * extension). The guest's console is ember's stdin and stdout; a client
 * that connects to PATH becomes both, replacing the one before (the newest
 * wins: a manager that restarted must get its console back even if ember
 * has not yet noticed that the old connection died). When a client hangs
 * up, stdin and stdout become /dev/null until the next one: the guest's
 * output is dropped meanwhile, and it gets no input. So the console lives
 * as long as ember, not as long as whoever watches it.
 */
#ifndef EMBER_CONSOLE_SOCK_H
#define EMBER_CONSOLE_SOCK_H

#include <stdbool.h>

#include "util/compiler.h"
#include "util/err.h"

struct consock {
	int listen_fd;	   /* -1: no console socket */
	int null_fd;	   /* /dev/null: the console between clients */
	int in_fd, out_fd; /* where a client goes: stdin and stdout */
	bool client;	   /* in_fd and out_fd are a client's connection */
};

/* Not listening: what consock_close() may be called on. */
void consock_init(struct consock *s, int in_fd, int out_fd);

/*
 * Listens at `path` (mode 0600; a stale socket there is replaced). When
 * in_fd and out_fd already are one socket (a manager's socketpair), that
 * is the first client.
 */
int consock_open(struct consock *s, const char *path, struct err *err) __must_check;

/* A client is waiting: its connection becomes in_fd and out_fd. 0 or -errno. */
int consock_accept(struct consock *s) __must_check;

/* The client hung up: in_fd and out_fd are /dev/null until the next one. */
void consock_hangup(struct consock *s);

/* Stops listening and removes the socket at `path` (which consock_open made). */
void consock_close(struct consock *s, const char *path);

#endif

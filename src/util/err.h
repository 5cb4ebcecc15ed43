/*
 * A one-line error message for the caller to print. Parsers and loaders fill
 * it where they know the precise reason ("segment 2 ends beyond guest RAM"),
 * return -errno, and leave the printing to `main`, so that a bad input gives
 * exactly one clear line.
 */
#ifndef EMBER_UTIL_ERR_H
#define EMBER_UTIL_ERR_H

#include "util/compiler.h"

struct err {
	char msg[256];
};

/* Formats the message (first one wins) and returns `code` (a -errno). */
int err_set(struct err *e, int code, const char *fmt, ...) __printf(3, 4);

/* Puts context in front of the message: "kernel 'x': " + "truncated header". */
void err_prefix(struct err *e, const char *fmt, ...) __printf(2, 3);

#endif

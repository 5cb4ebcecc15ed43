/*
 * Building the guest kernel's command line: the user's text plus what ember
 * appends (device announcements), within the limit the kernel declares.
 */
#ifndef EMBER_CONFIG_CMDLINE_H
#define EMBER_CONFIG_CMDLINE_H

#include <stddef.h>

#include "util/compiler.h"

struct cmdline {
	char *buf;
	size_t len; /* without the terminating NUL */
	size_t cap;
};

void cmdline_init(struct cmdline *cl);
void cmdline_fini(struct cmdline *cl);

/* Appends `word` separated by one space. -EINVAL for control characters. */
int cmdline_append(struct cmdline *cl, const char *word) __must_check;

/* The text, never NULL. */
const char *cmdline_str(const struct cmdline *cl);

#endif

/*
 * The user's terminal as the guest's serial console: raw mode while the VM
 * runs (so keys such as Ctrl-C reach the guest), restored afterwards, and an
 * escape prefix, Ctrl-A, for commands to ember itself (as in QEMU):
 *   Ctrl-A x   quit ember
 *   Ctrl-A a   send a Ctrl-A to the guest (Ctrl-A Ctrl-A does too)
 *   Ctrl-A h   show this help
 */
#ifndef EMBER_CONSOLE_TERM_H
#define EMBER_CONSOLE_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>

#include "util/compiler.h"

#define TERM_ESCAPE 0x01 /* Ctrl-A */

struct term {
	int fd; /* a duplicate of the terminal's fd (-1: not a terminal), for the restore */
	bool raw;
	bool escape; /* the escape key was the last key */
	struct termios saved;
};

enum term_action { TERM_NONE, TERM_QUIT, TERM_HELP };

/* Puts a terminal fd in raw mode; does nothing (returns 0) when fd is not a TTY. */
int term_init(struct term *t, int fd) __must_check;
/* The terminal as it was, even if the fd given to term_init() now is another file. */
void term_restore(struct term *t);

/*
 * Strips escape sequences from `in`, copying what goes to the guest into
 * `out` (at least `len` bytes); returns the count and sets *action.
 */
size_t term_filter(struct term *t, const uint8_t *in, size_t len, uint8_t *out,
		   enum term_action *action);

extern const char term_help[];

#endif

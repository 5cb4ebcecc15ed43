/*
 * The files a dynamically linked program needs to start: its interpreter
 * (PT_INTERP) and the shared libraries it names (DT_NEEDED), recursively,
 * found in the standard library directories. The jailer copies them into
 * the chroot next to the program.
 */
#ifndef EMBER_JAILER_ELFDEPS_H
#define EMBER_JAILER_ELFDEPS_H

#include "util/compiler.h"
#include "util/err.h"

#define ELFDEPS_MAX 64

struct elfdeps {
	char *paths[ELFDEPS_MAX]; /* absolute host paths, the interpreter first */
	unsigned int count;
};

/* Fills `out` for the ELF program at `path`; a static program needs nothing. */
int elfdeps_resolve(const char *path, struct elfdeps *out, struct err *err) __must_check;
void elfdeps_free(struct elfdeps *d);

#endif

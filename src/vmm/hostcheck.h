/*
 * `ember host-check`: whether this host can run ember, one line per check,
 * PASS / WARN / FAIL with the reason (in the spirit of virt-host-validate).
 */
#ifndef EMBER_VMM_HOSTCHECK_H
#define EMBER_VMM_HOSTCHECK_H

#include <stdio.h>

/* Prints the report to `out`; returns the number of FAIL lines. */
int host_check(FILE *out);

#endif

/*
 * seccomp-bpf filters, one per kind of thread, each allowing exactly the
 * system calls that thread makes once the VM runs (and, at level 2, only
 * the ioctl requests it issues and the socket families it opens, and no
 * memory mapped or made executable). Anything else kills the whole process; the
 * kernel's audit log names the call. A thread installs its own filter (a
 * filter binds the thread that loads it and the threads it creates):
 *
 *   vCPU threads    before their first KVM_RUN
 *   device threads  before they serve a queue
 *   the API thread  before it handles its first request
 *   the main thread once the VM has started
 */
#ifndef EMBER_SANDBOX_SECCOMP_H
#define EMBER_SANDBOX_SECCOMP_H

#include "util/compiler.h"
#include "util/err.h"

enum sc_role { SC_MAIN, SC_VCPU, SC_DEVICE, SC_API, SC_ROLES };

/* 0: no filters; 1: system calls; 2 (ember's default): and their arguments (see above). */
#define SC_LEVEL_MAX 2
void seccomp_set_level(int level);
int seccomp_get_level(void);

/* Installs `role`'s filter on the calling thread (nothing at level 0). */
int seccomp_apply(enum sc_role role, struct err *err) __must_check;

/* How many system calls `role` may make (for SECURITY.md and the tests). */
unsigned int seccomp_count(enum sc_role role);
/* How many ioctl requests `role` may make at level 2 (0: no ioctl at all). */
unsigned int seccomp_ioctl_count(enum sc_role role);
const char *seccomp_role_name(enum sc_role role);

#endif

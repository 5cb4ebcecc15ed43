/*
 * Running one VM to its end from the main thread: KVM, the VM, the console
 * (stdin to the UART, terminal mode), signals, and the control loop that
 * waits for the VM to stop. The vCPUs run on their own threads.
 */
#ifndef EMBER_VMM_VMM_H
#define EMBER_VMM_VMM_H

#include <stdbool.h>

#include "config/vm_config.h"
#include "console/sock.h"
#include "kvm/vm.h"
#include "util/compiler.h"
#include "util/err.h"

struct vmm_result {
	enum vm_stop_reason reason;
	int signal;    /* VM_STOP_SIGNAL: which one */
	char msg[512]; /* VM_STOP_ERROR: what happened */
};

/*
 * Boots the VM described by `cfg` and runs it until it stops, its console
 * on stdin and stdout, and on `con`'s socket when it listens. Returns 0 once
 * the VM ran (see *res for how it ended) or -errno when it could not start
 * (see *err).
 */
int vmm_run(const struct vm_config *cfg, struct consock *con, struct vmm_result *res,
	    struct err *err) __must_check;

struct vmm_control;

/*
 * API mode: takes the stop signals at once, then carries out the API's
 * commands (vmm/control.h) from `ctl` on this thread: InstanceStart builds
 * and boots the VM from `cfg` (which the API thread fills before it), or at
 * once when `start_now`; then pause, resume, Ctrl-Alt-Del until the VM
 * stops. A snapshot load replaces `cfg` with the snapshot's description.
 * Returns as vmm_run(); `ctl` is closed on the way out.
 */
int vmm_serve(struct vm_config *cfg, struct vmm_control *ctl, struct consock *con, bool start_now,
	      struct vmm_result *res, struct err *err) __must_check;

#endif

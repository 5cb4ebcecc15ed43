/*
 * Snapshots of a whole VM: the state file (snapshot/snapfile.h: the VM's
 * description, vCPUs, interrupt controllers, devices) and the memory file
 * (guest RAM byte for byte, zero pages left as holes). A restore builds the
 * VM from the description in the state file, maps the memory file
 * copy-on-write, and puts the state back.
 */
#ifndef EMBER_VMM_SNAPSHOT_H
#define EMBER_VMM_SNAPSHOT_H

#include "config/vm_config.h"
#include "kvm/vm.h"
#include "snapshot/snapfile.h"
#include "util/compiler.h"
#include "util/err.h"
#include "vmm/control.h"

/*
 * Writes both files of a paused VM (vCPUs and device threads parked). Each
 * is written under a temporary name and renamed into place at the end, so a
 * failure leaves any earlier files at those paths as they were.
 */
int snapshot_create(struct vm *vm, const struct vm_config *cfg, const struct ctl_snapshot *rq,
		    struct err *err) __must_check;

/* The state file's records (everything but RAM) of a paused VM, for snapshots and migration. */
int snapshot_collect(struct vm *vm, const struct vm_config *cfg, struct snapw *w,
		     struct err *err) __must_check;

/*
 * Reads and checks the state file and fills the empty `cfg` with the VM
 * description it holds; `r` keeps the rest for snapshot_restore().
 */
int snapshot_read(const char *path, struct snapr *r, struct vm_config *cfg,
		  struct err *err) __must_check;

/* The VM description as JSON text (malloc'd), and back into an empty `cfg`. */
char *snapshot_description(const struct vm_config *cfg);
int snapshot_parse_description(const char *text, size_t len, struct vm_config *cfg,
			       struct err *err) __must_check;

/* Whether a 4 KiB page of guest RAM holds only zeros (memory files and migration skip those). */
bool snapshot_page_is_zero(const uint8_t *p);

/* Opens the memory file for vm_create(): its fd, or -errno with *err set. */
int snapshot_open_memory(const char *path, struct err *err) __must_check;

/*
 * Applies a diff snapshot's memory file to the memory file of the snapshot
 * before it (Firecracker's rebase-snap): the diff's data (not its holes)
 * is copied over `base`, which then is the diff snapshot's full memory.
 */
int snapshot_rebase(const char *base, const char *diff, struct err *err) __must_check;

/* Puts the state back into a VM built from the description (vCPUs not started). */
int snapshot_restore(struct vm *vm, const struct snapr *r, struct err *err) __must_check;

#endif

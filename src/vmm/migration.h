/*
 * Live migration between two ember processes (an ember extension of the
 * API, as Cloud Hypervisor offers it), over a Unix socket or TCP.
 *
 * The sender copies guest RAM while the guest runs, then in rounds the pages
 * written meanwhile (KVM's dirty log for the vCPUs, gmem's for the devices),
 * until few are left; then it pauses the VM, sends the last pages and the
 * state a snapshot would hold, and waits for the receiver to say the VM runs
 * there. Until that answer the source VM is intact: any failure resumes it.
 *
 * The stream, little-endian: messages of { u32 type, u32 zero, u64 length,
 * payload }. HELLO (magic "EMBERMIG", version, architecture), CONFIG (the
 * VM description, JSON), PAGES (u64 first page, then whole 4 KiB pages),
 * STATE (a snapshot container, CRC-checked), DONE; the receiver answers ACK
 * (u32 status: 0, or an errno with a message). The receiver checks every
 * length and page number against the VM it builds.
 */
#ifndef EMBER_VMM_MIGRATION_H
#define EMBER_VMM_MIGRATION_H

#include <stdint.h>

#include "config/vm_config.h"
#include "kvm/vm.h"
#include "snapshot/snapfile.h"
#include "util/compiler.h"
#include "util/err.h"

enum migration_phase {
	MIG_PHASE_NONE,
	MIG_PHASE_LISTENING, /* receiver: waiting for the sender */
	MIG_PHASE_COPYING,   /* RAM going over while the guest runs */
	MIG_PHASE_PAUSED,    /* sender: the last pages and the state, the VM paused */
	MIG_PHASE_ENDED,
};

/*
 * A migration's figures, updated as it goes: the API thread reads them
 * while the main thread migrates, hence atomics. The caller zeroes them first.
 */
struct migration_stats {
	_Atomic int phase;	      /* enum migration_phase */
	_Atomic uint64_t ram_bytes;   /* the VM's RAM */
	_Atomic uint64_t bytes;	      /* page data sent or received so far */
	_Atomic unsigned int rounds;  /* copy rounds while the guest ran */
	_Atomic uint64_t dirty_pages; /* written during the last round: to send next */
	_Atomic uint64_t last_pages;  /* pages sent with the VM paused */
	_Atomic uint64_t total_ms;    /* when it ended */
	_Atomic uint64_t downtime_ms; /* from the pause to the receiver's answer */
};

/*
 * A migration's connection, and an fd that ends every wait on it once
 * readable: ember's signalfd, so that a stop signal (SIGTERM...) ends a
 * migration at once instead of waiting for it. -1: nothing stops it.
 */
struct migration_link {
	int fd;
	int stop_fd;
};

/* How the sender pauses and resumes the whole VM (vCPUs and devices). */
struct migration_vm_ops {
	int (*pause)(void *ctx);
	void (*resume)(void *ctx);
	/*
	 * Lets go (true) or takes back what only one process can hold (disk
	 * locks, a vsock's socket path or CID), so that a receiver on this host
	 * can take them.
	 */
	int (*handover)(void *ctx, bool release);
	/* Stops (true) or restarts device writes to guest memory that escape the dirty log. */
	void (*hold_writes)(void *ctx, bool hold);
	void *ctx;
	int stop_fd; /* see struct migration_link */
};

/*
 * Sends the VM to `url` ("unix:PATH" or "tcp:ADDRESS:PORT", a numeric IPv4
 * or [IPv6] address). Returns 0 once the receiver runs it (the caller then
 * ends this VM), or -errno with the VM running here as before (-EINTR: a
 * stop signal came, which the caller still has to take).
 */
int migration_send(struct vm *vm, const struct vm_config *cfg, const char *url,
		   const struct migration_vm_ops *ops, struct migration_stats *st,
		   struct err *err) __must_check;

/* What migration_receive() got: the VM's description, its RAM, its state. */
struct migration_incoming {
	struct migration_link link; /* the sender's connection, for the answer */
	struct vm_config cfg;
	struct vm_ram ram;
	struct snapr state;
};

/*
 * Listens on `url`, takes one sender (within `timeout_s`) and receives a
 * whole VM, unless `stop_fd` (see struct migration_link) becomes readable
 * first. On success the caller builds and starts it, then answers with
 * migration_answer() and migration_incoming_fini().
 */
int migration_receive(const char *url, unsigned int timeout_s, int stop_fd,
		      struct migration_incoming *in, struct migration_stats *st,
		      struct err *err) __must_check;
void migration_answer(struct migration_incoming *in, int status, const char *msg);
void migration_incoming_fini(struct migration_incoming *in);

#endif

/*
 * emberd's state, shared by its event loop (emberd.c) and its commands and
 * VMs (commands.c).
 */
#ifndef EMBER_MANAGER_EMBERD_H
#define EMBER_MANAGER_EMBERD_H

#include <json-c/json.h>
#include <stdbool.h>

#include "manager/mgr.h"
#include "manager/vmproc.h"
#include "util/err.h"
#include "util/evloop.h"

enum mvm_state { MVM_SHUTOFF, MVM_RUNNING, MVM_PAUSED, MVM_CRASHED };

/* emberd_command's return when the reply comes later, through emberd_reply(). */
#define EMBERD_LATER 1

struct mvm;
struct client;

/*
 * A request to a VM's ember whose answer comes much later (a migration
 * sent or received, a snapshot written), and the client waiting for it.
 */
enum job_kind { JOB_SEND, JOB_RECEIVE, JOB_SNAPSHOT };

struct mvm_job {
	struct ev_handler h; /* the request's connection: readable once ember answered */
	struct mvm *m;
	struct client *waiter; /* NULL once it hung up */
	enum job_kind kind;
	char arg[256]; /* the URL, or the snapshot's name */
	bool resume;   /* a snapshot of a running VM: resume it after */
	uint64_t started_ms;
};

/* A defined VM, and its ember process while it runs. */
struct mvm {
	struct mvm *next;
	struct emberd *d;
	char name[MGR_NAME_MAX + 1];
	struct json_object *def; /* as stored in vms/NAME.json */
	enum mvm_state state;
	struct vmproc proc;
	struct ev_handler exit_h; /* the process's pidfd */
	bool stopping;		  /* destroyed or migrated: its end is no crash */
	const char *stop_event;	  /* the event its end gives ("destroyed", "migrated") */
	uint64_t started_ms;
	uint64_t log_from;	 /* ember.log's size when this process started */
	struct ev_handler con_h; /* emberd's end of the console; fd -1 without one */
	int con_log;		 /* console.log */
	struct client *attached; /* the client on the console, if any */
	struct mvm_job *job;	 /* a migration or snapshot under way */
};

/* A defined network. */
struct mnet {
	struct mnet *next;
	char name[MGR_NAME_MAX + 1];
	struct json_object *def;
};

struct client {
	struct client *next;
	struct emberd *d;
	struct ev_handler h;
	struct linebuf lb;
	bool ro;	     /* came in on the read-only socket */
	bool events;	     /* subscribed: gets event lines */
	struct mvm *console; /* attached: raw bytes both ways from now on */
	struct mvm *waits;   /* for that VM's job: its reply comes later */
	bool dead;
};

struct emberd {
	char *dir;
	char *ember;  /* the ember binary */
	char *jailer; /* ember-jailer, for VMs with "jail" */
	char *rw_path, *ro_path;
	int lock_fd;
	int events_fd;
	struct evloop loop;
	struct ev_handler rw_h, ro_h, sig_h;
	struct client *clients;
	struct mvm *vms;
	struct mnet *nets;
	bool quit;
};

/* Runs one request; *result (may stay NULL) is the reply's "result". */
int emberd_command(struct emberd *d, struct client *c, const char *cmd, struct json_object *args,
		   struct json_object **result, struct err *err) __must_check;

/* The reply to a request answered with EMBERD_LATER; the client's next requests follow. */
void emberd_reply(struct client *c, int ret, struct json_object *result, const struct err *err);

/* A request's string argument `key`, or NULL when absent or not a string. */
const char *emberd_arg_string(struct json_object *args, const char *key);

/* Reads the definitions and finds the VMs that still run. */
int emberd_load_vms(struct emberd *d, struct err *err) __must_check;
void emberd_autostart(struct emberd *d);
/* Lets go of the VMs without stopping them. */
void emberd_forget_vms(struct emberd *d);

/* Networks (netcmds.c). */
int emberd_net_command(struct emberd *d, const char *cmd, struct json_object *args,
		       struct json_object **out, struct err *err) __must_check;
struct mnet *emberd_net_find(struct emberd *d, const char *name);
int emberd_net_start(struct emberd *d, struct mnet *n, struct err *err) __must_check;
int emberd_load_nets(struct emberd *d, struct err *err) __must_check;
void emberd_autostart_nets(struct emberd *d);
void emberd_forget_nets(struct emberd *d);

/*
 * A VM's console (console.c): a socket pair, one end (*peer) ember's stdin
 * and stdout, its output to console.log (from its start) and a client.
 */
int console_open(struct mvm *m, const char *log_path, int *peer, struct err *err) __must_check;
/* After emberd restarted: the console back from ember's console socket, its log appended to. */
int console_reconnect(struct mvm *m, const char *sock, const char *log_path,
		      struct err *err) __must_check;
void console_close(struct mvm *m);
int console_attach(struct mvm *m, struct client *c, struct err *err) __must_check;
void console_input(struct client *c, const char *data, size_t len);
void console_detach(struct client *c);

/* VMs (commands.c), for migrate.c. */
bool mvm_active(const struct mvm *m);
const char *mvm_state_name(const struct mvm *m);
char *mvm_run_path(const struct mvm *m, const char *file);
int mvm_api(struct mvm *m, const char *method, const char *path, const char *body,
	    struct json_object **out, struct err *err) __must_check;
/*
 * An incoming migration ended with `ret`: the VM runs, pinned (0), or its
 * ember is stopped (-errno, *err says why).
 */
int mvm_incoming_ended(struct mvm *m, int ret, struct err *err);
/* A snapshot job ended with `ret`: moved out of a jail, the VM resumed, announced. */
int mvm_snapshot_ended(struct mvm *m, const char *name, bool resume, int ret, struct err *err);

/*
 * Jobs (job.c): PUT `path` with `body` to the VM's ember, answered later;
 * the client `c` (may be NULL) gets its reply then, from the end callback
 * of the job's kind. Once started, the command returns EMBERD_LATER.
 */
int emberd_job_start(struct mvm *m, struct client *c, enum job_kind kind, const char *arg,
		     const char *path, const char *body, struct err *err) __must_check;
/* info's "migration" (ember's progress) or "snapshot" (its name and age) while one runs. */
void emberd_job_info(struct mvm *m, struct json_object *info);
/* A VM given up (emberd ending) while its job runs: nobody hears of it. */
void emberd_job_forget(struct mvm *m);

/* Migration (migrate.c): `migrate`, the receiving side's request, and their ends. */
int emberd_migrate(struct mvm *m, struct client *c, struct json_object *args,
		   struct err *err) __must_check;
/* Whether `url` can carry VM `m` (its form; a jailed VM's ember sees no host Unix socket). */
int emberd_migration_url_check(struct mvm *m, const char *url, struct err *err) __must_check;
/* Receives the VM over `url`, waiting up to `timeout_s` for the sender. */
int emberd_migrate_in(struct mvm *m, struct client *c, const char *url, int timeout_s,
		      struct err *err) __must_check;
int emberd_migration_ended(struct mvm *m, bool sent, const char *url, int ret, struct err *err);

/* Tells subscribed clients and events.log. */
void emberd_event(struct emberd *d, const char *event, const char *vm, const char *detail);

#endif

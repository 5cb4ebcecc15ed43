/*
 * emberd's VMs and the commands on them. A definition is ember's config
 * file (Firecracker's format) plus "name" and "autostart"; emberd boots it
 * by handing the config part to `ember --config-file`, and drives the running
 * VM through ember's API socket.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/vm_json.h"
#include "manager/emberd.h"
#include "manager/httpc.h"
#include "manager/jail.h"
#include "manager/limits.h"
#include "manager/network.h"
#include "manager/store.h"
#include "util/log.h"

#define START_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS	 5000
#define API_TIMEOUT_S	 30

static const char *const state_names[] = {
	[MVM_SHUTOFF] = "shut off",
	[MVM_RUNNING] = "running",
	[MVM_PAUSED] = "paused",
	[MVM_CRASHED] = "crashed",
};

static struct mvm *mvm_find(struct emberd *d, const char *name)
{
	for (struct mvm *m = d->vms; m; m = m->next)
		if (strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

bool mvm_active(const struct mvm *m)
{
	return m->state == MVM_RUNNING || m->state == MVM_PAUSED;
}

const char *mvm_state_name(const struct mvm *m)
{
	return state_names[m->state];
}

/* "DIR/run/NAME/FILE" */
static char *run_path(const struct mvm *m, const char *file)
{
	return store_path(m->d->dir, "run/%s%s%s", m->name, file ? "/" : "", file ? file : "");
}

char *mvm_run_path(const struct mvm *m, const char *file)
{
	return run_path(m, file);
}

/* --- definitions -------------------------------------------------------------- */

/* The manager's own keys; the rest is ember's config file. */
static bool manager_key(const char *key)
{
	return !strcmp(key, "name") || !strcmp(key, "autostart") || !strcmp(key, "limits") ||
	       !strcmp(key, "vcpu_pinning") || !strcmp(key, "network") || !strcmp(key, "jail");
}

static struct json_object *ember_config(struct json_object *def)
{
	struct json_object *cfg = json_object_new_object();

	json_object_object_foreach(def, key, val)
	{
		if (!manager_key(key))
			json_object_object_add(cfg, key, json_object_get(val));
	}
	return cfg;
}

static int no_logger_here(const char *key, struct json_object *o, void *ctx, struct err *err)
{
	return err_set(err, -EINVAL, "'%s' is emberd's to set (see the VM's run directory)", key);
}

static int check_def(struct json_object *def, struct err *err)
{
	struct json_object *name, *cfg, *net;
	struct vm_config vc;
	int ret;

	if (!json_object_is_type(def, json_type_object))
		return err_set(err, -EINVAL, "a definition is a JSON object");
	if (!json_object_object_get_ex(def, "name", &name) ||
	    !json_object_is_type(name, json_type_string) ||
	    !mgr_name_ok(json_object_get_string(name)))
		return err_set(err, -EINVAL,
			       "'name' must be 1 to 64 of letters, digits, '_', '.' and '-'");
	if (json_object_object_get(def, "autostart") &&
	    !json_object_is_type(json_object_object_get(def, "autostart"), json_type_boolean))
		return err_set(err, -EINVAL, "'autostart' must be a boolean");
	net = json_object_object_get(def, "network");
	if (net && (!json_object_is_type(net, json_type_string) ||
		    !mgr_name_ok(json_object_get_string(net))))
		return err_set(err, -EINVAL, "'network' must be the name of a network");
	ret = limits_check(def, err);
	if (ret == 0)
		ret = jail_check(def, err);
	if (ret < 0) {
		err_prefix(err, "definition '%s': ", json_object_get_string(name));
		return ret;
	}
	cfg = ember_config(def);
	vm_config_init(&vc);
	ret = vm_json_config_file(&vc, cfg, no_logger_here, NULL, err);
	vm_config_fini(&vc);
	json_object_put(cfg);
	if (ret < 0)
		err_prefix(err, "definition '%s': ", json_object_get_string(name));
	return ret;
}

static int save_def(struct emberd *d, const char *name, struct json_object *def, struct err *err)
{
	char *path = store_path(d->dir, "vms/%s.json", name);
	int ret = path ? store_write_json(path, def, err) : err_set(err, -ENOMEM, "out of memory");

	free(path);
	return ret;
}

static struct mvm *mvm_new(struct emberd *d, const char *name, struct json_object *def)
{
	struct mvm *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->d = d;
	snprintf(m->name, sizeof(m->name), "%.*s", MGR_NAME_MAX, name);
	m->def = def;
	m->proc.pidfd = -1;
	m->exit_h.fd = -1;
	m->con_h.fd = -1;
	m->con_log = -1;
	m->next = d->vms;
	d->vms = m;
	return m;
}

static void mvm_free(struct emberd *d, struct mvm *m)
{
	struct mvm **pp = &d->vms;

	while (*pp != m)
		pp = &(*pp)->next;
	*pp = m->next;
	json_object_put(m->def);
	free(m);
}

/* --- the ember process ------------------------------------------------------------ */

static void mvm_exited(struct ev_handler *h, uint32_t events);

static void mvm_watch(struct mvm *m)
{
	m->exit_h = (struct ev_handler){ .fd = m->proc.pidfd, .cb = mvm_exited };
	if (evloop_add(&m->d->loop, &m->exit_h, EPOLLIN) < 0)
		log_warn("%s: cannot watch its process: %s", m->name, strerror(errno));
}

static void save_runtime(struct mvm *m)
{
	struct json_object *o = json_object_new_object();
	struct err err = { { 0 } };
	char *path = run_path(m, "state.json");

	json_object_object_add(o, "pid", json_object_new_int(m->proc.pid));
	json_object_object_add(o, "start_time", json_object_new_int64((int64_t)m->proc.start_time));
	json_object_object_add(o, "log_from", json_object_new_int64((int64_t)m->log_from));
	if (!path || store_write_json(path, o, &err) < 0)
		log_warn("%s: cannot save its state: %s", m->name, err.msg);
	free(path);
	json_object_put(o);
}

/*
 * How it ended: well or not (the exit status of our child, else what ember
 * logged), and whether it was migrated away (ember's log says).
 */
static bool ended_well(struct mvm *m, int status, char **why, bool *migrated)
{
	char *log = run_path(m, "ember.log");
	char *end = log ? vmproc_logged_end(log, m->log_from) : NULL;
	bool ok = status >= 0 ? status == 0 : end && strcmp(end, "error") && strcmp(end, "signal");

	free(log);
	*migrated = end && !strcmp(end, "migrated");
	if (!ok && status >= 0 && asprintf(why, "ember's exit status %d", status) < 0)
		*why = NULL;
	if (!ok && status < 0 &&
	    asprintf(why, "ember ended: %s", end ? end : "no reason logged") < 0)
		*why = NULL;
	free(end);
	return ok;
}

/* The taps of its interfaces, made for its network. */
static void detach_taps(struct mvm *m)
{
	struct json_object *ifs = json_object_object_get(m->def, "network-interfaces");

	if (!json_object_object_get(m->def, "network"))
		return;
	for (size_t i = 0; ifs && i < json_object_array_length(ifs); i++)
		net_detach_tap(json_object_get_string(json_object_object_get(
			json_object_array_get_idx(ifs, i), "host_dev_name")));
}

/* Its network must be up: each interface gets a tap on the network's bridge. */
static int attach_taps(struct mvm *m, struct err *err)
{
	struct json_object *net = json_object_object_get(m->def, "network");
	struct json_object *ifs = json_object_object_get(m->def, "network-interfaces");
	struct mnet *n = net ? emberd_net_find(m->d, json_object_get_string(net)) : NULL;
	struct jail_ids ids;
	bool jailed = jail_of(m->def, &ids);
	int ret = 0;

	if (!net)
		return 0;
	if (!n)
		return err_set(err, -ENOENT, "no network named '%s'", json_object_get_string(net));
	if (!net_is_up(n->def))
		return err_set(err, -ENETDOWN, "network '%s' is not active (net-start it)",
			       n->name);
	for (size_t i = 0; ret == 0 && ifs && i < json_object_array_length(ifs); i++)
		ret = net_attach_tap(n->def,
				     json_object_get_string(json_object_object_get(
					     json_object_array_get_idx(ifs, i), "host_dev_name")),
				     jailed ? &ids.uid : NULL, jailed ? &ids.gid : NULL, err);
	if (ret < 0)
		detach_taps(m);
	return ret;
}

/* What a VM's ember had beside its process: its cgroup, taps, console and jail. */
static void mvm_release(struct mvm *m)
{
	limits_remove(m->name);
	detach_taps(m);
	console_close(m);
	jail_remove(m->d->dir, m->name);
}

/* ember's sockets in the run directory (or the links to them in its jail). */
static void unlink_run_sockets(struct mvm *m)
{
	static const char *const names[] = { "api.sock", "console.sock" };

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		char *path = run_path(m, names[i]);

		if (path)
			unlink(path);
		free(path);
	}
}

/* The process is gone: settle the state, tell everyone, tidy the run directory. */
static void mvm_settle(struct mvm *m, int status)
{
	char *why = NULL, *path;
	bool migrated, well = ended_well(m, status, &why, &migrated);
	const char *event = m->stopping ? m->stop_event
			    : migrated	? "migrated"
			    : well	? "shutdown"
					: "crashed";

	m->state = m->stopping || well ? MVM_SHUTOFF : MVM_CRASHED;
	m->stopping = false;
	m->proc = (struct vmproc){ .pidfd = -1 };
	path = run_path(m, "state.json");
	if (path)
		unlink(path);
	free(path);
	unlink_run_sockets(m);
	mvm_release(m);
	emberd_event(m->d, event, m->name, m->state == MVM_CRASHED ? why : NULL);
	free(why);
}

static void mvm_exited(struct ev_handler *h, uint32_t events)
{
	struct mvm *m = container_of(h, struct mvm, exit_h);

	(void)events;
	evloop_del(&m->d->loop, &m->exit_h);
	mvm_settle(m, vmproc_reap(&m->proc));
}

static char *last_log_line(struct mvm *m)
{
	char *path = run_path(m, "ember.log"), buf[4096], *line;
	ssize_t n = path ? vmproc_log_tail(path, 0, buf, sizeof(buf)) : -ENOMEM;

	free(path);
	if (n < 0)
		return strdup("no log");
	while (strlen(buf) && buf[strlen(buf) - 1] == '\n')
		buf[strlen(buf) - 1] = '\0';
	line = strrchr(buf, '\n');
	return strdup(line ? line + 1 : buf);
}

/* A disk written by one running VM is used by no other. */
static int check_disks(struct emberd *d, struct mvm *m, struct err *err)
{
	struct json_object *mine = json_object_object_get(m->def, "drives");

	for (size_t i = 0; mine && i < json_object_array_length(mine); i++) {
		struct json_object *a = json_object_array_get_idx(mine, i);
		const char *pa = json_object_get_string(json_object_object_get(a, "path_on_host"));
		char ra[PATH_MAX];
		bool a_ro = json_object_get_boolean(json_object_object_get(a, "is_read_only"));

		if (!pa || !realpath(pa, ra))
			continue; /* ember says what is wrong with it */
		for (struct mvm *o = d->vms; o; o = o->next) {
			struct json_object *theirs = json_object_object_get(o->def, "drives");

			for (size_t j = 0; o != m && mvm_active(o) && theirs &&
					   j < json_object_array_length(theirs);
			     j++) {
				struct json_object *b = json_object_array_get_idx(theirs, j);
				const char *pb = json_object_get_string(
					json_object_object_get(b, "path_on_host"));
				bool b_ro = json_object_get_boolean(
					json_object_object_get(b, "is_read_only"));
				char rb[PATH_MAX];

				if (pb && realpath(pb, rb) && !strcmp(ra, rb) && !(a_ro && b_ro))
					return err_set(err, -EBUSY,
						       "disk '%s' is in use by VM '%s'", pa,
						       o->name);
			}
		}
	}
	return 0;
}

static int prepare_run_dir(struct mvm *m, struct err *err)
{
	/* console.sock: the longest of ember's socket paths */
	char *dir = run_path(m, NULL), *cfg = run_path(m, "config.json"),
	     *sock = run_path(m, "console.sock");
	struct json_object *c = ember_config(m->def);
	int ret = 0;

	if (!dir || !cfg || !sock)
		ret = err_set(err, -ENOMEM, "out of memory");
	else if (strlen(sock) >= 108)
		ret = err_set(err, -ENAMETOOLONG,
			      "the VM's socket path '%s' is too long: use a shorter --state-dir",
			      sock);
	else if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		ret = err_set(err, -errno, "'%s': %s", dir, strerror(errno));
	if (ret == 0) {
		unlink_run_sockets(m);
		ret = store_write_json(cfg, c, err);
	}
	json_object_put(c);
	free(dir);
	free(cfg);
	free(sock);
	return ret;
}

/* The run directory's `name`: a link to the socket of that name ember makes in its jail. */
static int link_jail_socket(struct mvm *m, const char *root, const char *name, struct err *err)
{
	char *sock = run_path(m, name), *target = NULL;
	int ret = sock && asprintf(&target, "%s/%s", root, name) >= 0
			  ? 0
			  : err_set(err, -ENOMEM, "out of memory");

	if (ret == 0 && symlink(target, sock) < 0)
		ret = err_set(err, -errno, "'%s': %s", sock, strerror(errno));
	free(sock);
	free(target);
	return ret;
}

/*
 * A jailed VM: no jail left from before (the jailer wants a fresh root),
 * and the run directory's api.sock and console.sock links to the sockets
 * ember makes there.
 */
static int prepare_jail(struct mvm *m, struct err *err)
{
	char *base = jail_base(m->d->dir), *root = jail_root(m->d->dir, m->name);
	int ret = base && root ? 0 : err_set(err, -ENOMEM, "out of memory");

	if (ret == 0) {
		jail_remove(m->d->dir, m->name);
		if (mkdir(base, 0700) < 0 && errno != EEXIST)
			ret = err_set(err, -errno, "'%s': %s", base, strerror(errno));
	}
	if (ret == 0)
		ret = link_jail_socket(m, root, "api.sock", err);
	if (ret == 0)
		ret = link_jail_socket(m, root, "console.sock", err);
	free(base);
	free(root);
	return ret;
}

static int join_cgroup(pid_t pid, void *ctx, struct err *err)
{
	struct mvm *m = ctx;

	return limits_join(m->name, m->def, pid, err);
}

/* ember's command line, or (jailed) ember-jailer's, which runs ember in API mode. */
struct ember_cmd {
	char *argv[24];
	char uid[16], gid[16];
	char *base;
};

/* argv = { ... } (NULL-terminated by the caller), checked to fit when compiled. */
#define SET_ARGV(argv, ...)                                                                        \
	do {                                                                                       \
		static_assert(sizeof((char *[]){ __VA_ARGS__ }) <= sizeof(argv),                   \
			      "argv too small");                                                   \
		memcpy(argv, (char *[]){ __VA_ARGS__ }, sizeof((char *[]){ __VA_ARGS__ }));        \
	} while (0)

static void ember_cmd(struct mvm *m, bool boot, char *sock, char *con, char *cfg, char *log,
		      struct ember_cmd *c)
{
	struct jail_ids ids;

	if (!jail_of(m->def, &ids)) {
		SET_ARGV(c->argv, m->d->ember, "--api-sock", sock, "--console-sock", con, "--id",
			 m->name, "--log-path", log, "--level", "Info",
			 boot ? "--config-file" : NULL, cfg, NULL);
		return;
	}
	/* ember logs to stderr: the log file, out of the jail. */
	snprintf(c->uid, sizeof(c->uid), "%u", (unsigned int)ids.uid);
	snprintf(c->gid, sizeof(c->gid), "%u", (unsigned int)ids.gid);
	SET_ARGV(c->argv, m->d->jailer, "--id", m->name, "--exec-file", m->d->ember, "--uid",
		 c->uid, "--gid", c->gid, "--chroot-base-dir", c->base, "--", "--api-sock",
		 "/api.sock", "--console-sock", "/console.sock", "--level", "Info", NULL);
}

/*
 * ember with the VM's API socket and log; with `boot` it boots the config
 * file at once. A jailed VM's ember always starts in API mode.
 */
static int spawn_ember(struct mvm *m, bool boot, struct err *err)
{
	char *sock = run_path(m, "api.sock"), *cfg = run_path(m, "config.json"),
	     *log = run_path(m, "ember.log"), *out = run_path(m, "console.log"),
	     *con = run_path(m, "console.sock");
	struct ember_cmd cmd = { .base = jail_base(m->d->dir) };
	char **argv = cmd.argv;
	struct stat st;
	int ret, peer = -1;

	m->log_from = log && stat(log, &st) == 0 ? (uint64_t)st.st_size : 0;
	ret = sock && cfg && log && out && con && cmd.base ? 0
							   : err_set(err, -ENOMEM, "out of memory");
	if (ret == 0)
		ember_cmd(m, boot, sock, con, cfg, log, &cmd);
	if (ret == 0 && json_object_object_get(m->def, "jail")) {
		boot = false;
		ret = prepare_jail(m, err);
	}
	if (ret == 0)
		ret = console_open(m, out, &peer, err);
	if (ret == 0)
		ret = vmproc_spawn(argv, peer, peer, log, join_cgroup, m, &m->proc, err);
	if (peer >= 0)
		close(peer); /* ember has it */
	if (ret == 0) {
		ret = vmproc_wait_api(&m->proc, sock, START_TIMEOUT_MS, !boot, err);
		if (ret < 0) {
			char *line = last_log_line(m);

			vmproc_stop(&m->proc, 0);
			err->msg[0] = '\0'; /* ember's own last word says more */
			err_set(err, ret, "%s", line ? line : "ember did not start");
			free(line);
		}
	}
	free(cmd.base);
	free(sock);
	free(cfg);
	free(log);
	free(out);
	free(con);
	return ret;
}

/* Its ember up: `state` from now, its end watched. */
static void mvm_track(struct mvm *m, enum mvm_state state)
{
	m->state = state;
	m->started_ms = mgr_mono_ms();
	mvm_watch(m);
}

/* What launch() set up, undone: ember stopped, its cgroup, taps, console and jail gone. */
static void unlaunch(struct mvm *m)
{
	vmproc_stop(&m->proc, STOP_TIMEOUT_MS);
	mvm_release(m);
}

/* The VM runs: pinned as its definition says (or stopped again), watched, announced. */
static int mvm_running(struct mvm *m, const char *event, struct err *err)
{
	int ret = limits_pin(m->proc.pid, m->def, err);

	if (ret < 0) {
		unlaunch(m);
		return ret;
	}
	mvm_track(m, MVM_RUNNING);
	save_runtime(m);
	emberd_event(m->d, event, m->name, NULL);
	return 0;
}

/* A section of ember's config through the API: PUT /KEY, or PUT /KEY/ID for each of a list. */
static int put_section(struct mvm *m, const char *key, struct json_object *val, struct err *err)
{
	bool list = json_object_is_type(val, json_type_array);
	size_t n = list ? json_object_array_length(val) : 1;
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < n; i++) {
		struct json_object *one = list ? json_object_array_get_idx(val, i) : val;
		const char *id =
			json_object_get_string(json_object_object_get(one, "drive_id"))
				?: json_object_get_string(json_object_object_get(one, "iface_id"))
				   ?: "";
		char path[160];

		snprintf(path, sizeof(path), "/%s%s%s", key, list ? "/" : "", list ? id : "");
		ret = mvm_api(m, "PUT", path,
			      json_object_to_json_string_ext(
				      one, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
			      NULL, err);
	}
	return ret;
}

/*
 * A jailed VM's ember is up in its jail: the VM's files go in, and with
 * `boot` its configuration through the API (paths as the jail sees them),
 * then InstanceStart.
 */
static int jail_setup(struct mvm *m, bool boot, struct err *err)
{
	struct json_object *cfg = ember_config(m->def), *jailed = NULL;
	char *root = jail_root(m->d->dir, m->name);
	struct jail_ids ids;
	int ret = 0;

	if (!jail_of(m->def, &ids))
		goto out;
	ret = root ? jail_fill(root, cfg, &ids, &jailed, err) : -ENOMEM;
	if (ret == 0 && boot) {
		json_object_object_foreach(jailed, key, val)
		{
			if (ret == 0)
				ret = put_section(m, key, val, err);
		}
	}
	if (ret == 0 && boot)
		ret = mvm_api(m, "PUT", "/actions", "{\"action_type\": \"InstanceStart\"}", NULL,
			      err);
out:
	json_object_put(jailed);
	json_object_put(cfg);
	free(root);
	return ret;
}

/* Disks free, run directory ready, taps on the network, ember up (booting with `boot`). */
static int launch(struct mvm *m, bool boot, struct err *err)
{
	int ret = check_disks(m->d, m, err);

	if (ret == 0)
		ret = prepare_run_dir(m, err);
	if (ret == 0)
		ret = attach_taps(m, err);
	if (ret == 0) {
		ret = spawn_ember(m, boot, err);
		if (ret < 0)
			mvm_release(m);
	}
	if (ret == 0) {
		ret = jail_setup(m, boot, err);
		if (ret < 0)
			unlaunch(m);
	}
	return ret;
}

static int mvm_destroy(struct mvm *m, const char *event);

/*
 * start --incoming URL: ember waits on URL for the VM another ember sends;
 * until it came the VM counts as paused. The reply comes when it ended.
 */
static int mvm_start_incoming(struct mvm *m, struct client *c, struct json_object *args,
			      struct err *err)
{
	struct json_object *t = json_object_object_get(args, "timeout_s");
	int64_t timeout_s = t ? json_object_get_int64(t) : 300;
	int ret;

	if (t && (!json_object_is_type(t, json_type_int) || timeout_s < 1 || timeout_s > 86400))
		return err_set(err, -EINVAL, "'timeout_s' must be from 1 to 86400");
	ret = emberd_migration_url_check(m, emberd_arg_string(args, "incoming"), err);
	if (ret == 0)
		ret = launch(m, false, err);
	if (ret < 0) {
		err_prefix(err, "cannot start '%s': ", m->name);
		return ret;
	}
	mvm_track(m, MVM_PAUSED);
	save_runtime(m);
	ret = emberd_migrate_in(m, c, emberd_arg_string(args, "incoming"), (int)timeout_s, err);
	if (ret < 0) {
		mvm_destroy(m, "destroyed");
		return ret;
	}
	emberd_event(m->d, "incoming", m->name, emberd_arg_string(args, "incoming"));
	return EMBERD_LATER;
}

int mvm_incoming_ended(struct mvm *m, int ret, struct err *err)
{
	if (!mvm_active(m)) /* its ember ended meanwhile: settled already */
		return ret < 0 ? ret : err_set(err, -ESRCH, "VM '%s' ended", m->name);
	if (ret == 0)
		ret = limits_pin(m->proc.pid, m->def, err);
	if (ret < 0) {
		mvm_destroy(m, "migration-failed");
		return ret;
	}
	m->state = MVM_RUNNING;
	emberd_event(m->d, "started", m->name, "migrated in");
	return 0;
}

static int mvm_start(struct mvm *m, struct client *c, struct json_object *args, struct err *err)
{
	int ret;

	if (mvm_active(m))
		return err_set(err, -EALREADY, "VM '%s' is already %s", m->name,
			       state_names[m->state]);
	if (args && json_object_object_get(args, "incoming"))
		return mvm_start_incoming(m, c, args, err);
	ret = launch(m, true, err);
	if (ret == 0)
		ret = mvm_running(m, "started", err);
	if (ret < 0)
		err_prefix(err, "cannot start '%s': ", m->name);
	return ret;
}

/* One call to the VM's ember; a non-2xx answer is an error with ember's fault message. */
int mvm_api(struct mvm *m, const char *method, const char *path, const char *body,
	    struct json_object **out, struct err *err)
{
	char *sock = run_path(m, "api.sock"), *reply = NULL;
	int status = sock ? httpc_call(sock, method, path, body, &reply, API_TIMEOUT_S) : -ENOMEM;
	struct json_object *o = reply && reply[0] ? json_tokener_parse(reply) : NULL;
	int ret = 0;

	free(sock);
	if (status < 0)
		ret = err_set(err, status, "VM '%s': its ember does not answer: %s", m->name,
			      strerror(-status));
	else if (status >= 300)
		ret = err_set(err, -EIO, "VM '%s': %s", m->name,
			      o ? json_object_get_string(json_object_object_get(o, "fault_message"))
				: "refused");
	if (ret == 0 && out)
		*out = json_object_get(o);
	json_object_put(o);
	free(reply);
	return ret;
}

static int mvm_destroy(struct mvm *m, const char *event)
{
	int status;

	if (!mvm_active(m))
		return -EINVAL;
	m->stopping = true;
	m->stop_event = event;
	evloop_del(&m->d->loop, &m->exit_h);
	status = vmproc_stop(&m->proc, STOP_TIMEOUT_MS);
	mvm_settle(m, status);
	return 0;
}

/* --- commands ---------------------------------------------------------------------- */

const char *emberd_arg_string(struct json_object *args, const char *key)
{
	struct json_object *v = args ? json_object_object_get(args, key) : NULL;

	return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static struct mvm *arg_vm(struct emberd *d, struct json_object *args, struct err *err)
{
	const char *name = emberd_arg_string(args, "name");
	struct mvm *m = name ? mvm_find(d, name) : NULL;

	if (!name)
		err_set(err, -EINVAL, "'name' is required");
	else if (!m)
		err_set(err, -ENOENT, "no VM named '%s'", name);
	return m;
}

static struct json_object *vm_summary(const struct mvm *m)
{
	struct json_object *o = json_object_new_object();
	struct json_object *a = json_object_object_get(m->def, "autostart");

	json_object_object_add(o, "name", json_object_new_string(m->name));
	json_object_object_add(o, "state", json_object_new_string(state_names[m->state]));
	json_object_object_add(o, "autostart",
			       json_object_new_boolean(a && json_object_get_boolean(a)));
	json_object_object_add(o, "pid", mvm_active(m) ? json_object_new_int(m->proc.pid) : NULL);
	return o;
}

static int cmd_list(struct emberd *d, struct json_object *args, struct json_object **out)
{
	struct json_object *all = args ? json_object_object_get(args, "all") : NULL;
	struct json_object *arr = json_object_new_array();

	for (struct mvm *m = d->vms; m; m = m->next)
		if ((all && json_object_get_boolean(all)) || m->state != MVM_SHUTOFF)
			json_object_array_add(arr, vm_summary(m));
	*out = arr;
	return 0;
}

static void add_machine(struct json_object *o, struct json_object *def)
{
	struct json_object *mc = json_object_object_get(def, "machine-config");
	struct json_object *v;

	v = mc ? json_object_object_get(mc, "vcpu_count") : NULL;
	json_object_object_add(o, "vcpu_count",
			       json_object_new_int(v ? json_object_get_int(v) : 1));
	v = mc ? json_object_object_get(mc, "mem_size_mib") : NULL;
	json_object_object_add(o, "mem_size_mib",
			       json_object_new_int(v ? json_object_get_int(v) : 128));
}

static int cmd_info(struct mvm *m, struct json_object **out)
{
	struct json_object *o = vm_summary(m);

	add_machine(o, m->def);
	json_object_object_add(o, "api_socket", NULL);
	if (mvm_active(m)) {
		char *sock = run_path(m, "api.sock");

		json_object_object_add(o, "api_socket", json_object_new_string(sock ? sock : ""));
		free(sock);
		json_object_object_add(o, "vcpus", vmproc_vcpus(m->proc.pid));
		json_object_object_add(
			o, "uptime_ms",
			json_object_new_int64((int64_t)(mgr_mono_ms() - m->started_ms)));
	}
	emberd_job_info(m, o);
	if (json_object_object_get(m->def, "jail")) {
		char *root = jail_root(m->d->dir, m->name);

		json_object_object_add(o, "jail_root", json_object_new_string(root ? root : ""));
		free(root);
	}
	{
		char *console = run_path(m, "console.log"), *log = run_path(m, "ember.log");

		json_object_object_add(o, "console_log",
				       json_object_new_string(console ? console : ""));
		json_object_object_add(o, "log", json_object_new_string(log ? log : ""));
		free(console);
		free(log);
	}
	json_object_object_add(o, "limits",
			       json_object_get(json_object_object_get(m->def, "limits"))
				       ?: json_object_new_object());
	*out = o;
	return 0;
}

static int cmd_define(struct emberd *d, struct json_object *args, struct json_object **out,
		      struct err *err)
{
	struct json_object *def = args ? json_object_object_get(args, "definition") : NULL;
	const char *name;
	struct mvm *m;
	int ret = def ? check_def(def, err) : err_set(err, -EINVAL, "'definition' is required");

	if (ret < 0)
		return ret;
	name = json_object_get_string(json_object_object_get(def, "name"));
	ret = save_def(d, name, def, err);
	if (ret < 0)
		return ret;
	m = mvm_find(d, name);
	*out = json_object_new_object();
	json_object_object_add(*out, "created", json_object_new_boolean(m == NULL));
	if (m) {
		json_object_put(m->def);
		m->def = json_object_get(def);
	} else if (!mvm_new(d, name, json_object_get(def))) {
		return err_set(err, -ENOMEM, "out of memory");
	}
	emberd_event(d, "defined", name, NULL);
	return 0;
}

static int cmd_undefine(struct emberd *d, struct mvm *m, struct err *err)
{
	char *def = store_path(d->dir, "vms/%s.json", m->name), *run = run_path(m, NULL);
	char name[MGR_NAME_MAX + 1];

	if (mvm_active(m)) {
		free(def);
		free(run);
		return err_set(err, -EBUSY, "VM '%s' is %s: destroy or shut it down first", m->name,
			       state_names[m->state]);
	}
	if (def && unlink(def) < 0 && errno != ENOENT) {
		int ret = err_set(err, -errno, "'%s': %s", def, strerror(errno));

		free(def);
		free(run);
		return ret;
	}
	if (run)
		store_remove_dir(run);
	free(def);
	free(run);
	snprintf(name, sizeof(name), "%s", m->name);
	mvm_free(d, m);
	emberd_event(d, "undefined", name, NULL);
	return 0;
}

static int cmd_state_change(struct mvm *m, bool pause, struct err *err)
{
	int ret;

	if (!mvm_active(m))
		return err_set(err, -EINVAL, "VM '%s' is %s", m->name, state_names[m->state]);
	ret = mvm_api(m, "PATCH", "/vm",
		      pause ? "{\"state\": \"Paused\"}" : "{\"state\": \"Resumed\"}", NULL, err);
	if (ret == 0 && m->state != (pause ? MVM_PAUSED : MVM_RUNNING)) {
		m->state = pause ? MVM_PAUSED : MVM_RUNNING;
		emberd_event(m->d, pause ? "paused" : "resumed", m->name, NULL);
	}
	return ret;
}

static int cmd_shutdown(struct mvm *m, struct err *err)
{
	if (m->state != MVM_RUNNING)
		return err_set(err, -EINVAL, "VM '%s' is %s", m->name, state_names[m->state]);
	return mvm_api(m, "PUT", "/ember/power-button", "{}", NULL, err);
}

/* A copy of the definition with `key` set to `value` (taken), saved, then adopted. */
static int update_def(struct emberd *d, struct mvm *m, const char *key, struct json_object *value,
		      struct err *err)
{
	struct json_object *def = json_object_new_object();
	int ret;

	json_object_object_foreach(m->def, k, v)
	{
		json_object_object_add(def, k, json_object_get(v));
	}
	json_object_object_add(def, key, value);
	ret = save_def(d, m->name, def, err);
	if (ret < 0) {
		json_object_put(def);
		return ret;
	}
	json_object_put(m->def);
	m->def = def;
	return 0;
}

static int cmd_autostart(struct emberd *d, struct mvm *m, struct json_object *args, struct err *err)
{
	struct json_object *on = args ? json_object_object_get(args, "enable") : NULL;

	return update_def(d, m, "autostart",
			  json_object_new_boolean(!on || json_object_get_boolean(on)), err);
}

/* Snapshots live in DIR/snapshots/NAME/SNAP.{snap,mem}. */
static int snapshot_paths(struct mvm *m, const char *name, char **snap, char **mem, struct err *err)
{
	char *dir;

	*snap = *mem = NULL;
	if (!name || !mgr_name_ok(name))
		return err_set(err, -EINVAL, "'snapshot' must be a name (letters, digits, _ . -)");
	dir = store_path(m->d->dir, "snapshots/%s", m->name);
	if (dir && mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int ret = err_set(err, -errno, "'%s': %s", dir, strerror(errno));

		free(dir);
		return ret;
	}
	free(dir);
	*snap = store_path(m->d->dir, "snapshots/%s/%s.snap", m->name, name);
	*mem = store_path(m->d->dir, "snapshots/%s/%s.mem", m->name, name);
	return *snap && *mem ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int snapshot_files(struct mvm *m, struct json_object *args, char **snap, char **mem,
			  struct err *err)
{
	return snapshot_paths(m, emberd_arg_string(args, "snapshot"), snap, mem, err);
}

static char *snapshot_body(const char *snap, const char *mem, bool load)
{
	struct json_object *o = json_object_new_object();
	char *text;

	json_object_object_add(o, "snapshot_path", json_object_new_string(snap));
	if (load) {
		struct json_object *be = json_object_new_object();

		json_object_object_add(be, "backend_type", json_object_new_string("File"));
		json_object_object_add(be, "backend_path", json_object_new_string(mem));
		json_object_object_add(o, "mem_backend", be);
		json_object_object_add(o, "resume_vm", json_object_new_boolean(1));
	} else {
		json_object_object_add(o, "mem_file_path", json_object_new_string(mem));
	}
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

/* A jailed ember reads and writes snapshots in its jail, under these names. */
#define JAIL_SNAP "snapshot.snap"
#define JAIL_MEM  "snapshot.mem"

/* The request's body: the snapshot's paths, or (jailed) their names in the jail. */
static char *snapshot_request(struct mvm *m, const char *snap, const char *mem, bool load)
{
	if (json_object_object_get(m->def, "jail"))
		return snapshot_body("/" JAIL_SNAP, "/" JAIL_MEM, load);
	return snapshot_body(snap, mem, load);
}

/* Moves the snapshot a jailed ember made (as the request named it) to the snapshot directory. */
static int snapshot_from_jail(struct mvm *m, const char *snap, const char *mem, struct err *err)
{
	char *root;
	int ret;

	if (!json_object_object_get(m->def, "jail"))
		return 0;
	root = jail_root(m->d->dir, m->name);
	ret = root ? jail_take_out(root, JAIL_SNAP, snap, err)
		   : err_set(err, -ENOMEM, "out of memory");
	if (ret == 0)
		ret = jail_take_out(root, JAIL_MEM, mem, err);
	free(root);
	return ret;
}

/* The snapshot linked into a jailed VM's jail, where the request names it. */
static int snapshot_into_jail(struct mvm *m, const char *snap, const char *mem, struct err *err)
{
	struct jail_ids ids;
	char *root;
	int ret;

	if (!jail_of(m->def, &ids))
		return 0;
	root = jail_root(m->d->dir, m->name);
	ret = root ? jail_link_in(root, snap, JAIL_SNAP, &ids, err)
		   : err_set(err, -ENOMEM, "out of memory");
	if (ret == 0)
		ret = jail_link_in(root, mem, JAIL_MEM, &ids, err);
	free(root);
	return ret;
}

/* Resumes a VM paused for a snapshot; a failure counts only if all went well before. */
static int snapshot_resume(struct mvm *m, int ret, struct err *err)
{
	struct err ignored = { { 0 } };

	if (mvm_active(m) &&
	    mvm_api(m, "PATCH", "/vm", "{\"state\": \"Resumed\"}", NULL, ret < 0 ? &ignored : err) <
		    0 &&
	    ret == 0)
		return -EIO;
	return ret;
}

/*
 * Saves the VM, paused meanwhile: a job, so emberd serves others while
 * ember writes a large memory file; the reply comes with its end.
 */
static int cmd_snapshot(struct mvm *m, struct client *c, struct json_object *args, struct err *err)
{
	char *snap = NULL, *mem = NULL, *body = NULL;
	bool was_running = m->state == MVM_RUNNING;
	int ret = mvm_active(m)
			  ? snapshot_files(m, args, &snap, &mem, err)
			  : err_set(err, -EINVAL, "VM '%s' is %s", m->name, state_names[m->state]);

	if (ret < 0)
		return ret;
	if (was_running)
		ret = mvm_api(m, "PATCH", "/vm", "{\"state\": \"Paused\"}", NULL, err);
	body = ret == 0 ? snapshot_request(m, snap, mem, false) : NULL;
	if (ret == 0)
		ret = body ? emberd_job_start(m, c, JOB_SNAPSHOT,
					      emberd_arg_string(args, "snapshot"),
					      "/snapshot/create", body, err)
			   : -ENOMEM;
	if (ret == 0)
		m->job->resume = was_running;
	else if (was_running)
		snapshot_resume(m, ret, err);
	free(body);
	free(snap);
	free(mem);
	return ret < 0 ? ret : EMBERD_LATER;
}

int mvm_snapshot_ended(struct mvm *m, const char *name, bool resume, int ret, struct err *err)
{
	char *snap = NULL, *mem = NULL;

	if (ret == 0)
		ret = snapshot_paths(m, name, &snap, &mem, err);
	if (ret == 0)
		ret = snapshot_from_jail(m, snap, mem, err);
	if (resume)
		ret = snapshot_resume(m, ret, err);
	if (ret == 0)
		emberd_event(m->d, "snapshot", m->name, name);
	free(snap);
	free(mem);
	return ret;
}

static int cmd_restore(struct mvm *m, struct json_object *args, struct err *err)
{
	char *snap, *mem, *body = NULL;
	int ret = mvm_active(m)
			  ? err_set(err, -EBUSY, "VM '%s' is %s", m->name, state_names[m->state])
			  : snapshot_files(m, args, &snap, &mem, err);

	if (ret < 0)
		return ret;
	if (access(snap, R_OK) < 0)
		ret = err_set(err, -ENOENT, "VM '%s' has no snapshot '%s'", m->name,
			      emberd_arg_string(args, "snapshot"));
	if (ret == 0)
		ret = launch(m, false, err);
	body = ret == 0 ? snapshot_request(m, snap, mem, true) : NULL;
	if (ret == 0) {
		ret = snapshot_into_jail(m, snap, mem, err);
		if (ret == 0)
			ret = body ? mvm_api(m, "PUT", "/snapshot/load", body, NULL, err) : -ENOMEM;
		if (ret < 0)
			unlaunch(m);
	}
	if (ret == 0)
		ret = mvm_running(m, "restored", err);
	free(body);
	free(snap);
	free(mem);
	return ret;
}

/* One limit, now (a running VM's cgroup) and in the definition. */
static int cmd_setlimit(struct emberd *d, struct mvm *m, struct json_object *args, struct err *err)
{
	const char *key = emberd_arg_string(args, "key");
	struct json_object *value = args ? json_object_object_get(args, "value") : NULL;
	struct json_object *limits = json_object_new_object(), *one;
	struct json_object *had = json_object_object_get(m->def, "limits");
	int ret = key && value ? limits_check_one(key, value, err)
			       : err_set(err, -EINVAL, "'key' and 'value' are required");

	if (had) {
		json_object_object_foreach(had, k, v)
		{
			json_object_object_add(limits, k, json_object_get(v));
		}
	}
	if (ret == 0 && mvm_active(m)) {
		one = json_object_new_object();
		json_object_object_add(one, "limits", json_object_new_object());
		json_object_object_add(json_object_object_get(one, "limits"), key,
				       json_object_get(value));
		/* Its cgroup may not exist yet (no limits at start): made and joined now. */
		ret = limits_join(m->name, one, m->proc.pid, err);
		json_object_put(one);
	}
	if (ret < 0) {
		json_object_put(limits);
		return ret;
	}
	json_object_object_add(limits, key, json_object_get(value));
	ret = update_def(d, m, "limits", limits, err);
	if (ret == 0)
		emberd_event(d, "changed", m->name, key);
	return ret;
}

static int cmd_vcpupin(struct emberd *d, struct mvm *m, struct json_object *args, struct err *err)
{
	struct json_object *v = args ? json_object_object_get(args, "vcpu") : NULL;
	struct json_object *old = json_object_object_get(m->def, "vcpu_pinning"), *pins;
	const char *cpus = emberd_arg_string(args, "cpus");
	struct json_object *mc = json_object_object_get(m->def, "machine-config");
	struct json_object *count = mc ? json_object_object_get(mc, "vcpu_count") : NULL;
	int n = count ? json_object_get_int(count) : 1, vcpu, ret;
	char all[32];
	cpu_set_t set;

	if (!v || !json_object_is_type(v, json_type_int) || !cpus)
		return err_set(err, -EINVAL, "'vcpu' and 'cpus' are required");
	vcpu = json_object_get_int(v);
	if (vcpu < 0 || vcpu >= n)
		return err_set(err, -EINVAL, "VM '%s' has vCPUs 0 to %d", m->name, n - 1);
	if (cpulist_parse(cpus, &set) < 0)
		return err_set(err, -EINVAL, "'%s' is not a CPU list", cpus);
	ret = mvm_active(m) ? limits_pin_vcpu(m->proc.pid, (unsigned int)vcpu, cpus, err) : 0;
	if (ret < 0)
		return ret;
	/* The other vCPUs keep theirs, or may run anywhere. */
	snprintf(all, sizeof(all), "0-%ld", sysconf(_SC_NPROCESSORS_CONF) - 1);
	pins = json_object_new_array();
	for (int i = 0; i < n; i++)
		json_object_array_add(
			pins,
			json_object_new_string(
				i == vcpu ? cpus
				: old && (size_t)i < json_object_array_length(old)
					? json_object_get_string(json_object_array_get_idx(old, i))
					: all));
	ret = update_def(d, m, "vcpu_pinning", pins, err);
	if (ret == 0)
		emberd_event(d, "changed", m->name, "vcpu_pinning");
	return ret;
}

static int cmd_version(struct json_object **out)
{
	*out = json_object_new_object();
	json_object_object_add(*out, "emberd", json_object_new_string(EMBER_VERSION));
	return 0;
}

/* What a read-only connection may ask. */
static bool read_only_cmd(const char *cmd)
{
	return !strcmp(cmd, "list") || !strcmp(cmd, "info") || !strcmp(cmd, "dumpdef") ||
	       !strcmp(cmd, "events") || !strcmp(cmd, "version") || !strcmp(cmd, "net-list") ||
	       !strcmp(cmd, "net-info");
}

/* What may be asked of a VM while a job (a migration, a snapshot) runs. */
static bool while_busy(const char *cmd)
{
	return !strcmp(cmd, "info") || !strcmp(cmd, "dumpdef") || !strcmp(cmd, "destroy");
}

static int vm_command(struct emberd *d, struct client *c, const char *cmd, struct mvm *m,
		      struct json_object *args, struct json_object **out, struct err *err)
{
	if (m->job && !while_busy(cmd))
		return err_set(err, -EBUSY, "VM '%s' is %s", m->name,
			       m->job->kind == JOB_SNAPSHOT ? "saving a snapshot" : "migrating");
	if (!strcmp(cmd, "info"))
		return cmd_info(m, out);
	if (!strcmp(cmd, "dumpdef")) {
		*out = json_object_get(m->def);
		return 0;
	}
	if (!strcmp(cmd, "undefine"))
		return cmd_undefine(d, m, err);
	if (!strcmp(cmd, "start"))
		return mvm_start(m, c, args, err);
	if (!strcmp(cmd, "migrate"))
		return emberd_migrate(m, c, args, err);
	if (!strcmp(cmd, "destroy"))
		return mvm_destroy(m, "destroyed") < 0 ? err_set(err, -EINVAL, "VM '%s' is %s",
								 m->name, state_names[m->state])
						       : 0;
	if (!strcmp(cmd, "shutdown"))
		return cmd_shutdown(m, err);
	if (!strcmp(cmd, "suspend") || !strcmp(cmd, "resume"))
		return cmd_state_change(m, !strcmp(cmd, "suspend"), err);
	if (!strcmp(cmd, "autostart"))
		return cmd_autostart(d, m, args, err);
	if (!strcmp(cmd, "snapshot"))
		return cmd_snapshot(m, c, args, err);
	if (!strcmp(cmd, "restore"))
		return cmd_restore(m, args, err);
	if (!strcmp(cmd, "setlimit"))
		return cmd_setlimit(d, m, args, err);
	if (!strcmp(cmd, "vcpupin"))
		return cmd_vcpupin(d, m, args, err);
	return err_set(err, -EINVAL, "unknown command '%s'", cmd);
}

int emberd_command(struct emberd *d, struct client *c, const char *cmd, struct json_object *args,
		   struct json_object **out, struct err *err)
{
	struct mvm *m;

	if (args && !json_object_is_type(args, json_type_object))
		return err_set(err, -EINVAL, "'args' must be an object");
	if (c->ro && !read_only_cmd(cmd))
		return err_set(err, -EPERM, "'%s' is not allowed on the read-only socket", cmd);
	if (!strcmp(cmd, "version"))
		return cmd_version(out);
	if (!strcmp(cmd, "list"))
		return cmd_list(d, args, out);
	if (!strcmp(cmd, "define"))
		return cmd_define(d, args, out, err);
	if (!strcmp(cmd, "events")) {
		c->events = true;
		return 0;
	}
	if (!strncmp(cmd, "net-", 4))
		return emberd_net_command(d, cmd, args, out, err);
	m = arg_vm(d, args, err);
	if (m && !strcmp(cmd, "console"))
		return console_attach(m, c, err);
	return m ? vm_command(d, c, cmd, m, args, out, err) : -ENOENT;
}

/* --- start-up and shut-down ------------------------------------------------------------ */

/* A VM that ran before emberd restarted: still there, or how it ended meanwhile. */
/*
 * What ember says of the VM found again: running or paused; or not started,
 * an incoming migration whose job went with the old emberd: it is stopped,
 * so the migration fails and the VM runs on at its source.
 */
static void recover_state(struct mvm *m)
{
	struct json_object *info = NULL;
	struct err err = { { 0 } };
	const char *state = mvm_api(m, "GET", "/", NULL, &info, &err) == 0
				    ? json_object_get_string(json_object_object_get(info, "state"))
				    : NULL;

	if (state && !strcmp(state, "Paused"))
		m->state = MVM_PAUSED;
	if (state && !strcmp(state, "Not started")) {
		log_warn("%s: its incoming migration was left when emberd restarted: stopped",
			 m->name);
		mvm_destroy(m, "migration-failed");
	}
	json_object_put(info);
}

/* The console back from ember's socket (lost only if ember cannot be reached there). */
static void recover_console(struct mvm *m)
{
	char *sock = run_path(m, "console.sock"), *out = run_path(m, "console.log");
	struct err err = { { 0 } };

	if (!sock || !out || console_reconnect(m, sock, out, &err) < 0)
		log_warn("%s: no console: %s", m->name, err.msg[0] ? err.msg : "out of memory");
	free(sock);
	free(out);
}

static void mvm_recover(struct mvm *m)
{
	char *path = run_path(m, "state.json");
	struct json_object *st = NULL;
	struct err err = { { 0 } };
	pid_t pid;
	uint64_t start;

	if (!path || access(path, F_OK) < 0 || store_read_json(path, &st, &err) < 0) {
		free(path);
		return;
	}
	free(path);
	pid = json_object_get_int(json_object_object_get(st, "pid"));
	start = (uint64_t)json_object_get_int64(json_object_object_get(st, "start_time"));
	m->log_from = (uint64_t)json_object_get_int64(json_object_object_get(st, "log_from"));
	json_object_put(st);
	/* Gone, or ended and not yet reaped by whoever inherited it (a zombie). */
	if (vmproc_adopt(pid, start, &m->proc) < 0 || vmproc_ended(&m->proc)) {
		vmproc_reap(&m->proc);
		mvm_settle(m, -1);
		return;
	}
	mvm_track(m, MVM_RUNNING);
	recover_state(m);
	if (!mvm_active(m))
		return;
	log_info("emberd: VM '%s' (pid %d) runs on", m->name, (int)pid);
	recover_console(m);
}

static void load_one(struct emberd *d, const char *file)
{
	char name[MGR_NAME_MAX + 8], *path;
	struct json_object *def = NULL;
	struct err err = { { 0 } };
	struct mvm *m;
	size_t n = strlen(file);

	if (n < 6 || strcmp(file + n - 5, ".json") || n - 5 > MGR_NAME_MAX)
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(n - 5), file);
	path = store_path(d->dir, "vms/%s", file);
	if (!path || store_read_json(path, &def, &err) < 0 || check_def(def, &err) < 0 ||
	    strcmp(json_object_get_string(json_object_object_get(def, "name")), name)) {
		log_warn("emberd: skipping '%s': %s", path ? path : file,
			 err.msg[0] ? err.msg : "its name does not match the file's");
		json_object_put(def);
		free(path);
		return;
	}
	free(path);
	m = mvm_new(d, name, def);
	if (m)
		mvm_recover(m);
}

int emberd_load_vms(struct emberd *d, struct err *err)
{
	char *path = store_path(d->dir, "vms");
	DIR *dir = path ? opendir(path) : NULL;
	struct dirent *e;

	if (!dir) {
		int ret = err_set(err, -errno, "'%s': %s", path ? path : "vms", strerror(errno));

		free(path);
		return ret;
	}
	free(path);
	while ((e = readdir(dir)))
		if (e->d_name[0] != '.')
			load_one(d, e->d_name);
	closedir(dir);
	return 0;
}

void emberd_autostart(struct emberd *d)
{
	for (struct mvm *m = d->vms; m; m = m->next) {
		struct json_object *a = json_object_object_get(m->def, "autostart");
		struct err err = { { 0 } };

		if (a && json_object_get_boolean(a) && !mvm_active(m) &&
		    mvm_start(m, NULL, NULL, &err) < 0)
			log_warn("emberd: autostart: %s", err.msg);
	}
}

void emberd_forget_vms(struct emberd *d)
{
	while (d->vms) {
		struct mvm *m = d->vms;

		if (m->proc.pidfd >= 0) {
			evloop_del(&d->loop, &m->exit_h);
			close(m->proc.pidfd);
		}
		console_close(m);
		emberd_job_forget(m);
		mvm_free(d, m);
	}
}

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "config/vm_json.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/ratelimit.h"
#include "vmm/migration.h"

#define API_ID_MAX 64
#define API_PARKED 1 /* a route's return: posted to the main thread, reply later */

struct route {
	const char *method;
	const char *path;     /* ending in '/': an id follows */
	bool pre_boot;	      /* refused once the microVM started */
	bool while_migrating; /* served while a migration is under way */
	int (*fn)(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		  struct err *err);
};

static void reply_json(struct api_reply *r, unsigned int status, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	r->status = status;
	r->body = text ? strdup(text) : NULL;
	json_object_put(o);
}

static void reply_fault(struct api_reply *r, unsigned int status, const char *msg)
{
	struct json_object *o = json_object_new_object();

	METRIC_INC(api_server, faults);
	json_object_object_add(o, "fault_message", json_object_new_string(msg));
	reply_json(r, status, o);
}

static const char *state_name(enum api_state s)
{
	return s == API_NOT_STARTED ? "Not started" : s == API_RUNNING ? "Running" : "Paused";
}

/* --- GET ----------------------------------------------------------------- */

static int get_instance(struct api *a, const char *id, struct json_object *body,
			struct api_reply *r, struct err *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "id",
			       json_object_new_string(a->id ? a->id : "anonymous-instance"));
	json_object_object_add(o, "state", json_object_new_string(state_name(a->state)));
	json_object_object_add(o, "vmm_version", json_object_new_string(EMBER_VERSION));
	json_object_object_add(o, "app_name", json_object_new_string("ember"));
	reply_json(r, 200, o);
	return 0;
}

static int get_version(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		       struct err *err)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "firecracker_version", json_object_new_string(EMBER_VERSION));
	reply_json(r, 200, o);
	return 0;
}

static int get_vm_config(struct api *a, const char *id, struct json_object *body,
			 struct api_reply *r, struct err *err)
{
	reply_json(r, 200, vm_json_dump(a->cfg));
	return 0;
}

static int get_machine_config(struct api *a, const char *id, struct json_object *body,
			      struct api_reply *r, struct err *err)
{
	struct json_object *all = vm_json_dump(a->cfg);
	struct json_object *m = json_object_get(json_object_object_get(all, "machine-config"));

	json_object_put(all);
	reply_json(r, 200, m);
	return 0;
}

/* --- pre-boot PUTs ------------------------------------------------------- */

static int put_boot_source(struct api *a, const char *id, struct json_object *body,
			   struct api_reply *r, struct err *err)
{
	return vm_json_boot_source(a->cfg, body, err);
}

static int put_machine_config(struct api *a, const char *id, struct json_object *body,
			      struct api_reply *r, struct err *err)
{
	return vm_json_machine_config(a->cfg, body, false, err);
}

static int patch_machine_config(struct api *a, const char *id, struct json_object *body,
				struct api_reply *r, struct err *err)
{
	return vm_json_machine_config(a->cfg, body, true, err);
}

static int put_drive(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		     struct err *err)
{
	return vm_json_drive(a->cfg, id, body, err);
}

static int put_net(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		   struct err *err)
{
	return vm_json_net(a->cfg, id, body, err);
}

static int put_vsock(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		     struct err *err)
{
	return vm_json_vsock(a->cfg, body, err);
}

static int put_entropy(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		       struct err *err)
{
	return vm_json_entropy(a->cfg, body, err);
}

static int put_serial(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		      struct err *err)
{
	return vm_json_serial(a->cfg, body, err);
}

int api_log_level(const char *name, int *level)
{
	static const struct {
		const char *name;
		int level;
	} levels[] = { { "Error", LOG_ERROR }, { "Warning", LOG_WARN }, { "Info", LOG_INFO },
		       { "Debug", LOG_DEBUG }, { "Trace", LOG_DEBUG },	{ "Off", -1 } };

	for (size_t i = 0; i < ARRAY_SIZE(levels); i++)
		if (strcasecmp(name, levels[i].name) == 0) {
			*level = levels[i].level;
			return 0;
		}
	return -EINVAL;
}

static int put_logger(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		      struct err *err)
{
	struct json_object *path, *level;
	int ret = vm_json_check(body, "logger",
				(const char *const[]){ "log_path:s", "level:s", "show_level:b",
						       "show_log_origin:b", "module:s" },
				5, err);
	int lvl;

	if (ret < 0)
		return ret;
	path = json_object_object_get(body, "log_path");
	level = json_object_object_get(body, "level");
	if (level && api_log_level(json_object_get_string(level), &lvl) < 0)
		return err_set(err, -EINVAL,
			       "logger: level must be Error, Warning, Info, Debug, Trace or Off");
	if (!a->logger)
		return err_set(err, -ENOTSUP, "logger: not configurable here");
	return a->logger(a->ctx, path ? json_object_get_string(path) : NULL,
			 level ? json_object_get_string(level) : NULL, err);
}

static int put_metrics(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		       struct err *err)
{
	const char *path;
	int ret = vm_json_check(
		body, "metrics",
		(const char *const[]){ "metrics_path:s!", "emit_id:b", "properties:o" }, 3, err);

	if (ret < 0)
		return ret;
	if (metrics_enabled())
		return err_set(err, -EINVAL, "metrics: already configured");
	path = json_object_get_string(json_object_object_get(body, "metrics_path"));
	ret = metrics_open(path);
	return ret < 0 ? err_set(err, ret, "metrics_path '%s': %s", path, strerror(-ret)) : 0;
}

static int flush_metrics(struct err *err)
{
	int ret = metrics_flush();

	if (ret == -ENODEV)
		return err_set(err, -EINVAL, "metrics are not configured (PUT /metrics)");
	return ret < 0 ? err_set(err, ret, "metrics: %s", strerror(-ret)) : 0;
}

/* --- actions and state --------------------------------------------------- */

/* Firecracker puts the root device on the kernel's command line; so does ember. */
static int start_instance(struct api *a, struct err *err)
{
	const char *root = vm_config_root_args(a->cfg);
	char *given = a->cfg->cmdline, *full = NULL;
	int ret;

	if (!a->cfg->kernel_path)
		return err_set(err, -EINVAL,
			       "cannot start the microVM: no boot source (PUT /boot-source)");
	if (root && asprintf(&full, "%s%s%s", given ? given : "", given ? " " : "", root) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	if (full)
		a->cfg->cmdline = full;
	ret = a->call(a->ctx, CTL_START, NULL, err);
	a->cfg->cmdline = given; /* the guest has its copy; GET /vm/config shows what was given */
	free(full);
	if (ret < 0)
		return ret;
	a->state = API_RUNNING;
	return 0;
}

static int put_actions(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		       struct err *err)
{
	const char *type;
	int ret = vm_json_check(body, "actions", (const char *const[]){ "action_type:s!" }, 1, err);

	if (ret < 0)
		return ret;
	type = json_object_get_string(json_object_object_get(body, "action_type"));
	if (strcmp(type, "InstanceStart") == 0) {
		if (a->state != API_NOT_STARTED)
			return err_set(err, -EINVAL, "the microVM is already running");
		return start_instance(a, err);
	}
	if (strcmp(type, "SendCtrlAltDel") == 0) {
		if (a->state == API_NOT_STARTED)
			return err_set(err, -EINVAL, "the microVM is not running");
		return a->call(a->ctx, CTL_CTRL_ALT_DEL, NULL, err);
	}
	if (strcmp(type, "FlushMetrics") == 0)
		return flush_metrics(err);
	return err_set(err, -EINVAL,
		       "action_type must be InstanceStart, SendCtrlAltDel or FlushMetrics, "
		       "not '%s'",
		       type);
}

static int patch_vm(struct api *a, const char *id, struct json_object *body, struct api_reply *r,
		    struct err *err)
{
	const char *state;
	bool pause;
	int ret = vm_json_check(body, "vm", (const char *const[]){ "state:s!" }, 1, err);

	if (ret < 0)
		return ret;
	state = json_object_get_string(json_object_object_get(body, "state"));
	if (strcmp(state, "Paused") && strcmp(state, "Resumed"))
		return err_set(err, -EINVAL, "state must be Paused or Resumed, not '%s'", state);
	if (a->state == API_NOT_STARTED)
		return err_set(err, -EINVAL, "the microVM is not running");
	pause = strcmp(state, "Paused") == 0;
	ret = a->call(a->ctx, pause ? CTL_PAUSE : CTL_RESUME, NULL, err);
	if (ret == 0)
		a->state = pause ? API_PAUSED : API_RUNNING;
	return ret;
}

/* ember's extension: the ACPI power button, for a graceful shutdown. */
static int put_power_button(struct api *a, const char *id, struct json_object *body,
			    struct api_reply *r, struct err *err)
{
	int ret = vm_json_check(body, "power-button", NULL, 0, err);

	if (ret < 0)
		return ret;
	if (a->state == API_NOT_STARTED)
		return err_set(err, -EINVAL, "the microVM is not running");
	return a->call(a->ctx, CTL_POWER_BUTTON, NULL, err);
}

/* --- snapshots ----------------------------------------------------------- */

static int put_snapshot_create(struct api *a, const char *id, struct json_object *body,
			       struct api_reply *r, struct err *err)
{
	struct json_object *type;
	struct ctl_snapshot rq = { 0 };
	int ret = vm_json_check(body, "snapshot",
				(const char *const[]){ "snapshot_type:s", "snapshot_path:s!",
						       "mem_file_path:s!", "version:s" },
				4, err);

	if (ret < 0)
		return ret;
	type = json_object_object_get(body, "snapshot_type");
	if (type && strcmp(json_object_get_string(type), "Full") &&
	    strcmp(json_object_get_string(type), "Diff"))
		return err_set(err, -EINVAL, "snapshot_type must be Full or Diff");
	rq.diff = type && strcmp(json_object_get_string(type), "Diff") == 0;
	if (rq.diff && !a->cfg->track_dirty_pages)
		return err_set(err, -EINVAL,
			       "diff snapshots need dirty page tracking (machine-config "
			       "track_dirty_pages, or track_dirty_pages on snapshot load)");
	if (a->state != API_PAUSED)
		return err_set(err, -EINVAL,
			       "cannot create a snapshot: the microVM must be paused (PATCH /vm)");
	rq.snapshot_path = json_object_get_string(json_object_object_get(body, "snapshot_path"));
	rq.mem_path = json_object_get_string(json_object_object_get(body, "mem_file_path"));
	return a->call(a->ctx, CTL_SNAPSHOT_CREATE, &rq, err);
}

/* The memory file: mem_backend {backend_type File, backend_path}, or the older mem_file_path. */
static int load_mem_path(struct json_object *body, const char **path, struct err *err)
{
	struct json_object *file = json_object_object_get(body, "mem_file_path");
	struct json_object *be = json_object_object_get(body, "mem_backend");
	const char *type;
	int ret;

	if (!file == !be)
		return err_set(err, -EINVAL,
			       "snapshot load: give exactly one of mem_backend and mem_file_path");
	if (file) {
		*path = json_object_get_string(file);
		return 0;
	}
	ret = vm_json_check(be, "mem_backend",
			    (const char *const[]){ "backend_type:s!", "backend_path:s!" }, 2, err);
	if (ret < 0)
		return ret;
	type = json_object_get_string(json_object_object_get(be, "backend_type"));
	if (strcmp(type, "Uffd") == 0)
		return err_set(err, -ENOTSUP,
			       "mem_backend: Uffd is not supported by this build of ember");
	if (strcmp(type, "File") != 0)
		return err_set(err, -EINVAL, "mem_backend: backend_type must be File or Uffd");
	*path = json_object_get_string(json_object_object_get(be, "backend_path"));
	return 0;
}

/*
 * Firecracker's network_overrides [{iface_id, host_dev_name}] and
 * vsock_override {uds_path}; the strings stay `body`'s.
 */
static int load_overrides(struct json_object *body, struct ctl_overrides *ov, struct err *err)
{
	struct json_object *nets = json_object_object_get(body, "network_overrides");
	struct json_object *vsock = json_object_object_get(body, "vsock_override");
	size_t n = nets ? json_object_array_length(nets) : 0;
	int ret = 0;

	if (n > CTL_MAX_NET_OVERRIDES)
		return err_set(err, -E2BIG, "network_overrides: at most %d entries",
			       CTL_MAX_NET_OVERRIDES);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		struct json_object *o = json_object_array_get_idx(nets, i);

		ret = vm_json_check(o, "network_overrides",
				    (const char *const[]){ "iface_id:s!", "host_dev_name:s!" }, 2,
				    err);
		if (ret == 0)
			ov->net[i] = (struct ctl_net_override){
				json_object_get_string(json_object_object_get(o, "iface_id")),
				json_object_get_string(json_object_object_get(o, "host_dev_name")),
			};
	}
	ov->nr_net = (unsigned int)n;
	if (ret == 0 && vsock)
		ret = vm_json_check(vsock, "vsock_override", (const char *const[]){ "uds_path:s!" },
				    1, err);
	if (ret == 0 && vsock)
		ov->vsock_uds = json_object_get_string(json_object_object_get(vsock, "uds_path"));
	return ret;
}

static bool config_is_empty(const struct vm_config *c)
{
	return !c->kernel_path && !c->nr_devices;
}

static int put_snapshot_load(struct api *a, const char *id, struct json_object *body,
			     struct api_reply *r, struct err *err)
{
	struct json_object *o;
	struct ctl_snapshot rq = { 0 };
	int ret = vm_json_check(body, "snapshot load",
				(const char *const[]){ "snapshot_path:s!", "mem_file_path:s",
						       "mem_backend:o", "enable_diff_snapshots:b",
						       "track_dirty_pages:b", "resume_vm:b",
						       "network_overrides:a", "vsock_override:o" },
				8, err);

	if (ret == 0)
		ret = load_mem_path(body, &rq.mem_path, err);
	if (ret == 0)
		ret = load_overrides(body, &rq.ov, err);
	if (ret < 0)
		return ret;
	if (!config_is_empty(a->cfg))
		return err_set(err, -EINVAL,
			       "cannot load a snapshot after configuring boot resources");
	rq.snapshot_path = json_object_get_string(json_object_object_get(body, "snapshot_path"));
	o = json_object_object_get(body, "resume_vm");
	rq.resume = o && json_object_get_boolean(o);
	/* enable_diff_snapshots is the field's older name. */
	o = json_object_object_get(body, "track_dirty_pages");
	rq.track_dirty =
		o ? json_object_get_boolean(o)
		  : json_object_get_boolean(json_object_object_get(body, "enable_diff_snapshots"));
	ret = a->call(a->ctx, CTL_SNAPSHOT_LOAD, &rq, err);
	if (ret == 0)
		a->state = rq.resume ? API_RUNNING : API_PAUSED;
	return ret;
}

/* --- migration (ember's extension) ---------------------------------------- */

static struct json_object *migration_stats_json(const struct migration_stats *st)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "total_ms", json_object_new_int64((int64_t)st->total_ms));
	json_object_object_add(o, "downtime_ms", json_object_new_int64((int64_t)st->downtime_ms));
	json_object_object_add(o, "bytes", json_object_new_int64((int64_t)st->bytes));
	json_object_object_add(o, "rounds", json_object_new_int64(st->rounds));
	json_object_object_add(o, "last_round_pages",
			       json_object_new_int64((int64_t)st->last_pages));
	return o;
}

static const char *migration_state(const struct api_migration *m)
{
	static const char *const phases[] = { "starting", "listening", "copying", "paused",
					      "finishing" };
	int phase = m->st.phase;

	if (m->cmd != CTL_NONE)
		return phase >= 0 && phase < (int)ARRAY_SIZE(phases) ? phases[phase] : "unknown";
	return !m->ran ? "none" : m->result == 0 ? "completed" : "failed";
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)MIN(v, (uint64_t)INT64_MAX)));
}

/* GET /ember/migration: the one under way (served while it runs), or how the last one ended. */
static int get_migration(struct api *a, const char *id, struct json_object *body,
			 struct api_reply *r, struct err *err)
{
	const struct api_migration *m = &a->mig;
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "state", json_object_new_string(migration_state(m)));
	if (m->cmd == CTL_NONE && !m->ran) {
		reply_json(r, 200, o);
		return 0;
	}
	json_object_object_add(o, "role", json_object_new_string(m->sending ? "send" : "receive"));
	json_object_object_add(o, "url", json_object_new_string(m->url));
	add_u64(o, "elapsed_ms",
		m->cmd != CTL_NONE ? (monotonic_ns() - m->start_ns) / 1000000 : m->st.total_ms);
	add_u64(o, "ram_bytes", m->st.ram_bytes);
	add_u64(o, "bytes", m->st.bytes);
	add_u64(o, "rounds", m->st.rounds);
	add_u64(o, "dirty_pages", m->st.dirty_pages);
	add_u64(o, "downtime_ms", m->st.downtime_ms);
	if (m->cmd == CTL_NONE && m->result < 0)
		json_object_object_add(o, "error", json_object_new_string(m->error));
	reply_json(r, 200, o);
	return 0;
}

/* Hands the migration to the main thread; the request waits, parked, for its end. */
static int post_migration(struct api *a, enum ctl_cmd cmd, struct json_object *body,
			  unsigned int timeout_s, const struct ctl_overrides *ov, struct err *err)
{
	const char *url = json_object_get_string(json_object_object_get(body, "url"));
	struct api_migration *m = &a->mig;
	int ret;

	if (!a->post)
		return err_set(err, -ENOTSUP, "migration is not available here");
	if (strlen(url) >= sizeof(m->url))
		return err_set(err, -EINVAL, "migration: 'url' is longer than %d bytes",
			       API_URL_MAX - 1);
	memset(&m->st, 0, sizeof(m->st)); /* the main thread has not seen it yet */
	snprintf(m->url, sizeof(m->url), "%s", url);
	m->rq = (struct ctl_migration){
		.url = m->url, .timeout_s = timeout_s, .ov = *ov, .stats = &m->st
	};
	m->sending = cmd == CTL_MIGRATE_SEND;
	m->start_ns = monotonic_ns();
	ret = a->post(a->ctx, cmd, &m->rq, a->wake, a->wake_cookie, err);
	if (ret < 0)
		return ret;
	m->body = json_object_get(body);
	m->cmd = cmd;
	return API_PARKED;
}

static int put_migration_send(struct api *a, const char *id, struct json_object *body,
			      struct api_reply *r, struct err *err)
{
	int ret = vm_json_check(body, "migration", (const char *const[]){ "url:s!" }, 1, err);

	if (ret < 0)
		return ret;
	if (a->state == API_NOT_STARTED)
		return err_set(err, -EINVAL, "the microVM is not running");
	return post_migration(a, CTL_MIGRATE_SEND, body, 0, &(struct ctl_overrides){ 0 }, err);
}

static int put_migration_receive(struct api *a, const char *id, struct json_object *body,
				 struct api_reply *r, struct err *err)
{
	struct ctl_overrides ov = { 0 };
	struct json_object *t;
	unsigned int timeout_s = 300;
	int ret = vm_json_check(body, "migration",
				(const char *const[]){ "url:s!", "timeout_s:i",
						       "network_overrides:a", "vsock_override:o" },
				4, err);

	if (ret == 0)
		ret = load_overrides(body, &ov, err);
	if (ret < 0)
		return ret;
	t = json_object_object_get(body, "timeout_s");
	if (t && (json_object_get_int64(t) < 1 || json_object_get_int64(t) > 86400))
		return err_set(err, -EINVAL, "migration: 'timeout_s' must be from 1 to 86400");
	if (t)
		timeout_s = (unsigned int)json_object_get_int64(t);
	if (!config_is_empty(a->cfg))
		return err_set(err, -EINVAL,
			       "cannot receive a migration after configuring boot resources");
	return post_migration(a, CTL_MIGRATE_RECEIVE, body, timeout_s, &ov, err);
}

static int not_supported(struct api *a, const char *id, struct json_object *body,
			 struct api_reply *r, struct err *err)
{
	return err_set(err, -ENOTSUP, "not supported by this build of ember");
}

static const struct route routes[] = {
	{ "GET", "/", false, true, get_instance },
	{ "GET", "/version", false, true, get_version },
	{ "GET", "/ember/migration", false, true, get_migration },
	{ "GET", "/vm/config", false, false, get_vm_config },
	{ "GET", "/machine-config", false, false, get_machine_config },
	{ "PUT", "/boot-source", true, false, put_boot_source },
	{ "PUT", "/machine-config", true, false, put_machine_config },
	{ "PATCH", "/machine-config", true, false, patch_machine_config },
	{ "PUT", "/drives/", true, false, put_drive },
	{ "PUT", "/network-interfaces/", true, false, put_net },
	{ "PUT", "/vsock", true, false, put_vsock },
	{ "PUT", "/entropy", true, false, put_entropy },
	{ "PUT", "/serial", true, false, put_serial },
	{ "PUT", "/logger", false, false, put_logger },
	{ "PUT", "/actions", false, false, put_actions },
	{ "PATCH", "/vm", false, false, patch_vm },
	/* ember's extensions, under /ember/ (a path Firecracker does not use). */
	{ "PUT", "/ember/power-button", false, false, put_power_button },
	{ "PUT", "/ember/migration/send", false, false, put_migration_send },
	{ "PUT", "/ember/migration/receive", true, false, put_migration_receive },
	/* Known to Firecracker, not (yet) to ember: a clear refusal, not "no such path". */
	{ "PATCH", "/drives/", false, false, not_supported },
	{ "PATCH", "/network-interfaces/", false, false, not_supported },
	{ "PUT", "/metrics", false, false, put_metrics },
	{ "PUT", "/snapshot/create", false, false, put_snapshot_create },
	{ "PUT", "/snapshot/load", true, false, put_snapshot_load },
	{ "PUT", "/balloon", true, false, not_supported },
	{ "PUT", "/mmds", false, false, not_supported },
	{ "PUT", "/mmds/config", true, false, not_supported },
	{ "PUT", "/cpu-config", true, false, not_supported },
};

/* The id after a route's path: 1 to 64 characters, letters, digits, '_' and '-'. */
static bool id_ok(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > API_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
			    id[i]))
			return false;
	return true;
}

static const struct route *route_find(const char *method, const char *path, const char **id)
{
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		const struct route *rt = &routes[i];
		size_t n = strlen(rt->path);
		bool with_id = n > 1 && rt->path[n - 1] == '/';

		if (strcmp(rt->method, method) != 0)
			continue;
		if (with_id ? strncmp(path, rt->path, n) == 0 && id_ok(path + n)
			    : strcmp(path, rt->path) == 0) {
			*id = with_id ? path + n : NULL;
			return rt;
		}
	}
	return NULL;
}

/* The path as logged: control bytes (a %0a in the URL) shown as '?', so no forged lines. */
static const char *printable(const char *s, char *buf, size_t cap)
{
	size_t n = 0;

	for (; *s && n + 1 < cap; s++)
		buf[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	buf[n] = '\0';
	return buf;
}

static unsigned int status_of(int ret)
{
	return ret == -ENOMEM ? 500 : 400;
}

void api_handle(struct api *a, const char *method, const char *path, const char *body, size_t len,
		struct api_reply *r)
{
	struct err err = { { 0 } };
	struct json_object *o = NULL;
	const struct route *rt;
	const char *id = NULL;
	char msg[300];
	int ret;

	*r = (struct api_reply){ .status = 204 };
	METRIC_INC(api_server, requests);
	rt = route_find(method, path, &id);
	if (!rt) {
		snprintf(msg, sizeof(msg), "Invalid request method and/or path: %.16s %.200s",
			 method, path);
		reply_fault(r, 400, msg);
		log_info("Invalid request method and/or path: %.16s %s", method,
			 printable(path, msg, sizeof(msg)));
		return;
	}
	if (a->mig.cmd != CTL_NONE && !rt->while_migrating) {
		reply_fault(r, 400, "busy: a migration is in progress");
		return;
	}
	if (rt->pre_boot && a->state != API_NOT_STARTED) {
		reply_fault(r, 400,
			    "The requested operation is not supported after starting the "
			    "microVM.");
		return;
	}
	if (strcmp(method, "GET") != 0 && rt->fn != not_supported &&
	    vm_json_parse(body, len, &o, &err) < 0) {
		reply_fault(r, 400, err.msg);
		return;
	}
	ret = rt->fn(a, id, o, r, &err);
	json_object_put(o);
	if (ret == API_PARKED) {
		r->status = 0;
		return;
	}
	if (ret < 0) {
		free(r->body);
		reply_fault(r, status_of(ret), err.msg[0] ? err.msg : strerror(-ret));
	}
	log_info("%s %s: %u%s%s", method, printable(path, msg, sizeof(msg)), r->status,
		 ret < 0 ? " " : "", ret < 0 ? err.msg : "");
}

bool api_parked(const struct api *a)
{
	return a->mig.cmd != CTL_NONE;
}

void api_finish(struct api *a, struct api_reply *r)
{
	struct api_migration *m = &a->mig;
	struct err err = { { 0 } };
	int ret = a->collect(a->ctx, &err);

	*r = (struct api_reply){ .status = 204 };
	m->ran = true;
	m->result = ret;
	snprintf(m->error, sizeof(m->error), "%s", ret < 0 ? err.msg : "");
	if (ret < 0)
		reply_fault(r, status_of(ret), err.msg[0] ? err.msg : strerror(-ret));
	else if (m->cmd == CTL_MIGRATE_SEND)
		reply_json(r, 200, migration_stats_json(&m->st));
	else
		a->state = API_RUNNING;
	log_info("PUT /ember/migration/%s: %u%s%s", m->sending ? "send" : "receive", r->status,
		 ret < 0 ? " " : "", ret < 0 ? err.msg : "");
	json_object_put(m->body);
	m->body = NULL;
	m->rq.ov = (struct ctl_overrides){ 0 };
	m->cmd = CTL_NONE;
}

/*
 * Live migration driven by emberd: `migrate` sends a running VM to a
 * receiver's URL, `start --incoming` (commands.c) makes this emberd's VM the
 * receiver. Either way the request to ember (PUT /ember/migration/send or
 * /receive) answers only when the migration ends: it is a job (job.c), and
 * `info` shows the progress ember reports meanwhile.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "manager/emberd.h"
#include "manager/jail.h"
#include "util/log.h"

static bool url_ok(const char *url)
{
	return url && strlen(url) < sizeof(((struct mvm_job *)0)->arg) &&
	       (!strncmp(url, "unix:", 5) || !strncmp(url, "tcp:", 4));
}

/* {"iface_id": ..., "host_dev_name": ...} of a definition's interface. */
static struct json_object *tap_override(struct json_object *iface)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "iface_id",
			       json_object_get(json_object_object_get(iface, "iface_id")));
	json_object_object_add(o, "host_dev_name",
			       json_object_get(json_object_object_get(iface, "host_dev_name")));
	return o;
}

/*
 * The VM that comes brings the sender's description; this emberd's own
 * definition decides its taps and vsock path (a receiver on the same host
 * needs its own): the receive request's overrides.
 */
static void add_overrides(const struct mvm *m, struct json_object *o)
{
	struct json_object *ifs = json_object_object_get(m->def, "network-interfaces");
	struct json_object *vsock = json_object_object_get(m->def, "vsock");
	struct json_object *nets = json_object_new_array(), *uds, *vo;

	for (size_t i = 0; ifs && i < json_object_array_length(ifs); i++)
		json_object_array_add(nets, tap_override(json_object_array_get_idx(ifs, i)));
	json_object_object_add(o, "network_overrides", nets);
	uds = vsock ? json_object_object_get(vsock, "uds_path") : NULL;
	if (!uds)
		return;
	vo = json_object_new_object();
	json_object_object_add(vo, "uds_path",
			       json_object_object_get(m->def, "jail")
				       ? json_object_new_string(JAIL_VSOCK_PATH)
				       : json_object_get(uds));
	json_object_object_add(o, "vsock_override", vo);
}

/* {"url": URL}; receiving, with the timeout (T 0: ember's) and the overrides. */
static char *body_with_url(const struct mvm *m, const char *url, bool sending, int timeout_s)
{
	struct json_object *o = json_object_new_object();
	char *text;

	json_object_object_add(o, "url", json_object_new_string(url));
	if (!sending && timeout_s > 0)
		json_object_object_add(o, "timeout_s", json_object_new_int(timeout_s));
	if (!sending)
		add_overrides(m, o);
	text = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
								JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return text;
}

int emberd_migration_url_check(struct mvm *m, const char *url, struct err *err)
{
	if (!url_ok(url))
		return err_set(err, -EINVAL, "the URL must be unix:PATH or tcp:ADDRESS:PORT");
	if (json_object_object_get(m->def, "jail") && !strncmp(url, "unix:", 5))
		return err_set(err, -EINVAL,
			       "a jailed VM migrates over tcp:ADDRESS:PORT (the host's Unix "
			       "sockets are out of its jail's sight)");
	return 0;
}

/* The request to the VM's ember: send to, or (waiting up to `timeout_s`) receive from, `url`. */
static int migration_start(struct mvm *m, struct client *c, const char *url, bool sending,
			   int timeout_s, struct err *err)
{
	char *body;
	int ret = emberd_migration_url_check(m, url, err);

	if (ret < 0)
		return ret;
	body = body_with_url(m, url, sending, timeout_s);
	ret = body ? emberd_job_start(m, c, sending ? JOB_SEND : JOB_RECEIVE, url,
				      sending ? "/ember/migration/send"
					      : "/ember/migration/receive",
				      body, err)
		   : err_set(err, -ENOMEM, "out of memory");
	free(body);
	return ret;
}

int emberd_migrate_in(struct mvm *m, struct client *c, const char *url, int timeout_s,
		      struct err *err)
{
	return migration_start(m, c, url, false, timeout_s, err);
}

int emberd_migration_ended(struct mvm *m, bool sent, const char *url, int ret, struct err *err)
{
	if (ret < 0)
		log_warn("%s: migration %s '%s' failed: %s", m->name, sent ? "to" : "from", url,
			 err->msg);
	if (sent && ret < 0)
		emberd_event(m->d, "migration-failed", m->name, err->msg);
	return sent ? ret : mvm_incoming_ended(m, ret, err);
}

int emberd_migrate(struct mvm *m, struct client *c, struct json_object *args, struct err *err)
{
	const char *url = emberd_arg_string(args, "url");
	int ret;

	if (!mvm_active(m))
		return err_set(err, -EINVAL, "VM '%s' is %s", m->name, mvm_state_name(m));
	ret = migration_start(m, c, url, true, 0, err);
	if (ret < 0)
		return ret;
	emberd_event(m->d, "migrating", m->name, url);
	return EMBERD_LATER;
}

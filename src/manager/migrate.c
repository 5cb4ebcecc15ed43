/*
 * Live migration driven by emberd: `migrate` sends a running VM to a
 * receiver's URL, `start --incoming` (commands.c) makes this emberd's VM the
 * receiver. Either way the request to ember (PUT /ember/migration/send or
 * /receive) answers only when the migration ends, so emberd keeps its
 * connection in the event loop as a job and replies to the waiting client
 * then; meanwhile `info` shows the progress ember reports.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "manager/httpc.h"
#include "manager/jail.h"
#include "util/log.h"

#define JOB_IO_TIMEOUT_S 5 /* writing the request, and reading the answer once it came */

static void job_end(struct mvm_job *j, int status, const char *reply);

static void job_readable(struct ev_handler *h, uint32_t events)
{
	struct mvm_job *j = container_of(h, struct mvm_job, h);
	char *reply = NULL;
	int status;

	(void)events;
	evloop_del(&j->m->d->loop, &j->h);
	status = httpc_receive(j->h.fd, &reply);
	job_end(j, status, reply);
	free(reply);
}

static bool url_ok(const char *url)
{
	return url && strlen(url) < sizeof(((struct mvm_job *)0)->url) &&
	       (!strncmp(url, "unix:", 5) || !strncmp(url, "tcp:", 4));
}

/* {"url": URL[, "timeout_s": T]} (T 0: none) */
static char *body_with_url(const char *url, int timeout_s)
{
	struct json_object *o = json_object_new_object();
	char *text;

	json_object_object_add(o, "url", json_object_new_string(url));
	if (timeout_s > 0)
		json_object_object_add(o, "timeout_s", json_object_new_int(timeout_s));
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

int emberd_job_start(struct mvm *m, struct client *c, const char *url, int timeout_s,
		     struct err *err)
{
	bool sending = timeout_s == 0;
	const char *path = sending ? "/ember/migration/send" : "/ember/migration/receive";
	char *sock, *text;
	struct mvm_job *j;
	int fd, ret;

	ret = emberd_migration_url_check(m, url, err);
	if (ret < 0)
		return ret;
	sock = mvm_run_path(m, "api.sock");
	j = calloc(1, sizeof(*j));
	text = body_with_url(url, timeout_s);
	fd = sock && j && text ? httpc_send(sock, "PUT", path, text, JOB_IO_TIMEOUT_S) : -ENOMEM;
	free(sock);
	free(text);
	if (fd < 0) {
		free(j);
		return err_set(err, fd, "VM '%s': its ember does not answer: %s", m->name,
			       strerror(-fd));
	}
	*j = (struct mvm_job){
		.h = { .fd = fd, .cb = job_readable }, .m = m, .waiter = c, .sending = sending
	};
	snprintf(j->url, sizeof(j->url), "%s", url);
	if (evloop_add(&m->d->loop, &j->h, EPOLLIN) < 0) {
		ret = -errno;

		close(fd);
		free(j);
		return err_set(err, ret, "event loop: %s", strerror(-ret));
	}
	m->job = j;
	c->waits = m;
	return 0;
}

/* ember's answer: the figures (sent), nothing (received), or why it failed. */
static int job_outcome(struct mvm_job *j, int status, const char *reply,
		       struct json_object **result, struct err *err)
{
	struct json_object *o = reply && reply[0] ? json_tokener_parse(reply) : NULL;
	const char *fault =
		o ? json_object_get_string(json_object_object_get(o, "fault_message")) : NULL;
	int ret = 0;

	if (status < 0)
		ret = err_set(err, status, "VM '%s': its ember went away during the migration: %s",
			      j->m->name, strerror(-status));
	else if (status >= 300)
		ret = err_set(err, -EIO, "VM '%s': %s", j->m->name, fault ? fault : "refused");
	if (ret == 0)
		*result = o ? json_object_get(o) : json_object_new_object();
	json_object_put(o);
	return ret;
}

static void job_end(struct mvm_job *j, int status, const char *reply)
{
	struct mvm *m = j->m;
	struct json_object *result = NULL;
	struct err err = { { 0 } };
	int ret = job_outcome(j, status, reply, &result, &err);

	m->job = NULL;
	if (ret < 0)
		log_warn("%s: migration %s '%s' failed: %s", m->name, j->sending ? "to" : "from",
			 j->url, err.msg);
	if (j->sending && ret < 0)
		emberd_event(m->d, "migration-failed", m->name, err.msg);
	if (!j->sending)
		ret = mvm_incoming_ended(m, ret, &err);
	if (j->waiter)
		emberd_reply(j->waiter, ret, result, &err);
	else
		json_object_put(result);
	free(j);
}

/* A VM given up (undefined, or emberd ending) while its job runs: nobody hears of it. */
void emberd_job_forget(struct mvm *m)
{
	struct mvm_job *j = m->job;

	if (!j)
		return;
	evloop_del(&m->d->loop, &j->h);
	close(j->h.fd);
	if (j->waiter)
		j->waiter->waits = NULL;
	m->job = NULL;
	free(j);
}

struct json_object *emberd_job_progress(struct mvm *m)
{
	struct json_object *o = NULL;
	struct err err = { { 0 } };

	if (!m->job)
		return NULL;
	if (mvm_api(m, "GET", "/ember/migration", NULL, &o, &err) < 0) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(err.msg));
	}
	return o;
}

int emberd_migrate(struct mvm *m, struct client *c, struct json_object *args, struct err *err)
{
	const char *url = emberd_arg_string(args, "url");
	int ret;

	if (!mvm_active(m))
		return err_set(err, -EINVAL, "VM '%s' is %s", m->name, mvm_state_name(m));
	ret = emberd_job_start(m, c, url, 0, err);
	if (ret < 0)
		return ret;
	emberd_event(m->d, "migrating", m->name, url);
	return EMBERD_LATER;
}

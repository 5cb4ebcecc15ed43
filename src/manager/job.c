/*
 * Jobs: requests to a VM's ember whose answer comes much later (a
 * migration sent or received, a snapshot written). emberd keeps the
 * request's connection in its event loop, stays free for other clients,
 * and replies to the waiting one when ember answered; meanwhile the VM
 * takes only info, dumpdef and destroy, and info shows the job.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "manager/httpc.h"
#include "util/log.h"

#define JOB_IO_TIMEOUT_S 5 /* writing the request, and reading the answer once it came */

static const char *const job_names[] = {
	[JOB_SEND] = "migration",
	[JOB_RECEIVE] = "migration",
	[JOB_SNAPSHOT] = "snapshot",
};

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

int emberd_job_start(struct mvm *m, struct client *c, enum job_kind kind, const char *arg,
		     const char *path, const char *body, struct err *err)
{
	char *sock = mvm_run_path(m, "api.sock");
	struct mvm_job *j = calloc(1, sizeof(*j));
	int fd = sock && j ? httpc_send(sock, "PUT", path, body, JOB_IO_TIMEOUT_S) : -ENOMEM;

	free(sock);
	if (fd < 0) {
		free(j);
		return err_set(err, fd, "VM '%s': its ember does not answer: %s", m->name,
			       strerror(-fd));
	}
	*j = (struct mvm_job){ .h = { .fd = fd, .cb = job_readable },
			       .m = m,
			       .waiter = c,
			       .kind = kind,
			       .started_ms = mgr_mono_ms() };
	snprintf(j->arg, sizeof(j->arg), "%s", arg);
	if (evloop_add(&m->d->loop, &j->h, EPOLLIN) < 0) {
		int ret = -errno;

		close(fd);
		free(j);
		return err_set(err, ret, "event loop: %s", strerror(-ret));
	}
	m->job = j;
	if (c)
		c->waits = m;
	return 0;
}

/* ember's answer: its JSON (may be none), or why it failed. */
static int job_outcome(struct mvm_job *j, int status, const char *reply,
		       struct json_object **result, struct err *err)
{
	struct json_object *o = reply && reply[0] ? json_tokener_parse(reply) : NULL;
	const char *fault =
		o ? json_object_get_string(json_object_object_get(o, "fault_message")) : NULL;
	int ret = 0;

	if (status < 0)
		ret = err_set(err, status, "VM '%s': its ember went away during the %s: %s",
			      j->m->name, job_names[j->kind], strerror(-status));
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
	if (j->kind == JOB_SNAPSHOT)
		ret = mvm_snapshot_ended(m, j->arg, j->resume, ret, &err);
	else
		ret = emberd_migration_ended(m, j->kind == JOB_SEND, j->arg, ret, &err);
	if (j->waiter)
		emberd_reply(j->waiter, ret, result, &err); /* takes `result` */
	else
		json_object_put(result);
	free(j);
}

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

void emberd_job_info(struct mvm *m, struct json_object *info)
{
	struct json_object *o = NULL;
	struct err err = { { 0 } };

	if (!m->job)
		return;
	/* A migration's request is parked in ember, which answers progress meanwhile. */
	if (m->job->kind != JOB_SNAPSHOT &&
	    mvm_api(m, "GET", "/ember/migration", NULL, &o, &err) < 0) {
		o = json_object_new_object();
		json_object_object_add(o, "error", json_object_new_string(err.msg));
	}
	if (!o) { /* a snapshot: ember is busy writing it; its age is what there is */
		o = json_object_new_object();
		json_object_object_add(o, "name", json_object_new_string(m->job->arg));
		json_object_object_add(
			o, "elapsed_ms",
			json_object_new_int64((int64_t)(mgr_mono_ms() - m->job->started_ms)));
	}
	json_object_object_add(info, job_names[m->job->kind], o);
}

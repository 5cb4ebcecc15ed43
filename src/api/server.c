#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/server.h"
#include "sandbox/seccomp.h"
#include "util/log.h"

#define API_CONN_LIMIT	 16
#define API_CONN_TIMEOUT 60   /* seconds a silent client keeps its connection */
#define API_DRAIN_MS	 1000 /* how long ember's end waits for replies still being sent */

struct api_server {
	struct MHD_Daemon *d;
	struct api *api;
	int fd;
	bool filtered;	     /* the thread's seccomp filter is on */
	atomic_int replying; /* requests answered whose reply is not sent yet */
	/* A request waiting for the main thread (a migration), and its wake-up. */
	pthread_mutex_t park_lock;
	struct MHD_Connection *parked;
	bool woken; /* the wake came before the request was parked */
};

/* A request's body as it arrives. */
struct api_upload {
	char *buf;
	size_t len;
	bool too_big;
	bool replying; /* counted in api_server.replying */
	bool parked;   /* its reply waits for api_finish() */
};

static enum MHD_Result api_respond(struct MHD_Connection *conn, const struct api_reply *r)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (r->body)
		resp = MHD_create_response_from_buffer(strlen(r->body), r->body,
						       MHD_RESPMEM_MUST_FREE);
	else
		resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!resp) {
		free(r->body);
		return MHD_NO;
	}
	if (r->body)
		MHD_add_response_header(resp, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void api_take_data(struct api_upload *u, const char *data, size_t n)
{
	char *grown;

	if (u->too_big || u->len + n > API_MAX_BODY) {
		u->too_big = true;
		return;
	}
	grown = realloc(u->buf, u->len + n + 1);
	if (!grown) {
		u->too_big = true;
		return;
	}
	memcpy(grown + u->len, data, n);
	u->buf = grown;
	u->len += n;
	u->buf[u->len] = '\0';
}

/* The api's wake (main thread): the parked request goes on, or will not park at all. */
static void api_wake(void *cookie)
{
	struct api_server *s = cookie;

	pthread_mutex_lock(&s->park_lock);
	if (s->parked)
		MHD_resume_connection(s->parked);
	else
		s->woken = true;
	s->parked = NULL;
	pthread_mutex_unlock(&s->park_lock);
}

/* Suspends the request until api_wake(); false when the wake already came. */
static bool api_park(struct api_server *s, struct MHD_Connection *conn)
{
	bool park;

	pthread_mutex_lock(&s->park_lock);
	park = !s->woken;
	s->woken = false;
	if (park) {
		MHD_suspend_connection(conn);
		s->parked = conn;
	}
	pthread_mutex_unlock(&s->park_lock);
	return park;
}

static enum MHD_Result api_request(void *cls, struct MHD_Connection *conn, const char *url,
				   const char *method, const char *version, const char *upload_data,
				   size_t *upload_size, void **con_cls)
{
	struct api_server *s = cls;
	struct api_upload *u = *con_cls;
	struct err err = { { 0 } };
	struct api_reply r;

	/* libmicrohttpd's thread is not ours to start: it filters itself on its first request. */
	if (!s->filtered) {
		log_name_thread("api");
		if (seccomp_apply(SC_API, &err) < 0) {
			log_err("API: %s; the API stays closed", err.msg);
			return MHD_NO;
		}
		s->filtered = true;
	}
	if (!u) {
		u = calloc(1, sizeof(*u));
		*con_cls = u;
		return u ? MHD_YES : MHD_NO;
	}
	if (*upload_size) {
		api_take_data(u, upload_data, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (u->too_big) {
		r = (struct api_reply){ 413, strdup("{\"fault_message\":\"the request body is "
						    "larger than 65536 bytes\"}") };
		return api_respond(conn, &r);
	}
	if (u->parked) { /* woken: the main thread has answered */
		u->parked = false;
		api_finish(s->api, &r);
		return api_respond(conn, &r);
	}
	api_handle(s->api, method, url, u->buf ? u->buf : "", u->len, &r);
	u->replying = true;
	atomic_fetch_add(&s->replying, 1);
	if (r.status == 0) {
		u->parked = api_park(s, conn);
		if (u->parked)
			return MHD_YES;
		api_finish(s->api, &r);
	}
	return api_respond(conn, &r);
}

static void api_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct api_server *s = cls;
	struct api_upload *u = *con_cls;

	if (u) {
		if (u->parked) { /* its client went away: the result still must be collected */
			struct api_reply r;

			api_finish(s->api, &r);
			free(r.body);
		}
		if (u->replying)
			atomic_fetch_sub(&s->replying, 1);
		free(u->buf);
		free(u);
	}
	*con_cls = NULL;
}

static void api_mhd_log(void *cls, const char *fmt, va_list ap)
{
	/* libmicrohttpd's own complaints (a client that went away): not ours to print. */
}

int api_server_start(struct api *api, int fd, struct api_server **out, struct err *err)
{
	struct api_server *s = calloc(1, sizeof(*s));

	if (!s) {
		close(fd);
		return err_set(err, -ENOMEM, "out of memory");
	}
	s->api = api;
	s->fd = fd;
	pthread_mutex_init(&s->park_lock, NULL);
	api->wake = api_wake;
	api->wake_cookie = s;
	s->d = MHD_start_daemon(MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
					MHD_ALLOW_SUSPEND_RESUME,
				0, NULL, NULL, api_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
				MHD_OPTION_NOTIFY_COMPLETED, api_completed, s,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_CONN_LIMIT,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_CONN_TIMEOUT,
				MHD_OPTION_EXTERNAL_LOGGER, api_mhd_log, NULL, MHD_OPTION_END);
	if (!s->d) {
		close(fd);
		pthread_mutex_destroy(&s->park_lock);
		free(s);
		return err_set(err, -EIO, "cannot start the API's HTTP server");
	}
	*out = s;
	return 0;
}

void api_server_stop(struct api_server *s)
{
	struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

	if (!s)
		return;
	/*
	 * A reply the main thread's work decided (a migration that just ended
	 * this VM, a guest that powered off at once) still reaches its client.
	 */
	for (int waited = 0; atomic_load(&s->replying) > 0 && waited < API_DRAIN_MS; waited += 10)
		nanosleep(&tick, NULL);
	MHD_stop_daemon(s->d); /* closes the listening socket it was given */
	pthread_mutex_destroy(&s->park_lock);
	free(s);
}

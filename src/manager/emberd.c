/*
 * emberd: keeps VM definitions, runs each VM as an ember process, and
 * answers emberctl on two Unix sockets (read-write, and read-only for
 * monitoring). One thread, one event loop: client sockets, the ember
 * processes' pidfds, and the stop signals.
 *
 * It survives its own restart: running VMs are ember processes in their
 * own sessions, found again from their state files; one that ended while
 * emberd was away is reported as shut off or crashed from ember's log.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "manager/mgr.h"
#include "manager/store.h"
#include "util/log.h"
#include "util/unixsock.h"

#define EXIT_USAGE 2

static uint64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* --- events ------------------------------------------------------------------ */

void emberd_event(struct emberd *d, const char *event, const char *vm, const char *detail)
{
	struct json_object *o = json_object_new_object();
	const char *text;

	json_object_object_add(o, "event", json_object_new_string(event));
	json_object_object_add(o, "vm", json_object_new_string(vm));
	json_object_object_add(o, "time_ms", json_object_new_int64((int64_t)wall_ms()));
	if (detail)
		json_object_object_add(o, "detail", json_object_new_string(detail));
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (d->events_fd >= 0 && dprintf(d->events_fd, "%s\n", text) < 0)
		LOG_ONCE(LOG_WARN, "events.log: %s", strerror(errno));
	for (struct client *c = d->clients; c; c = c->next)
		if (c->events && !c->dead && mgr_write_line(c->h.fd, o) < 0)
			c->dead = true;
	json_object_put(o);
}

/* --- clients ------------------------------------------------------------------ */

static struct json_object *reply_ok(struct json_object *result)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(1));
	json_object_object_add(o, "result", result);
	return o;
}

static struct json_object *reply_error(const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

static void client_write(struct client *c, struct json_object *rep)
{
	if (mgr_write_line(c->h.fd, rep) < 0)
		c->dead = true;
	json_object_put(rep);
}

static void client_answer(struct emberd *d, struct client *c, const char *line)
{
	struct json_object *req = json_tokener_parse(line), *cmd, *args, *result = NULL;
	struct err err = { { 0 } };
	int ret;

	if (!req || !json_object_is_type(req, json_type_object) ||
	    !json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		client_write(c, reply_error("malformed request: want {\"cmd\": VERB, "
					    "\"args\": {...}}"));
	} else {
		args = json_object_object_get(req, "args");
		ret = emberd_command(d, c, json_object_get_string(cmd), args, &result, &err);
		if (ret != EMBERD_LATER)
			emberd_reply(c, ret, result, &err);
	}
	json_object_put(req);
}

static void client_process(struct client *c);

void emberd_reply(struct client *c, int ret, struct json_object *result, const struct err *err)
{
	bool waited = c->waits;

	c->waits = NULL;
	if (ret < 0) {
		json_object_put(result);
		client_write(c, reply_error(err && err->msg[0] ? err->msg : strerror(-ret)));
	} else {
		client_write(c, reply_ok(result));
	}
	if (waited)
		client_process(c); /* requests that came meanwhile */
}

static void client_drop(struct emberd *d, struct client *c)
{
	struct client **pp = &d->clients;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	console_detach(c);
	if (c->waits && c->waits->job)
		c->waits->job->waiter = NULL;
	evloop_del(&d->loop, &c->h);
	close(c->h.fd);
	lb_fini(&c->lb);
	free(c);
}

/* The requests in the client's buffer, one at a time (none while a reply is owed). */
static void client_process(struct client *c)
{
	char *line;
	int bad = 0;

	while (!c->dead && !c->console && !c->waits && (line = lb_next(&c->lb, &bad))) {
		client_answer(c->d, c, line);
		lb_consume(&c->lb);
	}
	if (c->console) { /* on the console: whatever came is keystrokes */
		console_input(c, c->lb.buf, c->lb.len);
		c->lb.len = 0;
		return;
	}
	if (bad) {
		struct json_object *rep = reply_error("request line too long");

		(void)!mgr_write_line(c->h.fd, rep);
		json_object_put(rep);
		c->dead = true;
	}
}

static void client_readable(struct ev_handler *h, uint32_t events)
{
	struct client *c = container_of(h, struct client, h);
	ssize_t n = lb_fill(&c->lb, h->fd);

	(void)events;
	if (n == -EAGAIN)
		return;
	if (n <= 0) {
		c->dead = true;
		return;
	}
	client_process(c);
}

static void accept_client(struct emberd *d, int lfd, bool ro)
{
	struct timeval tv = { .tv_sec = 5 };
	struct client *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	/* Replies are written whole; a client that stops reading is dropped after 5 s. */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	*c = (struct client){ .h = { .fd = fd, .cb = client_readable }, .d = d, .ro = ro };
	if (evloop_add(&d->loop, &c->h, EPOLLIN) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = d->clients;
	d->clients = c;
}

static void on_rw_listen(struct ev_handler *h, uint32_t events)
{
	(void)events;
	accept_client(container_of(h, struct emberd, rw_h), h->fd, false);
}

static void on_ro_listen(struct ev_handler *h, uint32_t events)
{
	(void)events;
	accept_client(container_of(h, struct emberd, ro_h), h->fd, true);
}

/* Clients that hung up or failed are freed after the batch, when no event names them. */
static void drop_dead_clients(struct evloop *l)
{
	struct emberd *d = container_of(l, struct emberd, loop);

	for (struct client *c = d->clients, *next; c; c = next) {
		next = c->next;
		if (c->dead)
			client_drop(d, c);
	}
}

static void on_signal(struct ev_handler *h, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(h->fd, &si, sizeof(si)) == sizeof(si))
		container_of(h, struct emberd, sig_h)->quit = true;
}

/* --- start-up --------------------------------------------------------------------- */

struct emberd_opts {
	const char *state_dir, *socket, *ro_socket, *group, *ember, *jailer;
	bool foreground;
};

static int usage_error(const char *msg)
{
	fprintf(stderr,
		"emberd: %s\nUsage: emberd [--state-dir DIR] [--socket PATH] "
		"[--ro-socket PATH] [--group NAME] [--ember PATH] [--jailer PATH] "
		"[--foreground]\n",
		msg);
	return EXIT_USAGE;
}

static int parse_args(int argc, char **argv, struct emberd_opts *o)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "ro-socket", required_argument, NULL, 'r' },
		{ "group", required_argument, NULL, 'g' },
		{ "ember", required_argument, NULL, 'e' },
		{ "jailer", required_argument, NULL, 'j' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o->state_dir = optarg;
			break;
		case 's':
			o->socket = optarg;
			break;
		case 'r':
			o->ro_socket = optarg;
			break;
		case 'g':
			o->group = optarg;
			break;
		case 'e':
			o->ember = optarg;
			break;
		case 'j':
			o->jailer = optarg;
			break;
		case 'f':
			o->foreground = true;
			break;
		case 'h':
			usage_error("manages ember VMs");
			return -1;
		case ':':
			return usage_error("an option needs a value");
		default:
			return usage_error("unknown option");
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument");
	return 0;
}

/* `prog` beside emberd (the build tree, or one install directory), unless `given` says. */
static char *find_sibling(const char *given, const char *prog)
{
	char self[PATH_MAX], *slash, *path = NULL;
	ssize_t n;

	if (given)
		return strdup(given);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		slash = strrchr(self, '/');
		*slash = '\0';
	}
	if (asprintf(&path, "%s/%s", n > 0 ? self : "/usr/bin", prog) < 0)
		return NULL;
	return path;
}

/* One emberd per state directory. */
static int lock_state_dir(struct emberd *d, struct err *err)
{
	char *path = store_path(d->dir, "emberd.lock");

	d->lock_fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
	free(path);
	if (d->lock_fd < 0)
		return err_set(err, -errno, "state directory: %s", strerror(errno));
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0)
		return err_set(err, -EBUSY, "another emberd uses the state directory '%s'", d->dir);
	return 0;
}

static int listen_on(const char *path, mode_t mode, const char *group, struct err *err)
{
	int fd = unix_listen(path, 64, mode, err);
	struct group *g;

	if (fd < 0) {
		err_prefix(err, "socket '%s': ", path);
		return fd;
	}
	if (group) {
		g = getgrnam(group);
		if (!g || chown(path, (uid_t)-1, g->gr_gid) < 0) {
			close(fd);
			return err_set(err, -EINVAL, "group '%s': %s", group,
				       g ? strerror(errno) : "no such group");
		}
	}
	return fd;
}

static int make_parent(const char *path)
{
	char *copy = strdup(path), *slash;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	slash = strrchr(copy, '/');
	if (slash && slash != copy) {
		*slash = '\0';
		if (mkdir(copy, 0755) < 0 && errno != EEXIST)
			ret = -errno;
	}
	free(copy);
	return ret;
}

static int setup_sockets(struct emberd *d, const struct emberd_opts *o, struct err *err)
{
	const char *ro = o->ro_socket;
	char *derived = NULL;
	int ret;

	if (!ro && o->socket) {
		/* Beside the read-write one: "x.sock" gives "x-ro.sock". */
		size_t n = strlen(o->socket);
		size_t base = n > 5 && !strcmp(o->socket + n - 5, ".sock") ? n - 5 : n;

		if (asprintf(&derived, "%.*s-ro.sock", (int)base, o->socket) < 0)
			return err_set(err, -ENOMEM, "out of memory");
		ro = derived;
	}
	d->rw_path = strdup(o->socket ? o->socket : MGR_SOCKET);
	d->ro_path = strdup(ro ? ro : MGR_RO_SOCKET);
	free(derived);
	if (!d->rw_path || !d->ro_path)
		return err_set(err, -ENOMEM, "out of memory");
	make_parent(d->rw_path);
	make_parent(d->ro_path);
	d->rw_h = (struct ev_handler){ .cb = on_rw_listen };
	d->ro_h = (struct ev_handler){ .cb = on_ro_listen };
	d->rw_h.fd = listen_on(d->rw_path, o->group ? 0660 : 0600, o->group, err);
	if (d->rw_h.fd < 0)
		return d->rw_h.fd;
	d->ro_h.fd = listen_on(d->ro_path, 0666, NULL, err);
	if (d->ro_h.fd < 0)
		return d->ro_h.fd;
	ret = evloop_add(&d->loop, &d->rw_h, EPOLLIN);
	return ret < 0 ? ret : evloop_add(&d->loop, &d->ro_h, EPOLLIN);
}

static int setup_signals(struct emberd *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->sig_h = (struct ev_handler){ .fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK),
					.cb = on_signal };
	return d->sig_h.fd < 0 ? -errno : evloop_add(&d->loop, &d->sig_h, EPOLLIN);
}

static int open_events_log(struct emberd *d)
{
	char *path = store_path(d->dir, "events.log");

	d->events_fd = path ? open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600) : -1;
	free(path);
	return d->events_fd < 0 ? -errno : 0;
}

static int emberd_init(struct emberd *d, const struct emberd_opts *o, struct err *err)
{
	int ret;

	d->dir = strdup(o->state_dir ? o->state_dir : MGR_STATE_DIR);
	d->ember = find_sibling(o->ember, "ember");
	d->jailer = find_sibling(o->jailer, "ember-jailer");
	if (!d->dir || !d->ember || !d->jailer)
		return err_set(err, -ENOMEM, "out of memory");
	ret = store_init(d->dir, err);
	if (ret == 0)
		ret = lock_state_dir(d, err);
	if (ret == 0 && open_events_log(d) < 0)
		ret = err_set(err, -errno, "events.log: %s", strerror(errno));
	if (ret == 0 && (ret = evloop_init(&d->loop)) < 0)
		err_set(err, ret, "epoll: %s", strerror(-ret));
	if (ret < 0)
		return ret;
	d->loop.after_batch = drop_dead_clients;
	ret = setup_signals(d);
	if (ret < 0)
		return err_set(err, ret, "signals: %s", strerror(-ret));
	ret = setup_sockets(d, o, err);
	if (ret == 0)
		ret = emberd_load_nets(d, err);
	return ret < 0 ? ret : emberd_load_vms(d, err);
}

static void emberd_fini(struct emberd *d)
{
	while (d->clients)
		client_drop(d, d->clients);
	emberd_forget_vms(d);  /* the VMs keep running; the next emberd finds them */
	emberd_forget_nets(d); /* and the networks stay up for them */
	if (d->rw_h.fd > 0) {
		close(d->rw_h.fd);
		unlink(d->rw_path);
	}
	if (d->ro_h.fd > 0) {
		close(d->ro_h.fd);
		unlink(d->ro_path);
	}
	if (d->sig_h.fd >= 0)
		close(d->sig_h.fd);
	evloop_fini(&d->loop);
	if (d->events_fd >= 0)
		close(d->events_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	free(d->rw_path);
	free(d->ro_path);
	free(d->ember);
	free(d->jailer);
	free(d->dir);
}

/* Without --foreground: detach, and tell the parent once the sockets listen. */
static int daemonize(int *ready_fd)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(p[1]);
		exit(read(p[0], &c, 1) == 1 ? EXIT_SUCCESS : EXIT_FAILURE);
	}
	close(p[0]);
	setsid();
	*ready_fd = p[1];
	return 0;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	if (fd > 2)
		close(fd);
}

int main(int argc, char **argv)
{
	struct emberd_opts o = { 0 };
	struct emberd d = { .lock_fd = -1,
			    .events_fd = -1,
			    .sig_h = { .fd = -1 },
			    .rw_h = { .fd = -1 },
			    .ro_h = { .fd = -1 },
			    .loop = { .epfd = -1 } };
	struct err err = { { 0 } };
	int ready = -1, ret = parse_args(argc, argv, &o);

	if (ret)
		return ret < 0 ? EXIT_SUCCESS : ret;
	log_name_thread("emberd");
	if (!o.foreground && daemonize(&ready) < 0) {
		fprintf(stderr, "emberd: cannot detach: %s\n", strerror(errno));
		return EXIT_FAILURE;
	}
	ret = emberd_init(&d, &o, &err);
	if (ret == 0) {
		emberd_autostart_nets(&d);
		emberd_autostart(&d);
		log_info("emberd: serving %s (read-only: %s), state in %s", d.rw_path, d.ro_path,
			 d.dir);
		if (ready >= 0) {
			(void)!write(ready, "", 1);
			close(ready);
			detach_stdio();
		}
		while (!d.quit && ret >= 0)
			ret = evloop_run_once(&d.loop, -1);
	} else {
		fprintf(stderr, "emberd: %s\n", err.msg);
	}
	emberd_fini(&d);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

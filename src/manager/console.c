/*
 * A VM's serial console under emberd: ember's stdin and stdout are one end
 * of a socket pair whose other end emberd keeps. Everything the guest
 * prints goes to run/NAME/console.log and to the one client attached with
 * `emberctl console`, whose keystrokes go to the guest. ember also serves
 * its console on run/NAME/console.sock (--console-sock): a restarted emberd
 * connects there and has the console back (what the guest printed while no
 * emberd listened is lost, to the log as well).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "util/file.h"
#include "util/log.h"
#include "util/unixsock.h"

/* The attached client's connection ends with its console (freed after the batch). */
static void console_drop_client(struct mvm *m)
{
	if (!m->attached)
		return;
	m->attached->dead = true;
	m->attached->console = NULL;
	m->attached = NULL;
}

static void console_readable(struct ev_handler *h, uint32_t events)
{
	struct mvm *m = container_of(h, struct mvm, con_h);
	char buf[4096];
	ssize_t n = read(h->fd, buf, sizeof(buf));

	(void)events;
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) { /* ember is gone (or gave its console to another client) */
		console_close(m);
		return;
	}
	if (m->con_log >= 0 && file_write_all(m->con_log, buf, (size_t)n) < 0)
		LOG_ONCE(LOG_WARN, "%s: console.log: %s", m->name, strerror(errno));
	if (m->attached && file_write_all(m->attached->h.fd, buf, (size_t)n) < 0)
		console_drop_client(m);
}

/* emberd's end of the console `fd` (taken), its output to `log_path`: from the start or on. */
static int console_watch(struct mvm *m, int fd, const char *log_path, bool append)
{
	int ret;

	m->con_log = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
			  0600);
	m->con_h = (struct ev_handler){ .fd = fd, .cb = console_readable };
	ret = m->con_log < 0 ? -errno : evloop_add(&m->d->loop, &m->con_h, EPOLLIN);
	if (ret < 0) {
		close(fd);
		if (m->con_log >= 0)
			close(m->con_log);
		m->con_log = m->con_h.fd = -1;
	}
	return ret;
}

int console_open(struct mvm *m, const char *log_path, int *peer, struct err *err)
{
	int sv[2], ret;

	*peer = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return err_set(err, -errno, "cannot make the VM's console: %s", strerror(errno));
	ret = fcntl(sv[0], F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
	if (ret < 0)
		close(sv[0]);
	else
		ret = console_watch(m, sv[0], log_path, false);
	if (ret < 0) {
		close(sv[1]);
		return err_set(err, ret, "cannot make the VM's console: %s", strerror(-ret));
	}
	*peer = sv[1];
	return 0;
}

int console_reconnect(struct mvm *m, const char *sock, const char *log_path, struct err *err)
{
	int fd = unix_connect(sock, SOCK_NONBLOCK), ret;

	ret = fd < 0 ? fd : console_watch(m, fd, log_path, true);
	return ret < 0 ? err_set(err, ret, "its console socket '%s': %s", sock, strerror(-ret)) : 0;
}

void console_close(struct mvm *m)
{
	if (m->con_h.fd >= 0) {
		evloop_del(&m->d->loop, &m->con_h);
		close(m->con_h.fd);
		m->con_h.fd = -1;
	}
	if (m->con_log >= 0)
		close(m->con_log);
	m->con_log = -1;
	console_drop_client(m);
}

int console_attach(struct mvm *m, struct client *c, struct err *err)
{
	if (m->con_h.fd < 0)
		return err_set(
			err, -ENODEV,
			"VM '%s' has no console (it is not running, or emberd could not reach "
			"its console socket: see its console.log and emberd's log)",
			m->name);
	if (m->attached)
		return err_set(err, -EBUSY, "VM '%s': another client has its console", m->name);
	m->attached = c;
	c->console = m;
	return 0;
}

/* The attached client typed: to the guest (what the socket cannot take now is dropped). */
void console_input(struct client *c, const char *data, size_t len)
{
	struct mvm *m = c->console;

	if (m && m->con_h.fd >= 0 && len && write(m->con_h.fd, data, len) < 0 && errno != EAGAIN)
		LOG_ONCE(LOG_WARN, "%s: console input: %s", m->name, strerror(errno));
}

void console_detach(struct client *c)
{
	if (c->console)
		c->console->attached = NULL;
	c->console = NULL;
}

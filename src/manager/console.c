/*
 * A VM's serial console under emberd: ember's stdin and stdout are the
 * slave side of a pty whose master emberd keeps. Everything the guest
 * prints goes to run/NAME/console.log and to the one client attached with
 * `emberctl console`, whose keystrokes go to the guest. The pty goes with
 * emberd: after an emberd restart a VM has its log but no console.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "manager/emberd.h"
#include "util/file.h"
#include "util/log.h"

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
	if (n <= 0) { /* EIO: the slave side closed, ember is gone */
		console_close(m);
		return;
	}
	if (m->con_log >= 0 && file_write_all(m->con_log, buf, (size_t)n) < 0)
		LOG_ONCE(LOG_WARN, "%s: console.log: %s", m->name, strerror(errno));
	if (m->attached && file_write_all(m->attached->h.fd, buf, (size_t)n) < 0)
		console_drop_client(m);
}

int console_open(struct mvm *m, const char *log_path, int *slave, struct err *err)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	const char *name;

	*slave = -1;
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0 || !(name = ptsname(master)))
		goto fail;
	*slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
	m->con_log = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (*slave < 0 || m->con_log < 0 || fcntl(master, F_SETFL, O_NONBLOCK) < 0)
		goto fail;
	m->con_h = (struct ev_handler){ .fd = master, .cb = console_readable };
	if (evloop_add(&m->d->loop, &m->con_h, EPOLLIN) < 0)
		goto fail;
	return 0;
fail:
	err_set(err, -errno, "cannot make the VM's console: %s", strerror(errno));
	if (*slave >= 0)
		close(*slave);
	if (master >= 0)
		close(master);
	if (m->con_log >= 0)
		close(m->con_log);
	*slave = m->con_log = -1;
	m->con_h.fd = -1;
	return -EIO;
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
			"VM '%s' has no console here (it is not running, or emberd restarted "
			"since it started: see its console.log)",
			m->name);
	if (m->attached)
		return err_set(err, -EBUSY, "VM '%s': another client has its console", m->name);
	m->attached = c;
	c->console = m;
	return 0;
}

/* The attached client typed: to the guest (what the pty cannot take now is dropped). */
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

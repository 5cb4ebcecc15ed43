#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/control.h"

int ctl_init(struct vmm_control *c)
{
	memset(c, 0, sizeof(*c));
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0)
		return -errno;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return 0;
}

void ctl_fini(struct vmm_control *c)
{
	if (c->efd < 0)
		return;
	close(c->efd);
	c->efd = -1;
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* With the lock: waits for the line (a posted command: -EBUSY), then hands `cmd` over. */
static int ctl_send(struct vmm_control *c, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	/* One caller at a time (the API thread is one thread, but be sure). */
	while (c->pending != CTL_NONE && !c->posted && !c->closed)
		pthread_cond_wait(&c->cond, &c->lock);
	if (c->closed)
		return err_set(err, -ESHUTDOWN, "the VMM is shutting down");
	if (c->pending != CTL_NONE)
		return err_set(err, -EBUSY, "busy: a migration is in progress");
	c->pending = cmd;
	c->arg = arg;
	c->answered = false;
	eventfd_write(c->efd, 1);
	return 0;
}

/* With the lock, once answered or closed: the result; frees the line. */
static int ctl_result(struct vmm_control *c, struct err *err)
{
	int ret;

	if (c->answered) {
		ret = c->result;
		if (ret < 0)
			err_set(err, ret, "%s", c->err.msg[0] ? c->err.msg : strerror(-ret));
	} else {
		ret = err_set(err, -ESHUTDOWN, "the VMM is shutting down");
	}
	c->pending = CTL_NONE;
	c->arg = NULL;
	c->posted = false;
	c->done = NULL;
	pthread_cond_broadcast(&c->cond);
	return ret;
}

int ctl_call(struct vmm_control *c, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = ctl_send(c, cmd, arg, err);
	if (ret == 0) {
		while (!c->answered && !c->closed)
			pthread_cond_wait(&c->cond, &c->lock);
		ret = ctl_result(c, err);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int ctl_post(struct vmm_control *c, enum ctl_cmd cmd, const void *arg, ctl_done_fn done,
	     void *cookie, struct err *err)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = ctl_send(c, cmd, arg, err);
	if (ret == 0) {
		c->posted = true;
		c->done = done;
		c->cookie = cookie;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int ctl_collect(struct vmm_control *c, struct err *err)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = c->posted ? ctl_result(c, err) : err_set(err, -EINVAL, "nothing was posted");
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Outside the lock: tells a posted command's owner that it can collect. */
static void ctl_notify(ctl_done_fn done, void *cookie)
{
	if (done)
		done(cookie);
}

enum ctl_cmd ctl_take(struct vmm_control *c, const void **arg)
{
	enum ctl_cmd cmd;
	eventfd_t v;

	eventfd_read(c->efd, &v); /* EAGAIN: nothing new */
	pthread_mutex_lock(&c->lock);
	cmd = c->answered ? CTL_NONE : c->pending;
	*arg = c->arg;
	pthread_mutex_unlock(&c->lock);
	return cmd;
}

void ctl_reply(struct vmm_control *c, int result, const struct err *err)
{
	ctl_done_fn done;
	void *cookie;

	pthread_mutex_lock(&c->lock);
	c->result = result;
	c->err.msg[0] = '\0';
	if (result < 0 && err)
		snprintf(c->err.msg, sizeof(c->err.msg), "%s", err->msg);
	c->answered = true;
	done = c->posted ? c->done : NULL;
	cookie = c->cookie;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	ctl_notify(done, cookie);
}

void ctl_close(struct vmm_control *c)
{
	ctl_done_fn done;
	void *cookie;

	pthread_mutex_lock(&c->lock);
	done = c->closed || !c->posted || c->answered ? NULL : c->done;
	cookie = c->cookie;
	c->closed = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	ctl_notify(done, cookie);
}

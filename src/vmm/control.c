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

int ctl_call(struct vmm_control *c, enum ctl_cmd cmd, const void *arg, struct err *err)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	/* One caller at a time (the API thread is one thread, but be sure). */
	while (c->pending != CTL_NONE && !c->closed)
		pthread_cond_wait(&c->cond, &c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return err_set(err, -ESHUTDOWN, "the VMM is shutting down");
	}
	c->pending = cmd;
	c->arg = arg;
	c->answered = false;
	eventfd_write(c->efd, 1);
	while (!c->answered && !c->closed)
		pthread_cond_wait(&c->cond, &c->lock);
	if (c->answered) {
		ret = c->result;
		if (ret < 0)
			err_set(err, ret, "%s", c->err.msg[0] ? c->err.msg : strerror(-ret));
	} else {
		ret = err_set(err, -ESHUTDOWN, "the VMM is shutting down");
	}
	c->pending = CTL_NONE;
	c->arg = NULL;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	return ret;
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
	pthread_mutex_lock(&c->lock);
	c->result = result;
	c->err.msg[0] = '\0';
	if (result < 0 && err)
		snprintf(c->err.msg, sizeof(c->err.msg), "%s", err->msg);
	c->answered = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

void ctl_close(struct vmm_control *c)
{
	pthread_mutex_lock(&c->lock);
	c->closed = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

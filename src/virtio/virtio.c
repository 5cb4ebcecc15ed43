#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "sandbox/seccomp.h"
#include "util/log.h"
#include "util/metrics.h"
#include "virtio/virtio.h"

int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
		    unsigned int num_queues, uint16_t max_queue_size, uint32_t config_size,
		    const struct virtio_dev_ops *ops, const struct gmem *gm)
{
	int ret;

	memset(d, 0, sizeof(*d));
	d->loop.epfd = -1;
	d->stop.fd = -1;
	d->wake.fd = -1;
	d->name = name;
	d->device_id = device_id;
	d->host_features = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	d->num_queues = num_queues;
	d->config_size = config_size;
	d->ops = ops;
	d->gmem = gm;
	d->queues = calloc(num_queues, sizeof(*d->queues));
	d->notify = calloc(num_queues, sizeof(*d->notify));
	if (!d->queues || !d->notify)
		return -ENOMEM;
	for (unsigned int i = 0; i < num_queues; i++) {
		d->queues[i].max_size = max_queue_size;
		d->notify[i] = (struct virtio_notify){ .h.fd = -1, .dev = d, .q = i };
	}
	ret = pthread_mutex_init(&d->lock, NULL);
	if (ret == 0)
		ret = pthread_cond_init(&d->thread_cond, NULL);
	if (ret)
		return -ret;
	ret = evloop_init(&d->loop);
	if (ret < 0)
		return ret;
	d->stop.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->wake.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return d->stop.fd < 0 || d->wake.fd < 0 ? -errno : 0;
}

void virtio_dev_fini(struct virtio_dev *d)
{
	virtio_dev_stop(d);
	if (d->stop.fd >= 0)
		close(d->stop.fd);
	if (d->wake.fd >= 0)
		close(d->wake.fd);
	evloop_fini(&d->loop);
	pthread_cond_destroy(&d->thread_cond);
	pthread_mutex_destroy(&d->lock);
	free(d->notify);
	free(d->queues);
}

static void virtio_notify_cb(struct ev_handler *h, uint32_t events)
{
	struct virtio_notify *n = container_of(h, struct virtio_notify, h);
	struct virtio_dev *d = n->dev;
	eventfd_t v;

	eventfd_read(h->fd, &v); /* EAGAIN: a spurious wake-up */
	pthread_mutex_lock(&d->lock);
	if (d->active && d->queues[n->q].ready)
		d->ops->queue_notify(d, n->q);
	pthread_mutex_unlock(&d->lock);
}

int virtio_dev_watch_notify(struct virtio_dev *d, unsigned int q, int fd)
{
	d->notify[q].h.fd = fd;
	d->notify[q].h.cb = virtio_notify_cb;
	return evloop_add(&d->loop, &d->notify[q].h, EPOLLIN);
}

static void virtio_stop_cb(struct ev_handler *h, uint32_t events)
{
	/* Nothing to do: the thread sees the readable fd and leaves its loop. */
}

/* The starter waits for the thread's filter: a device nobody serves must not look started. */
static void virtio_thread_report(struct virtio_dev *d, int status)
{
	pthread_mutex_lock(&d->lock);
	d->thread_status = status;
	d->thread_reported = true;
	pthread_cond_broadcast(&d->thread_cond);
	pthread_mutex_unlock(&d->lock);
}

static void virtio_wake_cb(struct ev_handler *h, uint32_t events)
{
	eventfd_t v;

	eventfd_read(h->fd, &v); /* the loop looks at pause_wanted next */
}

/* Between batches: wait here while a pause is wanted. */
static void virtio_park_if_paused(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	while (d->pause_wanted && !d->stopping) {
		d->parked = true;
		pthread_cond_broadcast(&d->thread_cond);
		pthread_cond_wait(&d->thread_cond, &d->lock);
	}
	d->parked = false;
	pthread_mutex_unlock(&d->lock);
}

static void *virtio_dev_thread(void *arg)
{
	struct virtio_dev *d = arg;
	struct err err = { { 0 } };
	eventfd_t v;

	log_name_thread(d->name);
	if (seccomp_apply(SC_DEVICE, &err) < 0) {
		log_err("%s: %s", d->name, err.msg);
		virtio_thread_report(d, -EPERM);
		return NULL;
	}
	virtio_thread_report(d, 0);
	while (eventfd_read(d->stop.fd, &v) < 0) {
		virtio_park_if_paused(d);
		if (evloop_run_once(&d->loop, -1) < 0) {
			log_err("%s: I/O thread: epoll failed: %s", d->name, strerror(errno));
			break;
		}
	}
	return NULL;
}

int virtio_dev_start(struct virtio_dev *d)
{
	sigset_t all, saved;
	int ret;

	d->stop.cb = virtio_stop_cb;
	d->wake.cb = virtio_wake_cb;
	ret = evloop_add(&d->loop, &d->stop, EPOLLIN);
	if (ret == 0)
		ret = evloop_add(&d->loop, &d->wake, EPOLLIN);
	if (ret < 0)
		return ret;
	d->stopping = false;
	/* The thread starts with every signal blocked: they are the main thread's to take. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	d->thread_reported = false;
	ret = pthread_create(&d->thread, NULL, virtio_dev_thread, d);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (ret)
		return -ret;
	pthread_mutex_lock(&d->lock);
	while (!d->thread_reported)
		pthread_cond_wait(&d->thread_cond, &d->lock);
	ret = d->thread_status;
	pthread_mutex_unlock(&d->lock);
	if (ret < 0) {
		pthread_join(d->thread, NULL);
		return ret;
	}
	d->thread_started = true;
	return 0;
}

void virtio_dev_stop(struct virtio_dev *d)
{
	if (!d->thread_started)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true; /* a parked thread must leave too */
	pthread_cond_broadcast(&d->thread_cond);
	pthread_mutex_unlock(&d->lock);
	eventfd_write(d->stop.fd, 1); /* cannot fail: the counter is far from full */
	pthread_join(d->thread, NULL);
	d->thread_started = false;
}

void virtio_dev_pause(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	if (d->ops->quiesce)
		d->ops->quiesce(d, true);
	d->pause_wanted = true;
	pthread_mutex_unlock(&d->lock);
	if (!d->thread_started)
		return;
	eventfd_write(d->wake.fd, 1);
	pthread_mutex_lock(&d->lock);
	while (!d->parked && !d->stopping)
		pthread_cond_wait(&d->thread_cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_resume(struct virtio_dev *d)
{
	pthread_mutex_lock(&d->lock);
	d->pause_wanted = false;
	pthread_cond_broadcast(&d->thread_cond);
	if (d->ops->quiesce)
		d->ops->quiesce(d, false);
	pthread_mutex_unlock(&d->lock);
}

void virtio_dev_kick(struct virtio_dev *d, unsigned int q)
{
	/* EAGAIN: a notification is pending already, which is all we want. */
	eventfd_write(d->notify[q].h.fd, 1);
}

void virtio_dev_signal_used(struct virtio_dev *d, unsigned int q)
{
	if (vq_should_signal(&d->queues[q]))
		d->tops->signal_used(d->transport, q);
}

void virtio_dev_broken(struct virtio_dev *d, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* Once per device: a hostile driver must not flood the log. */
	if (!d->broken_logged)
		log_warn("%s: %s; the device needs a reset", d->name, msg);
	d->broken_logged = true;
	d->active = false;
	METRIC_INC(virtio, needs_reset);
	d->tops->set_needs_reset(d->transport);
}

void virtio_config_read_bytes(const void *cfg, uint32_t cfg_size, uint32_t off, void *data,
			      uint32_t len)
{
	memset(data, 0, len);
	if (off < cfg_size)
		memcpy(data, (const uint8_t *)cfg + off, MIN(len, cfg_size - off));
}

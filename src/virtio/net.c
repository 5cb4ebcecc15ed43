#include <errno.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backends/tap.h"
#include "util/log.h"
#include "util/metrics.h"
#include "util/ratelimit.h"
#include "virtio/net.h"

#define NET_QUEUE_SIZE	    256
#define NET_RXQ		    0
#define NET_TXQ		    1
#define NET_MAX_SEGS	    64
#define NET_NUM_BUFFERS_OFF 10 /* num_buffers in struct virtio_net_hdr_v1 */

struct net_config {
	uint8_t mac[6];
	uint16_t status;
} __packed;

struct virtio_net {
	struct virtio_dev dev;
	int fd;
	bool tap;
	bool persistent;       /* the tap outlives our fd: a migration can hand it over */
	char ifname[IFNAMSIZ]; /* the tap's */
	struct ev_handler backend;
	bool backend_watched;
	bool backend_dead; /* no longer in the epoll set */
	uint8_t *frame;	   /* a received frame waiting for buffers, header first */
	size_t frame_len;  /* 0: none */
	bool frame_paid;   /* the waiting frame was charged to the receive limit */
	struct rate_limit rx_limit, tx_limit;
	struct ev_handler rx_timer, tx_timer;
	struct net_config config;
	struct iovec first[NET_MAX_SEGS]; /* the first receive chain of a frame */
	struct iovec iov[NET_MAX_SEGS];
	uint16_t heads[NET_QUEUE_SIZE];
	uint32_t lens[NET_QUEUE_SIZE];
};

static void net_watch_backend(struct virtio_net *n, bool on)
{
	if (n->backend_watched == on || n->backend_dead)
		return;
	if (evloop_mod(&n->dev.loop, &n->backend, on ? EPOLLIN : 0) == 0)
		n->backend_watched = on;
}

/* Transmit: each chain is a header and a frame, handed to the tap whole. */
static bool net_tx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->dev.queues[NET_TXQ];
	struct vq_chain c = { .iov = n->iov, .cap = NET_MAX_SEGS };
	int ret;

	if (n->tx_limit.waiting)
		return true; /* its timer resumes the queue */
	while ((ret = vq_next(vq, &c)) > 0) {
		if (!rate_limit_admit(&n->tx_limit,
				      c.out_len - MIN(c.out_len, VIRTIO_NET_HDR_LEN))) {
			vq_unpop(vq, 1);
			return true;
		}
		if (c.n_in || c.out_len <= VIRTIO_NET_HDR_LEN ||
		    c.out_len > VIRTIO_NET_MAX_FRAME_LEN) {
			METRIC_INC(net, tx_dropped);
			LOG_RATELIMIT(LOG_WARN, 5, "%s: dropped a malformed frame (%u bytes)",
				      n->dev.name, c.out_len);
		} else if (writev(n->fd, c.iov, (int)c.n_out) < 0) {
			METRIC_INC(net, tx_dropped);
			LOG_RATELIMIT(LOG_WARN, 5, "%s: tap write: %s", n->dev.name,
				      strerror(errno));
		} else {
			METRIC_INC(net, tx_frames);
			METRIC_ADD(net, tx_bytes, c.out_len - VIRTIO_NET_HDR_LEN);
		}
		vq_push(vq, c.head, 0);
	}
	return ret == 0;
}

/* The tap went away (deleted, or the far end of a test socket closed): stop watching it. */
static void net_backend_gone(struct virtio_net *n, const char *why)
{
	if (evloop_del(&n->dev.loop, &n->backend) == 0)
		log_warn("%s: the tap is gone (%s); the guest's link is dead", n->dev.name, why);
	n->backend_watched = false;
	n->backend_dead = true;
}

/* A frame from the tap unless one is already waiting; false when there is none. */
static bool net_rx_fetch(struct virtio_net *n)
{
	ssize_t r;

	while (!n->frame_len) {
		r = read(n->fd, n->frame, VIRTIO_NET_MAX_FRAME_LEN);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno != EAGAIN)
				LOG_RATELIMIT(LOG_WARN, 5, "%s: tap read: %s", n->dev.name,
					      strerror(errno));
			return false;
		}
		if (r == 0) {
			net_backend_gone(n, "end of file");
			return false;
		}
		if (r > VIRTIO_NET_HDR_LEN)
			n->frame_len = (size_t)r;
	}
	return true;
}

/* Takes one receive chain into `iov`; 1, 0 when there is none, -EINVAL when it is bad. */
static int net_rx_chain(struct virtio_net *n, struct iovec *iov, struct vq_chain *c)
{
	int ret;

	*c = (struct vq_chain){ .iov = iov, .cap = NET_MAX_SEGS };
	ret = vq_pop(&n->dev.queues[NET_RXQ], c);
	if (ret > 0 && (c->n_out || c->in_len < VIRTIO_NET_HDR_LEN))
		return -EINVAL; /* receive buffers are device-writable and hold a header */
	return ret < 0 ? -EINVAL : ret;
}

/*
 * Spreads the waiting frame over as many receive chains as it needs (one
 * without mergeable buffers). 1 when delivered or dropped, 0 when the guest
 * has too few buffers (none are consumed then), -EINVAL on a bad chain.
 */
static int net_rx_deliver(struct virtio_net *n)
{
	struct virtqueue *vq = &n->dev.queues[NET_RXQ];
	bool merge = virtio_has_feature(&n->dev, VIRTIO_NET_F_MRG_RXBUF);
	size_t off = 0;
	uint16_t k = 0, first_n = 0;
	struct vq_chain c;
	int ret;

	while (off < n->frame_len) {
		ret = net_rx_chain(n, k ? n->iov : n->first, &c);
		if (ret <= 0) {
			vq_unpop(vq, k);
			return ret;
		}
		if (k == 0)
			first_n = (uint16_t)c.n_in;
		n->lens[k] = (uint32_t)MIN((size_t)c.in_len, n->frame_len - off);
		iov_from_buf(c.iov, c.n_in, 0, n->frame + off, n->lens[k]);
		n->heads[k++] = c.head;
		off += n->lens[k - 1];
		/* A whole ring of buffers that cannot hold it will never do. */
		if (off < n->frame_len && (!merge || k == vq->size)) {
			/* The driver's buffers cannot hold it: drop the frame, keep the buffers. */
			LOG_RATELIMIT(LOG_WARN, 5,
				      "%s: dropped a %zu-byte frame: receive buffers "
				      "too small",
				      n->dev.name, n->frame_len - VIRTIO_NET_HDR_LEN);
			vq_unpop(vq, k);
			n->frame_len = 0;
			n->frame_paid = false;
			return 1;
		}
	}
	iov_from_buf(n->first, first_n, NET_NUM_BUFFERS_OFF, &k, sizeof(k));
	for (uint16_t i = 0; i < k; i++)
		vq_push(vq, n->heads[i], n->lens[i]);
	METRIC_INC(net, rx_frames);
	METRIC_ADD(net, rx_bytes, n->frame_len - VIRTIO_NET_HDR_LEN);
	n->frame_len = 0;
	n->frame_paid = false;
	return 1;
}

/* Moves frames from the tap to the guest until one side runs dry. */
static bool net_rx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->dev.queues[NET_RXQ];
	int ret;

	while (!n->rx_limit.waiting && net_rx_fetch(n)) {
		if (!n->frame_paid &&
		    !rate_limit_admit(&n->rx_limit, n->frame_len - VIRTIO_NET_HDR_LEN))
			break; /* its timer comes back for this frame */
		n->frame_paid = true;
		ret = net_rx_deliver(n);
		if (ret < 0)
			return false;
		/* Too few buffers: ask for a notification, and try again if more raced in. */
		if (ret == 0 && !vq_want_more(vq))
			break;
	}
	/* A waiting frame (no buffers, or over the limit): leave the tap unread meanwhile. */
	net_watch_backend(n, n->frame_len == 0);
	return true;
}

static void net_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);
	bool ok = q == NET_TXQ ? net_tx(n) : net_rx(n);

	if (!ok)
		virtio_dev_broken(d, "bad descriptor chain in the %s queue",
				  q == NET_TXQ ? "transmit" : "receive");
	virtio_dev_signal_used(d, q);
}

static void net_backend_ready(struct ev_handler *h, uint32_t events)
{
	struct virtio_net *n = container_of(h, struct virtio_net, backend);

	pthread_mutex_lock(&n->dev.lock);
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* epoll reports these whatever we asked for: without this, a spin. */
		net_backend_gone(n, "error or hang-up");
	} else if (n->dev.active && n->dev.queues[NET_RXQ].ready) {
		net_queue_notify(&n->dev, NET_RXQ);
	} else {
		net_watch_backend(n, false);
	}
	pthread_mutex_unlock(&n->dev.lock);
}

static void net_limit_expired(struct virtio_net *n, struct rate_limit *rl, unsigned int q)
{
	pthread_mutex_lock(&n->dev.lock);
	rate_limit_clear(rl);
	if (n->dev.active && n->dev.queues[q].ready)
		net_queue_notify(&n->dev, q);
	pthread_mutex_unlock(&n->dev.lock);
}

static void net_rx_timer(struct ev_handler *h, uint32_t events)
{
	struct virtio_net *n = container_of(h, struct virtio_net, rx_timer);

	net_limit_expired(n, &n->rx_limit, NET_RXQ);
}

static void net_tx_timer(struct ev_handler *h, uint32_t events)
{
	struct virtio_net *n = container_of(h, struct virtio_net, tx_timer);

	net_limit_expired(n, &n->tx_limit, NET_TXQ);
}

static void net_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);

	virtio_config_read_bytes(&n->config, sizeof(n->config), off, data, len);
}

/* The tap may hand us what the guest accepts, and nothing more. */
static unsigned int net_tun_offloads(const struct virtio_dev *d)
{
	unsigned int f = 0;

	if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_CSUM)) {
		f |= TUN_F_CSUM;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO4))
			f |= TUN_F_TSO4;
		if (virtio_has_feature(d, VIRTIO_NET_F_GUEST_TSO6))
			f |= TUN_F_TSO6;
	}
	return f;
}

static int net_activate(struct virtio_dev *d)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);
	int ret;

	if (n->tap) {
		ret = tap_set_offload(n->fd, net_tun_offloads(d));
		if (ret < 0)
			return ret;
	}
	net_watch_backend(n, true);
	return 0;
}

static void net_reset(struct virtio_dev *d)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);

	net_watch_backend(n, false);
	n->frame_len = 0;
	n->frame_paid = false;
	rate_limit_clear(&n->rx_limit);
	rate_limit_clear(&n->tx_limit);
	/* Frames already in the tap must not carry offloads the next driver may refuse. */
	if (n->tap && tap_set_offload(n->fd, 0) < 0)
		log_warn("%s: cannot reset the tap's offloads: %s", n->dev.name, strerror(errno));
}

static void net_destroy(struct virtio_dev *d)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);

	virtio_dev_fini(d);
	rate_limit_fini(&n->tx_limit);
	rate_limit_fini(&n->rx_limit);
	if (n->fd >= 0)
		close(n->fd);
	free(n->frame);
	free(n);
}

/* A migration that failed past the hand-over: the tap again, as the guest left it. */
static int net_take_back(struct virtio_net *n)
{
	struct err err = { { 0 } };
	int fd = -1;
	int ret = tap_open(n->ifname, &fd, &err);

	if (ret == 0 && n->dev.active)
		ret = tap_set_offload(fd, net_tun_offloads(&n->dev));
	if (ret == 0) {
		n->backend.fd = fd;
		ret = evloop_add(&n->dev.loop, &n->backend, n->backend_watched ? EPOLLIN : 0);
	}
	if (ret == 0) {
		n->fd = fd;
		return 0;
	}
	log_err("%s: cannot attach to tap '%s' again: %s; the guest's link is dead", n->dev.name,
		n->ifname, err.msg[0] ? err.msg : strerror(-ret));
	if (fd >= 0)
		close(fd);
	n->backend.fd = -1;
	n->backend_watched = false;
	n->backend_dead = true;
	return ret;
}

/*
 * Migration, with the VM paused: a persistent tap is let go of so that a
 * receiver on this host can attach to it, and attached to again if the
 * migration fails. A tap ember made itself is kept (closing it would
 * destroy it): a receiver here needs another one (network_overrides).
 */
static int net_handover(struct virtio_dev *d, bool release)
{
	struct virtio_net *n = container_of(d, struct virtio_net, dev);

	if (!n->persistent || n->backend_dead)
		return 0;
	if (!release)
		return n->fd < 0 ? net_take_back(n) : 0;
	if (n->fd >= 0) {
		evloop_del(&d->loop, &n->backend);
		close(n->fd);
		n->fd = n->backend.fd = -1;
	}
	return 0;
}

static const struct virtio_dev_ops net_ops = {
	.read_config = net_read_config,
	.activate = net_activate,
	.reset = net_reset,
	.queue_notify = net_queue_notify,
	.destroy = net_destroy,
	.handover = net_handover,
};

static int net_limits_init(struct virtio_net *n, const struct virtio_net_opts *o)
{
	int ret = rate_limit_init(&n->rx_limit, o->bw, o->pps, o->clock_ns);

	if (ret == 0)
		ret = rate_limit_init(&n->tx_limit, o->bw, o->pps, o->clock_ns);
	n->rx_timer = (struct ev_handler){ .fd = n->rx_limit.timer_fd, .cb = net_rx_timer };
	n->tx_timer = (struct ev_handler){ .fd = n->tx_limit.timer_fd, .cb = net_tx_timer };
	if (ret == 0)
		ret = evloop_add(&n->dev.loop, &n->rx_timer, EPOLLIN);
	if (ret == 0)
		ret = evloop_add(&n->dev.loop, &n->tx_timer, EPOLLIN);
	return ret;
}

static uint64_t net_features(const struct virtio_net_opts *o)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX) |
		     VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		     VIRTIO_BIT(VIRTIO_NET_F_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) |
		     VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);

	return o->has_mac ? f | VIRTIO_BIT(VIRTIO_NET_F_MAC) : f;
}

int virtio_net_create_fd(const struct gmem *gm, int fd, bool tap, const struct virtio_net_opts *o,
			 struct virtio_dev **out, struct err *err)
{
	struct virtio_net *n = calloc(1, sizeof(*n));
	int ret;

	if (!n) {
		close(fd);
		return err_set(err, -ENOMEM, "virtio-net: out of memory");
	}
	n->fd = fd;
	n->tap = tap;
	n->persistent = tap && tap_is_persistent(fd);
	if (tap)
		snprintf(n->ifname, sizeof(n->ifname), "%s", o->tap);
	n->rx_limit.timer_fd = n->tx_limit.timer_fd = -1;
	ret = virtio_dev_init(&n->dev, "virtio-net", VIRTIO_ID_NET, net_features(o), 2,
			      NET_QUEUE_SIZE, sizeof(n->config), &net_ops, gm);
	n->frame = malloc(VIRTIO_NET_MAX_FRAME_LEN);
	if (ret == 0 && !n->frame)
		ret = -ENOMEM;
	if (o->has_mac)
		memcpy(n->config.mac, o->mac, sizeof(n->config.mac));
	n->config.status = VIRTIO_NET_S_LINK_UP;
	n->backend = (struct ev_handler){ .fd = fd, .cb = net_backend_ready };
	if (ret == 0)
		ret = evloop_add(&n->dev.loop, &n->backend, 0);
	if (ret == 0)
		ret = net_limits_init(n, o);
	if (ret < 0) {
		net_destroy(&n->dev);
		return err_set(err, ret, "virtio-net: %s", strerror(-ret));
	}
	*out = &n->dev;
	return 0;
}

int virtio_net_create(const struct gmem *gm, const struct virtio_net_opts *o,
		      struct virtio_dev **out, struct err *err)
{
	int fd, ret;

	ret = tap_open(o->tap, &fd, err);
	if (ret < 0)
		return ret;
	return virtio_net_create_fd(gm, fd, true, o, out, err);
}

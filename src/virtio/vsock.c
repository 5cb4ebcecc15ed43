#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/metrics.h"
#include "util/ratelimit.h"
#include "util/unixsock.h"
#include "virtio/vsock.h"

#define VSOCK_QUEUE_SIZE 256
#define VSOCK_RXQ	 0
#define VSOCK_TXQ	 1
#define VSOCK_EVQ	 2
#define VSOCK_MAX_SEGS	 64
#define VSOCK_MAX_CONNS	 1024
#define VSOCK_MAX_RST	 256
#define VSOCK_MAX_READ	 (64 * 1024) /* payload of one packet to the guest */
#define VSOCK_LINE_MAX	 32	     /* "CONNECT 4294967295\n" fits */
#define VSOCK_PORT_FIRST (1u << 30)  /* host ports for host-initiated connections */
#define VSOCK_TICK_NS	 (250 * 1000 * 1000ULL)
/* How long a host program may take to say CONNECT, and the guest to answer a request. */
#define VSOCK_HANDSHAKE_NS (10 * 1000 * 1000 * 1000ULL)
#define VSOCK_REQUEST_MS   5000

#define VSOCK_TYPE_STREAM	1
#define VSOCK_OP_REQUEST	1
#define VSOCK_OP_RESPONSE	2
#define VSOCK_OP_RST		3
#define VSOCK_OP_SHUTDOWN	4
#define VSOCK_OP_RW		5
#define VSOCK_OP_CREDIT_UPDATE	6
#define VSOCK_OP_CREDIT_REQUEST 7
#define VSOCK_SHUTDOWN_RCV	1
#define VSOCK_SHUTDOWN_SEND	2
#define VSOCK_SHUTDOWN_BOTH	3

/* Control packets a connection owes the guest. */
#define PEND_REQUEST  1u
#define PEND_RESPONSE 2u
#define PEND_SHUTDOWN 4u
#define PEND_CREDIT   8u

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __packed;

#define VSOCK_HDR_LEN sizeof(struct vsock_hdr)

enum conn_state {
	CONN_HANDSHAKE,	 /* host connected, its CONNECT line not read yet */
	CONN_CONNECTING, /* a request to the guest is out (or owed), no answer yet */
	CONN_OPEN,
};

struct vsock_conn {
	struct ev_handler h; /* the host's socket; fd -1 once closed */
	struct virtio_vsock *v;
	unsigned int slot;
	bool dead;		 /* ended; freed after the I/O thread's batch */
	struct vsock_conn *next; /* on the list of the dead */
	enum conn_state state;
	uint32_t guest_port, host_port;
	bool registered;  /* h.fd is in the epoll set */
	uint32_t watched; /* the events asked for */
	unsigned int pending;
	uint32_t shutdown_out; /* flags of the SHUTDOWN owed to the guest */
	uint32_t guest_shut;   /* what the guest said it will no longer do */
	bool host_readable;    /* read until EAGAIN before asking epoll again */
	bool host_eof, host_hup, host_shut_wr;
	uint64_t deadline; /* CONN_HANDSHAKE, CONN_CONNECTING */
	/* Guest to host: bytes taken from the guest, written to the host, told to the guest. */
	uint32_t rx_cnt, fwd_cnt, told_fwd_cnt;
	uint8_t *buf; /* what the host program has not taken yet */
	uint32_t buf_off, buf_len;
	/* Host to guest: bytes sent, and the guest's buffer as it last described it. */
	uint32_t tx_cnt, peer_buf_alloc, peer_fwd_cnt;
	char line[VSOCK_LINE_MAX];
	unsigned int line_len;
};

struct vsock_rst {
	uint64_t cid; /* the address the guest used: the reset comes from there */
	uint32_t guest_port, host_port;
};

struct virtio_vsock {
	struct virtio_dev dev;
	uint64_t cid; /* config space: le64 guest_cid */
	char uds[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ev_handler listener;
	bool listener_paused; /* out of fds: accepting again once a connection ends */
	struct ev_handler timer;
	bool timer_armed;
	bool rx_starved; /* the guest has no receive buffers: stop reading hosts */
	uint32_t next_port;
	uint64_t request_ns;
	struct vsock_conn *conns[VSOCK_MAX_CONNS];
	unsigned int nr_slots; /* conns[] is used below this */
	struct vsock_conn *dead;
	struct vsock_rst rst[VSOCK_MAX_RST];
	unsigned int rst_head, rst_len;
	struct iovec iov[VSOCK_MAX_SEGS];
	struct iovec slice[VSOCK_MAX_SEGS];
};

/* --- connections ------------------------------------------------------- */

static bool conn_guest_knows(const struct vsock_conn *k);

static struct vsock_conn *vsock_find(struct virtio_vsock *v, uint32_t guest_port,
				     uint32_t host_port)
{
	for (unsigned int i = 0; i < v->nr_slots; i++) {
		struct vsock_conn *k = v->conns[i];

		/* Only what the guest has heard of is its to name (ports of a handshake are 0). */
		if (k && conn_guest_knows(k) && k->guest_port == guest_port &&
		    k->host_port == host_port)
			return k;
	}
	return NULL;
}

static void conn_host_ready(struct ev_handler *h, uint32_t events);

/* A connection for host socket `fd` (taken over, closed on failure). */
static struct vsock_conn *conn_new(struct virtio_vsock *v, int fd, enum conn_state state)
{
	struct vsock_conn *k = NULL;
	unsigned int slot = 0;

	while (slot < VSOCK_MAX_CONNS && v->conns[slot])
		slot++;
	if (slot < VSOCK_MAX_CONNS)
		k = calloc(1, sizeof(*k));
	if (!k) {
		LOG_RATELIMIT(LOG_WARN, 5, "%s: too many connections; refusing one", v->dev.name);
		close(fd);
		return NULL;
	}
	*k = (struct vsock_conn){
		.h = { .fd = fd, .cb = conn_host_ready }, .v = v, .slot = slot, .state = state
	};
	if (evloop_add(&v->dev.loop, &k->h, 0) < 0) {
		close(fd);
		free(k);
		return NULL;
	}
	k->registered = true;
	v->conns[slot] = k;
	v->nr_slots = MAX(v->nr_slots, slot + 1);
	return k;
}

static void conn_close_host(struct vsock_conn *k)
{
	if (k->registered)
		evloop_del(&k->v->dev.loop, &k->h);
	k->registered = false;
	if (k->h.fd >= 0)
		close(k->h.fd);
	k->h.fd = -1;
}

/* Whether the guest knows of this connection (and so must hear of its end). */
static bool conn_guest_knows(const struct vsock_conn *k)
{
	return k->state == CONN_OPEN ||
	       (k->state == CONN_CONNECTING && !(k->pending & PEND_REQUEST));
}

static void vsock_queue_rst(struct virtio_vsock *v, uint64_t cid, uint32_t guest_port,
			    uint32_t host_port)
{
	if (v->rst_len == VSOCK_MAX_RST) {
		LOG_RATELIMIT(LOG_WARN, 5, "%s: too many resets owed to the guest; dropping one",
			      v->dev.name);
		return;
	}
	METRIC_INC(vsock, resets);
	v->rst[(v->rst_head + v->rst_len++) % VSOCK_MAX_RST] =
		(struct vsock_rst){ cid, guest_port, host_port };
}

/*
 * Ends the connection without a word to the guest: its socket closes now,
 * the memory goes once the I/O thread's batch of events is over.
 */
static void conn_end(struct vsock_conn *k)
{
	struct virtio_vsock *v = k->v;

	conn_close_host(k);
	v->conns[k->slot] = NULL;
	while (v->nr_slots && !v->conns[v->nr_slots - 1])
		v->nr_slots--;
	k->dead = true;
	k->next = v->dead;
	v->dead = k;
	if (v->listener_paused && evloop_mod(&v->dev.loop, &v->listener, EPOLLIN) == 0)
		v->listener_paused = false;
}

/* Ends the connection with a reset to the guest if it knew of it. */
static void conn_kill(struct vsock_conn *k)
{
	if (conn_guest_knows(k))
		vsock_queue_rst(k->v, VSOCK_HOST_CID, k->guest_port, k->host_port);
	conn_end(k);
}

static void vsock_free_dead(struct virtio_vsock *v)
{
	while (v->dead) {
		struct vsock_conn *k = v->dead;

		v->dead = k->next;
		free(k->buf);
		free(k);
	}
}

static void vsock_after_batch(struct evloop *l)
{
	struct virtio_vsock *v = container_of(l, struct virtio_vsock, dev.loop);

	pthread_mutex_lock(&v->dev.lock);
	vsock_free_dead(v);
	pthread_mutex_unlock(&v->dev.lock);
}

/* Bytes the guest has room for on this connection. */
static uint32_t conn_peer_credit(const struct vsock_conn *k)
{
	uint32_t in_flight = k->tx_cnt - k->peer_fwd_cnt;

	return in_flight > k->peer_buf_alloc ? 0 : k->peer_buf_alloc - in_flight;
}

static bool conn_may_read_host(const struct vsock_conn *k)
{
	return k->state == CONN_OPEN && k->h.fd >= 0 && !k->host_eof &&
	       !(k->guest_shut & VSOCK_SHUTDOWN_RCV) && conn_peer_credit(k) > 0;
}

/* Asks epoll for what the connection can use now, and nothing else (no spinning). */
static void conn_rearm(struct vsock_conn *k)
{
	uint32_t want = 0;

	if (!k->registered)
		return;
	if (k->state == CONN_HANDSHAKE)
		want = EPOLLIN;
	if (conn_may_read_host(k) && !k->host_readable && !k->v->rx_starved)
		want |= EPOLLIN;
	if (k->buf_len)
		want |= EPOLLOUT;
	if (want != k->watched && evloop_mod(&k->v->dev.loop, &k->h, want) == 0)
		k->watched = want;
}

static ssize_t conn_send(struct vsock_conn *k, const struct iovec *iov, unsigned int n)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	ssize_t r;

	do
		r = sendmsg(k->h.fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	return r < 0 ? -errno : r;
}

/* The guest has been told less room than there is: say how much there is now. */
static void conn_note_forwarded(struct vsock_conn *k, uint32_t n)
{
	uint32_t seen_free = VSOCK_CONN_BUF - (k->rx_cnt - k->told_fwd_cnt);

	k->fwd_cnt += n;
	if (k->fwd_cnt != k->told_fwd_cnt && seen_free < VSOCK_CONN_BUF / 2)
		k->pending |= PEND_CREDIT;
}

/*
 * Settles a connection after anything changed: passes the guest's shutdown
 * on once its data reached the host, and ends the connection once neither
 * side has anything more to say. Returns false when it ended.
 */
static bool conn_settle(struct vsock_conn *k)
{
	if (k->buf_len && k->h.fd < 0) {
		conn_kill(k); /* the host program is gone with data still owed to it */
		return false;
	}
	if (!k->buf_len && (k->guest_shut & VSOCK_SHUTDOWN_SEND) && !k->host_shut_wr &&
	    k->h.fd >= 0) {
		shutdown(k->h.fd, SHUT_WR);
		k->host_shut_wr = true;
	}
	if (!k->buf_len && k->guest_shut == VSOCK_SHUTDOWN_BOTH) {
		conn_kill(k);
		return false;
	}
	conn_rearm(k);
	return true;
}

/* Writes what waits in the buffer to the host program. */
static void conn_flush(struct vsock_conn *k)
{
	struct iovec iov = { k->buf + k->buf_off, k->buf_len };
	ssize_t r;

	if (!k->buf_len || k->h.fd < 0)
		return;
	r = conn_send(k, &iov, 1);
	if (r < 0) {
		conn_close_host(k);
		return;
	}
	k->buf_off += (uint32_t)r;
	k->buf_len -= (uint32_t)r;
	if (!k->buf_len)
		k->buf_off = 0;
	conn_note_forwarded(k, (uint32_t)r);
}

/* Keeps what the host program did not take, after what already waits. */
static int conn_buffer(struct vsock_conn *k, const struct iovec *iov, unsigned int n, size_t skip,
		       uint32_t len)
{
	if (!k->buf) {
		k->buf = malloc(VSOCK_CONN_BUF);
		if (!k->buf)
			return -ENOMEM;
	}
	if (k->buf_off + k->buf_len + len > VSOCK_CONN_BUF) {
		memmove(k->buf, k->buf + k->buf_off, k->buf_len);
		k->buf_off = 0;
	}
	iov_to_buf(iov, n, skip, k->buf + k->buf_off + k->buf_len, len);
	k->buf_len += len;
	return 0;
}

/* Data from the guest for the host program; false when the connection had to end. */
static bool conn_from_guest(struct vsock_conn *k, const struct iovec *iov, unsigned int n,
			    uint32_t len)
{
	ssize_t sent = 0;

	if (len > VSOCK_CONN_BUF - k->buf_len) {
		LOG_RATELIMIT(LOG_WARN, 5, "%s: the guest sent beyond its credit; resetting",
			      k->v->dev.name);
		conn_kill(k);
		return false;
	}
	k->rx_cnt += len;
	METRIC_ADD(vsock, tx_bytes, len);
	if (!k->buf_len && k->h.fd >= 0) {
		sent = conn_send(k, iov, n);
		if (sent < 0) {
			conn_kill(k);
			return false;
		}
		conn_note_forwarded(k, (uint32_t)sent);
	}
	if ((uint32_t)sent < len && conn_buffer(k, iov, n, (size_t)sent, len - (uint32_t)sent)) {
		conn_kill(k);
		return false;
	}
	return true;
}

/* --- packets to the guest (receive queue) ------------------------------ */

static void vsock_hdr_to_guest(const struct virtio_vsock *v, struct vsock_hdr *h,
			       uint32_t guest_port, uint32_t host_port, uint16_t op)
{
	*h = (struct vsock_hdr){ .src_cid = VSOCK_HOST_CID,
				 .dst_cid = v->cid,
				 .src_port = host_port,
				 .dst_port = guest_port,
				 .type = VSOCK_TYPE_STREAM,
				 .op = op };
}

/* The host socket said end of file, or failed: tell the guest, once its data is out. */
static void conn_host_ended(struct vsock_conn *k)
{
	k->host_eof = true;
	k->host_readable = false;
	k->shutdown_out |= VSOCK_SHUTDOWN_SEND;
	if (k->host_hup) {
		/* Nothing can reach the program any more: what waits for it ends the connection. */
		k->shutdown_out |= VSOCK_SHUTDOWN_RCV;
		conn_close_host(k);
	}
	k->pending |= PEND_SHUTDOWN;
}

/* Reads host data into the chain after the header; the payload length, 0 for none now. */
static uint32_t conn_read_host(struct vsock_conn *k, const struct vq_chain *c)
{
	struct virtio_vsock *v = k->v;
	uint32_t room = MIN(MIN(c->in_len - (uint32_t)VSOCK_HDR_LEN, conn_peer_credit(k)),
			    (uint32_t)VSOCK_MAX_READ);
	int n = iov_slice(c->iov, c->n_in, VSOCK_HDR_LEN, room, v->slice, VSOCK_MAX_SEGS);
	ssize_t r;

	if (n <= 0 || room == 0)
		return 0;
	do
		r = readv(k->h.fd, v->slice, n);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		METRIC_ADD(vsock, rx_bytes, r);
		return (uint32_t)r;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		k->host_readable = false;
		return 0;
	}
	if (r < 0)
		k->host_hup = true; /* ECONNRESET and the like: nothing more either way */
	conn_host_ended(k);
	return 0;
}

static bool conn_has_rx_work(const struct vsock_conn *k)
{
	return (k->pending & (PEND_REQUEST | PEND_RESPONSE | PEND_SHUTDOWN | PEND_CREDIT)) ||
	       (k->host_readable && conn_may_read_host(k));
}

/*
 * The next packet the connection owes the guest, into chain `c`: its
 * length, or 0 when it has nothing after all (the host had no data).
 */
static uint32_t conn_rx_packet(struct vsock_conn *k, const struct vq_chain *c)
{
	struct vsock_hdr h;
	uint32_t len = 0;

	vsock_hdr_to_guest(k->v, &h, k->guest_port, k->host_port, 0);
	if (k->pending & PEND_REQUEST) {
		k->pending &= ~PEND_REQUEST;
		h.op = VSOCK_OP_REQUEST;
	} else if (k->pending & PEND_RESPONSE) {
		k->pending &= ~PEND_RESPONSE;
		h.op = VSOCK_OP_RESPONSE;
	} else if (k->host_readable && conn_may_read_host(k) && (len = conn_read_host(k, c))) {
		h.op = VSOCK_OP_RW;
		h.len = len;
		k->tx_cnt += len;
	} else if (k->pending & PEND_SHUTDOWN) {
		k->pending &= ~PEND_SHUTDOWN;
		h.op = VSOCK_OP_SHUTDOWN;
		h.flags = k->shutdown_out;
	} else if (k->pending & PEND_CREDIT) {
		h.op = VSOCK_OP_CREDIT_UPDATE;
	} else {
		return 0;
	}
	/* Every packet carries the credit. */
	h.buf_alloc = VSOCK_CONN_BUF;
	h.fwd_cnt = k->told_fwd_cnt = k->fwd_cnt;
	k->pending &= ~PEND_CREDIT;
	iov_from_buf(c->iov, c->n_in, 0, &h, sizeof(h));
	return (uint32_t)VSOCK_HDR_LEN + len;
}

/* A receive chain: 1, 0 when the guest has none posted, -EINVAL when it is malformed. */
static int vsock_rx_chain(struct virtio_vsock *v, struct vq_chain *c)
{
	int ret;

	*c = (struct vq_chain){ .iov = v->iov, .cap = VSOCK_MAX_SEGS };
	ret = vq_next(&v->dev.queues[VSOCK_RXQ], c);
	if (ret > 0 && (c->n_out || c->in_len < VSOCK_HDR_LEN))
		return -EINVAL; /* receive buffers are device-writable and hold a header */
	if (ret == 0)
		v->rx_starved = true;
	return ret < 0 ? -EINVAL : ret;
}

static int vsock_rx_resets(struct virtio_vsock *v)
{
	struct vq_chain c;
	struct vsock_hdr h;
	int ret;

	while (v->rst_len) {
		ret = vsock_rx_chain(v, &c);
		if (ret <= 0)
			return ret;
		vsock_hdr_to_guest(v, &h, v->rst[v->rst_head].guest_port,
				   v->rst[v->rst_head].host_port, VSOCK_OP_RST);
		h.src_cid = v->rst[v->rst_head].cid;
		iov_from_buf(c.iov, c.n_in, 0, &h, sizeof(h));
		vq_push(&v->dev.queues[VSOCK_RXQ], c.head, VSOCK_HDR_LEN);
		v->rst_head = (v->rst_head + 1) % VSOCK_MAX_RST;
		v->rst_len--;
	}
	return 1;
}

/*
 * One round over the connections, a packet each (so one busy connection
 * cannot starve the others): 1 if any sent one, 0 if none did or the guest
 * ran out of buffers, -EINVAL on a bad chain.
 */
static int vsock_rx_round(struct virtio_vsock *v)
{
	struct virtqueue *vq = &v->dev.queues[VSOCK_RXQ];
	bool progress = false;
	struct vq_chain c;
	uint32_t len;
	int ret;

	for (unsigned int i = 0; i < v->nr_slots; i++) {
		struct vsock_conn *k = v->conns[i];

		if (!k || !conn_has_rx_work(k))
			continue;
		ret = vsock_rx_chain(v, &c);
		if (ret <= 0)
			return ret;
		len = conn_rx_packet(k, &c);
		if (len) {
			vq_push(vq, c.head, len);
			progress = true;
		} else {
			vq_unpop(vq, 1);
		}
	}
	return progress;
}

/* Fills the guest's receive buffers with what is owed to it; false on a bad chain. */
static bool vsock_rx(struct virtio_vsock *v)
{
	int ret;

	if (!v->dev.active || !v->dev.queues[VSOCK_RXQ].ready)
		return true;
	ret = vsock_rx_resets(v);
	while (ret > 0)
		ret = vsock_rx_round(v);
	return ret == 0;
}

static void vsock_settle_all(struct virtio_vsock *v)
{
	for (unsigned int i = 0; i < v->nr_slots; i++)
		if (v->conns[i])
			conn_settle(v->conns[i]);
}

/*
 * After any event: settle every connection, deliver, and settle again;
 * delivering can end connections (a host program gone with data still
 * owed), whose resets then go out too.
 */
static void vsock_run(struct virtio_vsock *v)
{
	bool ok;

	vsock_settle_all(v);
	ok = vsock_rx(v);
	vsock_settle_all(v);
	if (ok && v->rst_len)
		ok = vsock_rx(v);
	if (!ok) {
		virtio_dev_broken(&v->dev, "bad descriptor chain in the receive queue");
		return;
	}
	if (v->dev.active && v->dev.queues[VSOCK_RXQ].ready)
		virtio_dev_signal_used(&v->dev, VSOCK_RXQ);
}

/* --- packets from the guest (transmit queue) --------------------------- */

/* The guest asks to connect to host port `hdr->dst_port`: "<uds>_<port>". */
static void vsock_guest_connect(struct virtio_vsock *v, const struct vsock_hdr *hdr)
{
	char path[sizeof(v->uds)];
	struct vsock_conn *k;
	int fd;

	/* Cannot be cut short: the path's length was checked against VM_VSOCK_UDS_MAX. */
	if (snprintf(path, sizeof(path), "%s_%" PRIu32, v->uds, hdr->dst_port) >= (int)sizeof(path))
		fd = -ENAMETOOLONG;
	else
		fd = unix_connect(path, SOCK_NONBLOCK);
	if (fd < 0)
		log_debug("%s: guest port %" PRIu32 " to %s: %s", v->dev.name, hdr->src_port, path,
			  strerror(-fd));
	k = fd >= 0 ? conn_new(v, fd, CONN_OPEN) : NULL;
	if (!k) {
		vsock_queue_rst(v, VSOCK_HOST_CID, hdr->src_port, hdr->dst_port);
		return;
	}
	k->guest_port = hdr->src_port;
	k->host_port = hdr->dst_port;
	k->peer_buf_alloc = hdr->buf_alloc;
	k->peer_fwd_cnt = hdr->fwd_cnt;
	k->pending = PEND_RESPONSE;
	METRIC_INC(vsock, connections);
	conn_rearm(k);
}

/* The guest accepted a host program's connection: tell the program its port. */
static bool conn_accepted(struct vsock_conn *k)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %" PRIu32 "\n", k->host_port);
	struct iovec iov = { ok, (size_t)n };

	k->state = CONN_OPEN;
	k->deadline = 0;
	METRIC_INC(vsock, connections);
	/* A fresh socket has room for a line; anything less means the program is gone. */
	if (conn_send(k, &iov, 1) != n) {
		conn_kill(k);
		return false;
	}
	return true;
}

/* A packet for a connection the guest and the host both know; false when it ended. */
static bool conn_from_guest_packet(struct vsock_conn *k, const struct vsock_hdr *hdr,
				   const struct iovec *payload, unsigned int n)
{
	k->peer_buf_alloc = hdr->buf_alloc;
	k->peer_fwd_cnt = hdr->fwd_cnt;
	switch (hdr->op) {
	case VSOCK_OP_RESPONSE:
		if (k->state != CONN_CONNECTING)
			break;
		return conn_accepted(k) && conn_settle(k);
	case VSOCK_OP_RW:
		if (k->state != CONN_OPEN || (k->guest_shut & VSOCK_SHUTDOWN_SEND))
			break;
		return conn_from_guest(k, payload, n, hdr->len) && conn_settle(k);
	case VSOCK_OP_CREDIT_REQUEST:
		k->pending |= PEND_CREDIT;
		return conn_settle(k);
	case VSOCK_OP_CREDIT_UPDATE:
		return conn_settle(k);
	case VSOCK_OP_SHUTDOWN:
		if (k->state != CONN_OPEN)
			break;
		k->guest_shut |= hdr->flags & VSOCK_SHUTDOWN_BOTH;
		return conn_settle(k);
	case VSOCK_OP_RST:
		conn_end(k); /* the guest knows it is gone: no reset back */
		return false;
	}
	conn_kill(k); /* anything else breaks the protocol: reset */
	return false;
}

/* Checks a packet's header against the payload the chain carries. */
static bool vsock_hdr_ok(const struct vsock_hdr *h, uint32_t payload)
{
	return h->type == VSOCK_TYPE_STREAM && h->len <= payload &&
	       (h->op == VSOCK_OP_RW || h->len == 0);
}

static void vsock_tx_packet(struct virtio_vsock *v, const struct vq_chain *c)
{
	struct vsock_hdr h;
	struct vsock_conn *k;
	int n = 0;

	if (c->out_len < VSOCK_HDR_LEN) {
		LOG_RATELIMIT(LOG_WARN, 5, "%s: dropped a packet shorter than its header",
			      v->dev.name);
		return;
	}
	iov_to_buf(c->iov, c->n_out, 0, &h, sizeof(h));
	if (h.src_cid != v->cid || h.dst_cid != VSOCK_HOST_CID) {
		/* Only the host is reachable: anyone else "refuses", as a missing peer would. */
		if (h.op != VSOCK_OP_RST && h.src_cid == v->cid && h.dst_cid <= UINT32_MAX)
			vsock_queue_rst(v, h.dst_cid, h.src_port, h.dst_port);
		return;
	}
	k = vsock_find(v, h.src_port, h.dst_port);
	if (h.len)
		n = iov_slice(c->iov, c->n_out, VSOCK_HDR_LEN, h.len, v->slice, VSOCK_MAX_SEGS);
	if (!vsock_hdr_ok(&h, c->out_len - (uint32_t)VSOCK_HDR_LEN) || n < 0) {
		LOG_RATELIMIT(LOG_WARN, 5, "%s: dropped a malformed packet (op %u)", v->dev.name,
			      h.op);
		if (k)
			conn_kill(k);
		else if (h.op != VSOCK_OP_RST)
			vsock_queue_rst(v, VSOCK_HOST_CID, h.src_port, h.dst_port);
	} else if (k) {
		conn_from_guest_packet(k, &h, v->slice, (unsigned int)n);
	} else if (h.op == VSOCK_OP_REQUEST) {
		vsock_guest_connect(v, &h);
	} else if (h.op != VSOCK_OP_RST) {
		vsock_queue_rst(v, VSOCK_HOST_CID, h.src_port, h.dst_port);
	}
}

static bool vsock_tx(struct virtio_vsock *v)
{
	struct virtqueue *vq = &v->dev.queues[VSOCK_TXQ];
	struct vq_chain c = { .iov = v->iov, .cap = VSOCK_MAX_SEGS };
	int ret;

	while ((ret = vq_next(vq, &c)) > 0) {
		if (c.n_in)
			return false; /* transmit buffers are device-readable only */
		vsock_tx_packet(v, &c);
		vq_push(vq, c.head, 0);
	}
	return ret == 0;
}

static void vsock_queue_notify(struct virtio_dev *d, unsigned int q)
{
	struct virtio_vsock *v = container_of(d, struct virtio_vsock, dev);

	if (q == VSOCK_TXQ) {
		bool ok = vsock_tx(v);

		virtio_dev_signal_used(d, VSOCK_TXQ);
		if (!ok) {
			virtio_dev_broken(d, "bad descriptor chain in the transmit queue");
			return;
		}
	} else if (q == VSOCK_RXQ) {
		v->rx_starved = false;
	} else {
		return; /* the event queue: buffers wait for a transport reset */
	}
	vsock_run(v);
}

/* --- host side: the listening socket, connections' sockets, the timer --- */

static void vsock_arm_timer(struct virtio_vsock *v, bool on)
{
	struct itimerspec its = { 0 };

	if (v->timer_armed == on)
		return;
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = (long)VSOCK_TICK_NS;
	if (timerfd_settime(v->timer.fd, 0, &its, NULL) == 0)
		v->timer_armed = on;
}

static void vsock_set_deadline(struct vsock_conn *k, uint64_t after_ns)
{
	k->deadline = monotonic_ns() + after_ns;
	vsock_arm_timer(k->v, true);
}

/* Reads the host program's "CONNECT <port>\n" a byte at a time (nothing after it is ours). */
static int conn_read_line(struct vsock_conn *k)
{
	char ch;
	ssize_t r;

	while (k->line_len < VSOCK_LINE_MAX - 1) {
		r = read(k->h.fd, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r <= 0)
			return -EPIPE;
		if (ch == '\n') {
			k->line[k->line_len] = '\0';
			return 1;
		}
		k->line[k->line_len++] = ch;
	}
	return -EINVAL;
}

/* "CONNECT <port>": the port in decimal, nothing else. */
static int vsock_parse_connect(const char *line, uint32_t *port)
{
	const char *p = line + strlen("CONNECT ");
	char *end;
	unsigned long long v;

	if (strncmp(line, "CONNECT ", strlen("CONNECT ")) != 0 || *p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(p, &end, 10);
	if (errno || *end != '\0' || v > UINT32_MAX)
		return -EINVAL;
	*port = (uint32_t)v;
	return 0;
}

static uint32_t vsock_alloc_port(struct virtio_vsock *v)
{
	for (;;) {
		uint32_t p = v->next_port++;
		bool used = false;

		if (v->next_port == UINT32_MAX)
			v->next_port = VSOCK_PORT_FIRST;
		for (unsigned int i = 0; i < v->nr_slots && !used; i++)
			used = v->conns[i] && v->conns[i]->host_port == p;
		if (!used)
			return p;
	}
}

/* The host program's connect line: ask the guest. false when the connection ended. */
static bool conn_handshake(struct vsock_conn *k)
{
	int ret = conn_read_line(k);

	if (ret == 0)
		return true;
	if (ret < 0 || vsock_parse_connect(k->line, &k->guest_port) < 0) {
		if (ret != -EPIPE)
			LOG_RATELIMIT(LOG_WARN, 5,
				      "%s: a host program did not start with "
				      "\"CONNECT <port>\\n\"; closed",
				      k->v->dev.name);
		conn_kill(k);
		return false;
	}
	k->host_port = vsock_alloc_port(k->v);
	k->state = CONN_CONNECTING;
	k->pending = PEND_REQUEST;
	vsock_set_deadline(k, k->v->request_ns);
	conn_rearm(k);
	return true;
}

static void conn_host_event(struct vsock_conn *k, uint32_t events)
{
	if (k->state == CONN_HANDSHAKE) {
		conn_handshake(k);
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		/* Reported whatever we ask for: read what is left, then let go of the fd. */
		k->host_hup = true;
		if (k->registered)
			evloop_del(&k->v->dev.loop, &k->h);
		k->registered = false;
		if (k->state != CONN_OPEN) {
			conn_kill(k);
			return;
		}
		if (k->host_eof) {
			conn_host_ended(k);
		} else {
			k->host_readable = true;
		}
	}
	if (events & EPOLLIN)
		k->host_readable = true;
	if (events & EPOLLOUT)
		conn_flush(k);
	conn_settle(k);
}

static void conn_host_ready(struct ev_handler *h, uint32_t events)
{
	struct vsock_conn *k = container_of(h, struct vsock_conn, h);
	struct virtio_vsock *v = k->v;

	pthread_mutex_lock(&v->dev.lock);
	if (!k->dead) {
		conn_host_event(k, events);
		vsock_run(v);
	}
	pthread_mutex_unlock(&v->dev.lock);
}

static void vsock_accept(struct ev_handler *h, uint32_t events)
{
	struct virtio_vsock *v = container_of(h, struct virtio_vsock, listener);
	struct vsock_conn *k;
	int fd = accept4(h->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		/* Out of fds: stop listening (no spinning) until a connection ends. */
		if (errno != EMFILE && errno != ENFILE)
			return;
		pthread_mutex_lock(&v->dev.lock);
		if (evloop_mod(&v->dev.loop, h, 0) == 0)
			v->listener_paused = true;
		pthread_mutex_unlock(&v->dev.lock);
		LOG_RATELIMIT(LOG_WARN, 5, "%s: out of file descriptors; not accepting",
			      v->dev.name);
		return;
	}
	pthread_mutex_lock(&v->dev.lock);
	k = conn_new(v, fd, CONN_HANDSHAKE);
	if (k) {
		vsock_set_deadline(k, VSOCK_HANDSHAKE_NS);
		conn_rearm(k);
	}
	pthread_mutex_unlock(&v->dev.lock);
}

/* Ends handshakes and requests that took too long. */
static void vsock_tick(struct ev_handler *h, uint32_t events)
{
	struct virtio_vsock *v = container_of(h, struct virtio_vsock, timer);
	uint64_t now = monotonic_ns(), ticks;
	bool waiting = false;

	if (read(h->fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&v->dev.lock);
	for (unsigned int i = 0; i < v->nr_slots; i++) {
		struct vsock_conn *k = v->conns[i];

		if (!k || !k->deadline)
			continue;
		if (now < k->deadline) {
			waiting = true;
			continue;
		}
		log_debug("%s: host port %" PRIu32 ": no answer in time", v->dev.name,
			  k->host_port);
		conn_kill(k);
	}
	vsock_arm_timer(v, waiting);
	vsock_run(v);
	pthread_mutex_unlock(&v->dev.lock);
}

/* --- the device ------------------------------------------------------- */

static void vsock_read_config(struct virtio_dev *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_vsock *v = container_of(d, struct virtio_vsock, dev);

	virtio_config_read_bytes(&v->cid, sizeof(v->cid), off, data, len);
}

static int vsock_activate(struct virtio_dev *d)
{
	/* Requests may be waiting for the driver: have the I/O thread look. */
	if (d->queues[VSOCK_RXQ].ready)
		virtio_dev_kick(d, VSOCK_RXQ);
	return 0;
}

/* Connections end with the driver (the guest's sockets are gone with it). */
static void vsock_reset(struct virtio_dev *d)
{
	struct virtio_vsock *v = container_of(d, struct virtio_vsock, dev);

	for (unsigned int i = 0; i < v->nr_slots; i++)
		if (v->conns[i])
			conn_end(v->conns[i]);
	v->rst_head = v->rst_len = 0;
	v->rx_starved = false;
	vsock_arm_timer(v, false);
}

#define VSOCK_EVENT_TRANSPORT_RESET 0

void vsock_send_transport_reset(struct virtio_dev *d)
{
	struct virtqueue *vq = &d->queues[VSOCK_EVQ];
	struct iovec iov[VSOCK_MAX_SEGS];
	struct vq_chain c = { .iov = iov, .cap = VSOCK_MAX_SEGS };
	uint32_t id = VSOCK_EVENT_TRANSPORT_RESET;

	if (!vq->ready || vq_pop(vq, &c) != 1) {
		log_warn("%s: no event buffer for the transport reset", d->name);
		return;
	}
	vq_push(vq, c.head, (uint32_t)iov_from_buf(c.iov + c.n_out, c.n_in, 0, &id, sizeof(id)));
	d->tops->signal_used(d->transport, VSOCK_EVQ);
}

/* Restored from a snapshot: the host's side of every connection is gone. */
static void vsock_restored(struct virtio_dev *d)
{
	vsock_send_transport_reset(d);
}

static void vsock_destroy(struct virtio_dev *d)
{
	struct virtio_vsock *v = container_of(d, struct virtio_vsock, dev);

	virtio_dev_stop(d);
	vsock_reset(d);
	vsock_free_dead(v);
	virtio_dev_fini(d);
	if (v->listener.fd >= 0) {
		close(v->listener.fd);
		unlink(v->uds);
	}
	if (v->timer.fd >= 0)
		close(v->timer.fd);
	free(v);
}

static int vsock_listen(struct virtio_vsock *v, struct err *err);

/*
 * Migration: the receiver, perhaps on this host, takes the socket path
 * over (release: stop listening, remove the file), or it failed and the path
 * comes back. Connections already made stay until this ember ends.
 */
static int vsock_handover(struct virtio_dev *d, bool release)
{
	struct virtio_vsock *v = container_of(d, struct virtio_vsock, dev);
	struct err err = { { 0 } };
	int ret = 0;

	if (release && v->listener.fd >= 0) {
		evloop_del(&d->loop, &v->listener);
		close(v->listener.fd);
		unlink(v->uds);
		v->listener.fd = -1;
		v->listener_paused = false;
	} else if (!release && v->listener.fd < 0) {
		ret = vsock_listen(v, &err);
		if (ret < 0)
			log_warn("%s: cannot listen on '%s' again: %s", d->name, v->uds, err.msg);
	}
	return ret;
}

static const struct virtio_dev_ops vsock_ops = {
	.read_config = vsock_read_config,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.queue_notify = vsock_queue_notify,
	.destroy = vsock_destroy,
	.restored = vsock_restored,
	.handover = vsock_handover,
};

static int vsock_listen(struct virtio_vsock *v, struct err *err)
{
	int fd = unix_listen(v->uds, 64, 0600, err);

	if (fd < 0)
		return fd;
	v->listener.fd = fd;
	v->listener.cb = vsock_accept;
	return evloop_add(&v->dev.loop, &v->listener, EPOLLIN);
}

static int vsock_init(struct virtio_vsock *v, const struct gmem *gm, struct err *err)
{
	int ret = virtio_dev_init(&v->dev, "virtio-vsock", VIRTIO_ID_VSOCK,
				  VIRTIO_BIT(VIRTIO_RING_F_INDIRECT_DESC) |
					  VIRTIO_BIT(VIRTIO_RING_F_EVENT_IDX),
				  3, VSOCK_QUEUE_SIZE, sizeof(v->cid), &vsock_ops, gm);

	if (ret < 0)
		return err_set(err, ret, "%s", strerror(-ret));
	v->dev.loop.after_batch = vsock_after_batch;
	v->timer.fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	v->timer.cb = vsock_tick;
	if (v->timer.fd < 0 || evloop_add(&v->dev.loop, &v->timer, EPOLLIN) < 0)
		return err_set(err, -errno, "timer: %s", strerror(errno));
	return vsock_listen(v, err);
}

int virtio_vsock_create(const struct gmem *gm, const struct virtio_vsock_opts *o,
			struct virtio_dev **out, struct err *err)
{
	struct virtio_vsock *v;
	int ret;

	if (o->guest_cid < VM_VSOCK_CID_MIN || o->guest_cid > VM_VSOCK_CID_MAX)
		return err_set(err, -EINVAL, "vsock: guest CID %" PRIu64 " is reserved",
			       o->guest_cid);
	if (!o->uds[0] || strlen(o->uds) > VM_VSOCK_UDS_MAX)
		return err_set(err, -ENAMETOOLONG, "vsock: socket path must be 1 to %u bytes",
			       VM_VSOCK_UDS_MAX);
	v = calloc(1, sizeof(*v));
	if (!v)
		return err_set(err, -ENOMEM, "vsock: out of memory");
	v->cid = o->guest_cid;
	strcpy(v->uds, o->uds);
	v->listener.fd = v->timer.fd = -1;
	v->next_port = VSOCK_PORT_FIRST;
	v->request_ns =
		(o->request_timeout_ms ? o->request_timeout_ms : VSOCK_REQUEST_MS) * 1000000ULL;

	ret = vsock_init(v, gm, err);
	if (ret < 0) {
		err_prefix(err, "vsock socket '%s': ", o->uds);
		vsock_destroy(&v->dev);
		return ret;
	}
	*out = &v->dev;
	return 0;
}

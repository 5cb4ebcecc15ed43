#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/ratelimit.h"
#include "util/unixsock.h"
#include "vmm/migration.h"
#include "vmm/snapshot.h"

#define MIG_MAGIC    "EMBERMIG"
#define MIG_VERSION  1
#define PAGE	     4096u
#define RUN_PAGES    256u	/* pages per PAGES message: 1 MiB */
#define MAX_CONFIG   (1u << 20) /* far above any VM description */
#define MAX_ROUNDS   30
#define STOP_PAGES   256 /* few enough to send with the VM paused */
#define IO_TIMEOUT_S 30

enum mig_type { MIG_HELLO = 1, MIG_CONFIG, MIG_PAGES, MIG_STATE, MIG_DONE, MIG_ACK };

struct mig_hdr {
	uint32_t type;
	uint32_t zero;
	uint64_t len;
};

struct mig_hello {
	char magic[8];
	uint32_t version;
	uint32_t arch;
};

/* --- addresses and sockets ---------------------------------------------- */

struct mig_addr {
	struct sockaddr_storage sa;
	socklen_t len;
	const char *unix_path; /* unix: only */
};

static int parse_tcp(const char *spec, struct mig_addr *a, struct err *err)
{
	char host[64];
	const char *colon = strrchr(spec, ':');
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a->sa;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->sa;
	uint64_t port;
	size_t n;

	if (!colon || parse_u64(colon + 1, 1, 65535, &port) < 0)
		return err_set(err, -EINVAL, "migration URL 'tcp:%s': needs ADDRESS:PORT", spec);
	n = (size_t)(colon - spec);
	if (n >= 2 && spec[0] == '[' && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n == 0 || n >= sizeof(host))
		return err_set(err, -EINVAL, "migration URL: bad address");
	memcpy(host, spec, n);
	host[n] = '\0';
	memset(&a->sa, 0, sizeof(a->sa));
	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
		a->len = sizeof(*in4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		a->len = sizeof(*in6);
		return 0;
	}
	return err_set(err, -EINVAL,
		       "migration URL: '%s' is not a numeric IPv4 or IPv6 address (names are not "
		       "resolved)",
		       host);
}

static int parse_url(const char *url, struct mig_addr *a, struct err *err)
{
	struct sockaddr_un *un = (struct sockaddr_un *)&a->sa;

	*a = (struct mig_addr){ 0 };
	if (strncmp(url, "tcp:", 4) == 0)
		return parse_tcp(url + 4, a, err);
	if (strncmp(url, "unix:", 5) != 0 || !url[5])
		return err_set(err, -EINVAL,
			       "migration URL '%s': must be unix:PATH or tcp:ADDRESS:PORT", url);
	if (strlen(url + 5) >= sizeof(un->sun_path))
		return err_set(err, -ENAMETOOLONG, "migration URL: socket path too long");
	un->sun_family = AF_UNIX;
	strcpy(un->sun_path, url + 5);
	a->len = sizeof(*un);
	a->unix_path = url + 5;
	return 0;
}

/*
 * Until `l->fd` is ready for `events`, within `timeout_ms`: 0, -ETIMEDOUT,
 * or -EINTR once a stop signal is pending (it stays pending for the main
 * loop to take). Every wait of a migration is one of these: the sockets
 * are non-blocking.
 */
static int mig_wait(const struct migration_link *l, short events, int timeout_ms)
{
	struct pollfd p[2] = { { .fd = l->fd, .events = events },
			       { .fd = l->stop_fd, .events = POLLIN } };
	int n;

	do
		n = poll(p, l->stop_fd >= 0 ? 2 : 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (p[1].revents)
		return -EINTR;
	return n == 0 ? -ETIMEDOUT : 0;
}

/* Whether a stop signal is pending (the migration is to give up). */
static bool mig_stopping(int stop_fd)
{
	struct pollfd p = { .fd = stop_fd, .events = POLLIN };

	return stop_fd >= 0 && poll(&p, 1, 0) > 0;
}

static const char *mig_strerror(int ret)
{
	return ret == -EINTR ? "ember is stopping (a signal came)" : strerror(-ret);
}

/* A non-blocking connection to `url` (within IO_TIMEOUT_S), or -errno. */
static int mig_connect(const char *url, int stop_fd, struct err *err)
{
	struct migration_link l = { .stop_fd = stop_fd };
	struct mig_addr a;
	socklen_t len = sizeof(int);
	int soerr = 0, ret = parse_url(url, &a, err);

	if (ret < 0)
		return ret;
	l.fd = socket(a.sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l.fd < 0)
		return err_set(err, -errno, "migration: socket: %s", strerror(errno));
	ret = connect(l.fd, (struct sockaddr *)&a.sa, a.len) == 0 ? 0 : -errno;
	if (ret == -EINPROGRESS) { /* TCP: done when writable, its outcome in SO_ERROR */
		ret = mig_wait(&l, POLLOUT, IO_TIMEOUT_S * 1000);
		if (ret == 0 && getsockopt(l.fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			ret = -errno;
		if (ret == 0)
			ret = -soerr;
	}
	if (ret < 0) {
		close(l.fd);
		/* A Unix listener with a full backlog: busy with another sender. */
		return err_set(err, ret, "migration: cannot reach '%s': %s", url,
			       ret == -EAGAIN ? "it is busy" : mig_strerror(ret));
	}
	return l.fd;
}

static int mig_listen(const struct mig_addr *a, const char *url, struct err *err)
{
	int one = 1, fd;

	if (a->unix_path)
		return unix_listen(a->unix_path, 1, 0600, err);
	fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(err, -errno, "migration: socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->sa, a->len) < 0 || listen(fd, 1) < 0) {
		int ret = err_set(err, -errno, "migration: cannot listen on '%s': %s", url,
				  strerror(errno));

		close(fd);
		return ret;
	}
	return fd;
}

/* One sender, within `timeout_s`; the listening socket (and its file) go at once. */
static int mig_accept(const char *url, unsigned int timeout_s, int stop_fd, struct err *err)
{
	struct migration_link l = { .stop_fd = stop_fd };
	struct mig_addr a;
	int fd = -1, ret = parse_url(url, &a, err);

	if (ret < 0)
		return ret;
	l.fd = mig_listen(&a, url, err);
	if (l.fd < 0)
		return l.fd;
	ret = mig_wait(&l, POLLIN, (int)MIN(timeout_s, 86400u) * 1000);
	if (ret == 0) {
		fd = accept4(l.fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		ret = fd < 0 ? -errno : 0;
	}
	if (ret == -ETIMEDOUT)
		err_set(err, ret, "migration: no sender came to '%s' in %u s", url, timeout_s);
	else if (ret < 0)
		err_set(err, ret, "migration: waiting for a sender: %s", mig_strerror(ret));
	close(l.fd);
	if (a.unix_path)
		unlink(a.unix_path);
	return ret < 0 ? ret : fd;
}

/* --- the stream ----------------------------------------------------------- */

/*
 * After a read or write on the link returned `r`: 0 when it moved bytes, 1
 * to try again (once `events` came, when it would have blocked), or -errno.
 */
static int mig_again(const struct migration_link *l, ssize_t r, short events)
{
	int ret;

	if (r >= 0)
		return 0;
	if (errno == EINTR)
		return 1;
	if (errno != EAGAIN)
		return -errno;
	ret = mig_wait(l, events, IO_TIMEOUT_S * 1000);
	return ret < 0 ? ret : 1;
}

static int send_iov(const struct migration_link *l, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(l->fd, iov, n);
		int ret = mig_again(l, w, POLLOUT);

		if (ret < 0)
			return ret;
		if (ret > 0)
			continue;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int send_msg(const struct migration_link *l, uint32_t type, const void *a, size_t alen,
		    const void *b, size_t blen)
{
	struct mig_hdr h = { .type = type, .len = alen + blen };
	struct iovec iov[3] = { { &h, sizeof(h) }, { (void *)a, alen }, { (void *)b, blen } };

	return send_iov(l, iov, 3);
}

static int recv_all(const struct migration_link *l, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t r = read(l->fd, p, len);
		int ret = mig_again(l, r, POLLIN);

		if (ret < 0)
			return ret;
		if (ret > 0)
			continue;
		if (r == 0)
			return -ECONNRESET;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static bool bit(const uint64_t *bm, uint64_t i)
{
	return bm[i / 64] & (1ULL << (i % 64));
}

/*
 * Sends the pages set in `bm` (all of them when NULL), in runs of at most
 * RUN_PAGES; `skip_zero` leaves out pages that are zero (the receiver's RAM
 * starts zeroed, so only the first copy may skip them).
 */
static int send_pages(const struct migration_link *l, const struct vm *vm, const uint64_t *bm,
		      bool skip_zero, _Atomic uint64_t *bytes)
{
	const uint8_t *ram = vm->ram;
	uint64_t pages = vm->ram_size / PAGE, i = 0;

	while (i < pages) {
		uint64_t first;
		int ret;

		while (i < pages && ((bm && !bit(bm, i)) ||
				     (skip_zero && snapshot_page_is_zero(ram + i * PAGE))))
			i++;
		first = i;
		while (i < pages && i - first < RUN_PAGES && (!bm || bit(bm, i)) &&
		       !(skip_zero && snapshot_page_is_zero(ram + i * PAGE)))
			i++;
		if (i == first)
			continue;
		ret = send_msg(l, MIG_PAGES, &first, sizeof(first), ram + first * PAGE,
			       (i - first) * PAGE);
		if (ret < 0)
			return ret;
		*bytes += (i - first) * PAGE;
	}
	return 0;
}

static uint64_t count_bits(const uint64_t *bm, uint64_t words)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(bm[i]);
	return n;
}

/* --- sending --------------------------------------------------------------- */

static int send_start(const struct migration_link *l, const struct vm_config *cfg)
{
	struct mig_hello hello = { .version = MIG_VERSION, .arch = SNAP_ARCH_X86_64 };
	char *desc = snapshot_description(cfg);
	int ret;

	if (!desc)
		return -ENOMEM;
	memcpy(hello.magic, MIG_MAGIC, sizeof(hello.magic));
	ret = send_msg(l, MIG_HELLO, &hello, sizeof(hello), NULL, 0);
	if (ret == 0)
		ret = send_msg(l, MIG_CONFIG, desc, strlen(desc), NULL, 0);
	free(desc);
	return ret;
}

/* Copy rounds while the guest runs, until few pages are left written (kept in `bm`). */
static int send_rounds(const struct migration_link *l, struct vm *vm, uint64_t *bm, uint64_t words,
		       struct migration_stats *st, struct err *err)
{
	int ret;

	st->phase = MIG_PHASE_COPYING;
	ret = send_pages(l, vm, NULL, true, &st->bytes);
	while (ret == 0) {
		memset(bm, 0, words * sizeof(*bm));
		ret = vm_dirty_log_take(vm, bm, err);
		if (ret < 0)
			return ret;
		st->rounds++;
		st->dirty_pages = count_bits(bm, words);
		if (st->dirty_pages <= STOP_PAGES || st->rounds >= MAX_ROUNDS)
			return 0;
		/* A fast link never waits, so look between rounds too. */
		ret = mig_stopping(l->stop_fd) ? -EINTR : send_pages(l, vm, bm, false, &st->bytes);
	}
	return err_set(err, ret, "migration: sending memory: %s", mig_strerror(ret));
}

static int wait_ack(const struct migration_link *l, struct err *err)
{
	struct mig_hdr h;
	char msg[257] = { 0 };
	uint32_t status;
	int ret = recv_all(l, &h, sizeof(h));

	if (ret == 0 && (h.type != MIG_ACK || h.len < sizeof(status) || h.len > 4 + 256))
		ret = -EPROTO;
	if (ret == 0)
		ret = recv_all(l, &status, sizeof(status));
	if (ret == 0)
		ret = recv_all(l, msg, h.len - sizeof(status));
	if (ret < 0)
		return err_set(err, ret, "migration: no answer from the receiver: %s",
			       strerror(-ret));
	if (status != 0)
		return err_set(err, -(int)MIN(status, 4095u), "migration: the receiver failed: %s",
			       msg[0] ? msg : strerror((int)status));
	return 0;
}

/* With the VM paused: the state, the last pages, and the receiver's word. */
static int send_final(const struct migration_link *l, struct vm *vm, const struct vm_config *cfg,
		      uint64_t *bm, uint64_t words, struct migration_stats *st, struct err *err)
{
	struct snapw w;
	uint8_t *image = NULL;
	size_t len = 0;
	int ret;

	snapw_init(&w);
	/* First: finishing the disks' requests writes guest memory too. */
	ret = snapshot_collect(vm, cfg, &w, err);
	if (ret == 0)
		ret = vm_dirty_log_take(vm, bm, err);
	if (ret == 0 && snapw_image(&w, &image, &len) < 0)
		ret = err_set(err, -ENOMEM, "out of memory");
	snapw_fini(&w);
	if (ret < 0)
		return ret;
	st->last_pages = count_bits(bm, words);
	ret = send_pages(l, vm, bm, false, &st->bytes);
	if (ret == 0)
		ret = send_msg(l, MIG_STATE, image, len, NULL, 0);
	if (ret == 0)
		ret = send_msg(l, MIG_DONE, NULL, 0, NULL, 0);
	free(image);
	if (ret < 0)
		return err_set(err, ret, "migration: sending the last of the VM: %s",
			       mig_strerror(ret));
	/*
	 * The receiver may be starting the VM already: only its answer says
	 * where the VM runs now, so a stop signal waits for it.
	 */
	return wait_ack(&(struct migration_link){ .fd = l->fd, .stop_fd = -1 }, err);
}

static int send_paused(const struct migration_link *l, struct vm *vm, const struct vm_config *cfg,
		       const struct migration_vm_ops *ops, uint64_t *bm, uint64_t words,
		       struct migration_stats *st, struct err *err)
{
	uint64_t t = monotonic_ns();
	int ret = ops->pause(ops->ctx);

	if (ret < 0)
		return err_set(err, ret, "migration: the VM stopped");
	st->phase = MIG_PHASE_PAUSED;
	ret = ops->handover(ops->ctx, true);
	if (ret < 0)
		err_set(err, ret, "migration: cannot hand the devices over: %s", strerror(-ret));
	if (ret == 0)
		ret = send_final(l, vm, cfg, bm, words, st, err);
	st->downtime_ms = (monotonic_ns() - t) / 1000000;
	if (ret == 0)
		return 0;
	if (ops->handover(ops->ctx, false) < 0)
		log_err("migration failed and a device cannot take back what it let go (see "
			"above): another process may have it");
	ops->resume(ops->ctx);
	return ret;
}

int migration_send(struct vm *vm, const struct vm_config *cfg, const char *url,
		   const struct migration_vm_ops *ops, struct migration_stats *st, struct err *err)
{
	uint64_t t0 = monotonic_ns(), words = (vm->ram_size / PAGE + 63) / 64;
	uint64_t *bm = calloc(words, sizeof(*bm));
	struct migration_link l = { .stop_fd = ops->stop_fd };
	bool held;
	int ret;

	st->ram_bytes = vm->ram_size;
	if (!bm)
		return err_set(err, -ENOMEM, "out of memory");
	l.fd = mig_connect(url, l.stop_fd, err);
	ret = l.fd < 0 ? l.fd : send_start(&l, cfg);
	if (ret < 0 && l.fd >= 0)
		err_set(err, ret, "migration: %s", mig_strerror(ret));
	/* Before the first copy of RAM: from here on every write must be seen. */
	held = ret == 0;
	if (held)
		ops->hold_writes(ops->ctx, true);
	if (ret == 0)
		ret = vm_dirty_log_start(vm, err);
	if (ret == 0) {
		ret = send_rounds(&l, vm, bm, words, st, err);
		if (ret == 0)
			ret = send_paused(&l, vm, cfg, ops, bm, words, st, err);
		vm_dirty_log_stop(vm);
	}
	if (ret < 0 && held)
		ops->hold_writes(ops->ctx, false); /* the VM stays here */
	if (l.fd >= 0)
		close(l.fd);
	free(bm);
	st->total_ms = (monotonic_ns() - t0) / 1000000;
	st->phase = MIG_PHASE_ENDED;
	return ret;
}

/* --- receiving ------------------------------------------------------------- */

static int recv_hdr(const struct migration_link *l, struct mig_hdr *h, struct err *err)
{
	int ret = recv_all(l, h, sizeof(*h));

	if (ret < 0)
		return err_set(err, ret, "migration: the stream broke: %s", mig_strerror(ret));
	if (h->zero != 0)
		return err_set(err, -EPROTO, "migration: malformed message header");
	return 0;
}

static int recv_hello(struct migration_incoming *in, struct err *err)
{
	struct mig_hdr h;
	struct mig_hello hello;
	int ret = recv_hdr(&in->link, &h, err);

	if (ret < 0)
		return ret;
	if (h.type != MIG_HELLO || h.len != sizeof(hello))
		return err_set(err, -EPROTO, "migration: the sender is not an ember");
	ret = recv_all(&in->link, &hello, sizeof(hello));
	if (ret < 0)
		return err_set(err, ret, "migration: the stream broke: %s", mig_strerror(ret));
	if (memcmp(hello.magic, MIG_MAGIC, sizeof(hello.magic)) != 0)
		return err_set(err, -EPROTO, "migration: the sender is not an ember");
	if (hello.version != MIG_VERSION || hello.arch != SNAP_ARCH_X86_64)
		return err_set(err, -EPROTO,
			       "migration: stream version %u for architecture %u, this ember takes "
			       "version %u",
			       hello.version, hello.arch, MIG_VERSION);
	return 0;
}

/* The VM's description, then its RAM, zeroed, for the pages to land in. */
static int recv_config(struct migration_incoming *in, struct err *err)
{
	struct mig_hdr h;
	char *text;
	int ret = recv_hdr(&in->link, &h, err);

	if (ret < 0)
		return ret;
	if (h.type != MIG_CONFIG || h.len == 0 || h.len > MAX_CONFIG)
		return err_set(err, -EPROTO, "migration: no VM description");
	text = malloc(h.len);
	if (!text)
		return err_set(err, -ENOMEM, "out of memory");
	ret = recv_all(&in->link, text, h.len);
	if (ret < 0)
		err_set(err, ret, "migration: the stream broke: %s", mig_strerror(ret));
	else
		ret = snapshot_parse_description(text, h.len, &in->cfg, err);
	free(text);
	return ret < 0 ? ret : vm_ram_alloc(&in->cfg, &in->ram, err);
}

static int recv_pages(struct migration_incoming *in, uint64_t len, struct migration_stats *st,
		      struct err *err)
{
	uint64_t first, pages = in->ram.size / PAGE, n;
	int ret;

	if (len < sizeof(first) + PAGE || (len - sizeof(first)) % PAGE ||
	    (len - sizeof(first)) / PAGE > RUN_PAGES)
		return err_set(err, -EPROTO, "migration: malformed pages message");
	ret = recv_all(&in->link, &first, sizeof(first));
	n = (len - sizeof(first)) / PAGE;
	if (ret == 0 && (first >= pages || n > pages - first))
		return err_set(err, -EPROTO, "migration: pages beyond the VM's RAM");
	if (ret == 0)
		ret = recv_all(&in->link, (uint8_t *)in->ram.hva + first * PAGE, n * PAGE);
	if (ret == 0)
		st->bytes += n * PAGE;
	return ret < 0 ? err_set(err, ret, "migration: the stream broke: %s", mig_strerror(ret))
		       : 0;
}

static int recv_state(struct migration_incoming *in, uint64_t len, struct err *err)
{
	uint8_t *buf;
	int ret;

	if (in->state.body)
		return err_set(err, -EPROTO, "migration: the VM's state came twice");
	if (len > SNAP_MAX_FILE_SIZE)
		return err_set(err, -EPROTO, "migration: state too large");
	buf = malloc(len ? len : 1);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	ret = recv_all(&in->link, buf, len);
	if (ret < 0)
		err_set(err, ret, "migration: the stream broke: %s", mig_strerror(ret));
	else
		ret = snapr_parse(&in->state, buf, len, err);
	free(buf);
	return ret;
}

static int recv_body(struct migration_incoming *in, struct migration_stats *st, struct err *err)
{
	for (;;) {
		struct mig_hdr h;
		int ret = recv_hdr(&in->link, &h, err);

		if (ret < 0)
			return ret;
		if (h.type == MIG_PAGES)
			ret = recv_pages(in, h.len, st, err);
		else if (h.type == MIG_STATE)
			ret = recv_state(in, h.len, err);
		else if (h.type == MIG_DONE && h.len == 0)
			return in->state.body
				       ? 0
				       : err_set(err, -EPROTO, "migration: no VM state came");
		else
			ret = err_set(err, -EPROTO, "migration: unexpected message %u", h.type);
		if (ret < 0)
			return ret;
	}
}

int migration_receive(const char *url, unsigned int timeout_s, int stop_fd,
		      struct migration_incoming *in, struct migration_stats *st, struct err *err)
{
	uint64_t t0 = monotonic_ns();
	int ret;

	*in = (struct migration_incoming){ .link = { .fd = -1, .stop_fd = stop_fd } };
	vm_config_init(&in->cfg);
	st->phase = MIG_PHASE_LISTENING;
	in->link.fd = mig_accept(url, timeout_s, stop_fd, err);
	ret = in->link.fd < 0 ? in->link.fd : 0;
	st->phase = MIG_PHASE_COPYING;
	if (ret == 0)
		ret = recv_hello(in, err);
	if (ret == 0)
		ret = recv_config(in, err);
	if (ret == 0) {
		st->ram_bytes = in->ram.size;
		ret = recv_body(in, st, err);
	}
	st->total_ms = (monotonic_ns() - t0) / 1000000;
	st->phase = MIG_PHASE_ENDED;
	return ret;
}

void migration_answer(struct migration_incoming *in, int status, const char *msg)
{
	uint32_t code = (uint32_t)(status < 0 ? -status : status);
	size_t len = msg ? MIN(strlen(msg), 256u) : 0;
	/* The sender waits for this even when a stop signal came: it decides where the VM runs. */
	struct migration_link l = { .fd = in->link.fd, .stop_fd = -1 };
	int ret = l.fd >= 0 ? send_msg(&l, MIG_ACK, &code, sizeof(code), msg, len) : 0;

	if (ret < 0)
		log_warn("migration: cannot answer the sender: %s", strerror(-ret));
}

void migration_incoming_fini(struct migration_incoming *in)
{
	if (in->link.fd >= 0)
		close(in->link.fd);
	vm_ram_free(&in->ram);
	snapr_fini(&in->state);
	vm_config_fini(&in->cfg);
	in->link.fd = -1;
}

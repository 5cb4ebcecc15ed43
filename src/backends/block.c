#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block.h"

static int block_size_of(struct block *b, const char *path, struct err *err)
{
	struct stat st;

	if (fstat(b->fd, &st) < 0)
		return err_set(err, -errno, "disk '%s': %s", path, strerror(errno));
	if (S_ISREG(st.st_mode)) {
		b->size = (uint64_t)st.st_size;
		return 0;
	}
	if (S_ISBLK(st.st_mode)) {
		if (ioctl(b->fd, BLKGETSIZE64, &b->size) < 0)
			return err_set(err, -errno, "disk '%s': cannot read its size: %s", path,
				       strerror(errno));
		return 0;
	}
	return err_set(err, -EINVAL, "disk '%s': not a regular file or block device", path);
}

static int block_open_fd(struct block *b, const struct block_opts *o, struct err *err)
{
	int flags = (o->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | (o->direct ? O_DIRECT : 0);

	b->fd = open(o->path, flags);
	if (b->fd < 0 && errno == EINVAL && o->direct)
		return err_set(err, -EINVAL,
			       "disk '%s': its file system does not support cache=none (O_DIRECT)",
			       o->path);
	if (b->fd < 0)
		return err_set(err, -errno, "disk '%s': %s", o->path, strerror(errno));
	/* Two writers of one image corrupt it: refuse, as QEMU's image locking does. */
	if (flock(b->fd, (o->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0)
		return err_set(err, -errno, "disk '%s': %s", o->path,
			       errno == EWOULDBLOCK ? "in use by another process (locked)"
						    : strerror(errno));
	return block_size_of(b, o->path, err);
}

int block_handover(struct block *b, bool release)
{
	int op = release ? LOCK_UN : (b->readonly ? LOCK_SH : LOCK_EX) | LOCK_NB;

	return flock(b->fd, op) < 0 ? -errno : 0;
}

int block_open(struct block *b, const struct block_opts *o, struct err *err)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->efd = -1;
	b->readonly = o->readonly;
	b->direct = o->direct;
	ret = block_open_fd(b, o, err);
	if (ret < 0)
		return ret;
	ret = io_uring_queue_init(o->depth, &b->ring, 0);
	if (ret < 0)
		return err_set(err, ret, "disk '%s': io_uring: %s", o->path, strerror(-ret));
	b->ring_ready = true;
	b->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->efd < 0)
		return err_set(err, -errno, "eventfd: %s", strerror(errno));
	ret = io_uring_register_eventfd(&b->ring, b->efd);
	if (ret < 0)
		return err_set(err, ret, "disk '%s': io_uring eventfd: %s", o->path,
			       strerror(-ret));
	return 0;
}

void block_close(struct block *b)
{
	if (b->ring_ready) {
		block_reap(b, true, NULL, NULL);
		io_uring_queue_exit(&b->ring);
	}
	b->ring_ready = false;
	if (b->efd >= 0)
		close(b->efd);
	if (b->fd >= 0)
		close(b->fd);
	b->efd = b->fd = -1;
}

/* A free submission entry, counted as in flight; the caller preps it, then tags it. */
static struct io_uring_sqe *block_sqe(struct block *b)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&b->ring);

	if (sqe)
		b->inflight++;
	return sqe;
}

int block_readv(struct block *b, const struct iovec *iov, unsigned int n, uint64_t off,
		void *cookie)
{
	struct io_uring_sqe *sqe = block_sqe(b);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_readv(sqe, b->fd, iov, n, off);
	io_uring_sqe_set_data(sqe, cookie);
	return 0;
}

int block_writev(struct block *b, const struct iovec *iov, unsigned int n, uint64_t off,
		 void *cookie)
{
	struct io_uring_sqe *sqe = block_sqe(b);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_writev(sqe, b->fd, iov, n, off);
	io_uring_sqe_set_data(sqe, cookie);
	return 0;
}

int block_flush(struct block *b, void *cookie)
{
	struct io_uring_sqe *sqe = block_sqe(b);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data(sqe, cookie);
	sqe->flags |= IOSQE_IO_DRAIN;
	return 0;
}

static int block_fallocate(struct block *b, int mode, uint64_t off, uint64_t len, void *cookie)
{
	struct io_uring_sqe *sqe = block_sqe(b);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, b->fd, mode, (off_t)off, (off_t)len);
	io_uring_sqe_set_data(sqe, cookie);
	return 0;
}

int block_discard(struct block *b, uint64_t off, uint64_t len, void *cookie)
{
	return block_fallocate(b, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len, cookie);
}

int block_write_zeroes(struct block *b, uint64_t off, uint64_t len, bool unmap, void *cookie)
{
	int mode = unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE;

	return block_fallocate(b, mode | FALLOC_FL_KEEP_SIZE, off, len, cookie);
}

int block_submit(struct block *b)
{
	int ret = io_uring_submit(&b->ring);

	return ret < 0 ? ret : 0;
}

void block_reap(struct block *b, bool wait, void (*done)(void *cookie, int res, void *ctx),
		void *ctx)
{
	struct io_uring_cqe *cqe;
	eventfd_t v;

	/* EAGAIN is fine: completions may be there anyway (the eventfd is a hint). */
	eventfd_read(b->efd, &v);
	/* Waiting for entries that were queued but never submitted would hang. */
	if (wait)
		io_uring_submit(&b->ring);
	while (b->inflight) {
		int ret = wait ? io_uring_wait_cqe(&b->ring, &cqe)
			       : io_uring_peek_cqe(&b->ring, &cqe);

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			break;
		if (done)
			done(io_uring_cqe_get_data(cqe), cqe->res, ctx);
		io_uring_cqe_seen(&b->ring, cqe);
		b->inflight--;
	}
}

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console/sock.h"
#include "util/unixsock.h"

void consock_init(struct consock *s, int in_fd, int out_fd)
{
	*s = (struct consock){ .listen_fd = -1, .null_fd = -1, .in_fd = in_fd, .out_fd = out_fd };
}

/* Whether in_fd and out_fd are one connected socket: a manager handed ember its console. */
static bool consock_inherited(const struct consock *s)
{
	struct stat in, out;

	return fstat(s->in_fd, &in) == 0 && fstat(s->out_fd, &out) == 0 && S_ISSOCK(in.st_mode) &&
	       in.st_dev == out.st_dev && in.st_ino == out.st_ino;
}

int consock_open(struct consock *s, const char *path, struct err *err)
{
	int fd;

	s->null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s->null_fd < 0)
		return err_set(err, -errno, "/dev/null: %s", strerror(errno));
	fd = unix_listen(path, 4, 0600, err);
	if (fd < 0) {
		err_prefix(err, "console socket '%s': ", path);
		close(s->null_fd);
		s->null_fd = -1;
		return fd;
	}
	s->listen_fd = fd;
	s->client = consock_inherited(s);
	return 0;
}

/* Both console fds now refer to `fd`'s file (dup2 swaps each in one step for the writers). */
static int consock_point(struct consock *s, int fd)
{
	if (dup2(fd, s->in_fd) < 0 || dup2(fd, s->out_fd) < 0)
		return -errno;
	return 0;
}

int consock_accept(struct consock *s)
{
	int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	int ret;

	if (fd < 0)
		return -errno;
	ret = consock_point(s, fd);
	close(fd);
	if (ret == 0)
		s->client = true;
	return ret;
}

void consock_hangup(struct consock *s)
{
	if (s->client && consock_point(s, s->null_fd) == 0)
		s->client = false;
}

void consock_close(struct consock *s, const char *path)
{
	if (s->listen_fd >= 0) {
		close(s->listen_fd);
		unlink(path);
	}
	if (s->null_fd >= 0)
		close(s->null_fd);
	s->listen_fd = s->null_fd = -1;
}

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/unixsock.h"

static int unix_addr(struct sockaddr_un *a, const char *path, struct err *err)
{
	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (!path[0] || strlen(path) >= sizeof(a->sun_path))
		return err_set(err, -ENAMETOOLONG, "a socket path must be 1 to %zu bytes",
			       sizeof(a->sun_path) - 1);
	strcpy(a->sun_path, path);
	return 0;
}

/* A socket file at the path: stale (nobody listens) is removed, live is an error. */
static int unix_clear_stale(const struct sockaddr_un *a, struct err *err)
{
	struct stat st;
	int fd, ret;

	if (lstat(a->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : err_set(err, -errno, "%s", strerror(errno));
	if (!S_ISSOCK(st.st_mode))
		return err_set(err, -EEXIST, "exists and is not a socket");
	/* Non-blocking: a listener with a full backlog is busy, not a reason to hang. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return err_set(err, -errno, "%s", strerror(errno));
	ret = connect(fd, (const struct sockaddr *)a, sizeof(*a));
	close(fd);
	if (ret == 0 || errno != ECONNREFUSED)
		return err_set(err, -EADDRINUSE, "another process listens on it");
	return unlink(a->sun_path) < 0 ? err_set(err, -errno, "%s", strerror(errno)) : 0;
}

int unix_connect(const char *path, int flags)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(a.sun_path))
		return -ENAMETOOLONG;
	strcpy(a.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
		return fd;
	ret = -errno;
	close(fd);
	return ret;
}

int unix_listen(const char *path, int backlog, mode_t mode, struct err *err)
{
	struct sockaddr_un a;
	mode_t old_mask;
	int fd, ret = unix_addr(&a, path, err);

	if (ret == 0)
		ret = unix_clear_stale(&a, err);
	if (ret < 0)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_set(err, -errno, "%s", strerror(errno));
	/*
	 * The file gets its mode at bind, from the umask: a chmod by path
	 * afterwards could follow a link swapped in meanwhile. (The umask is
	 * the process's: this runs before the VM's threads make files.)
	 */
	old_mask = umask(~mode & 0777);
	ret = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old_mask);
	if (ret < 0) {
		ret = -errno;
		close(fd);
		return err_set(err, ret, "%s", strerror(-ret));
	}
	if (listen(fd, backlog) < 0) {
		ret = -errno;
		close(fd);
		unlink(path);
		return err_set(err, ret, "%s", strerror(-ret));
	}
	return fd;
}

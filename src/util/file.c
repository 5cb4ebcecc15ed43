#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file.h"

int file_open_regular(const char *path, const char *what, uint64_t *size, struct err *err)
{
	struct stat st;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(err, -errno, "cannot open %s '%s': %s", what, path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		ret = err_set(err, -errno, "cannot stat %s '%s': %s", what, path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = err_set(err, -EINVAL, "%s '%s' is not a regular file", what, path);
		goto fail;
	}
	if (st.st_size == 0) {
		ret = err_set(err, -EINVAL, "%s '%s' is empty", what, path);
		goto fail;
	}
	*size = (uint64_t)st.st_size;
	return fd;
fail:
	close(fd);
	return ret;
}

int file_write_all(int fd, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_read_exact(int fd, void *buf, size_t len, uint64_t off, const char *what, struct err *err)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_set(err, -errno, "cannot read %s: %s", what, strerror(errno));
		if (n == 0)
			return err_set(err, -EIO, "%s shrank while it was being read", what);
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int file_view_load(struct file_view *fv, const char *path, const char *what, size_t max_size,
		   struct err *err)
{
	uint64_t size;
	void *buf;
	int fd, ret;

	fv->data = NULL;
	fv->size = 0;
	fd = file_open_regular(path, what, &size, err);
	if (fd < 0)
		return fd;
	if (size > max_size) {
		ret = err_set(err, -EFBIG, "%s '%s' is too large (%llu bytes, at most %zu)", what,
			      path, (unsigned long long)size, max_size);
		goto out;
	}
	/* Anonymous mapping rather than malloc: the pages go back to the OS on release. */
	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		ret = err_set(err, -ENOMEM, "cannot allocate %llu bytes for %s",
			      (unsigned long long)size, what);
		goto out;
	}
	ret = file_read_exact(fd, buf, size, 0, what, err);
	if (ret < 0) {
		munmap(buf, size);
		goto out;
	}
	fv->data = buf;
	fv->size = size;
out:
	close(fd);
	return ret;
}

void file_view_release(struct file_view *fv)
{
	if (fv->data)
		munmap(fv->data, fv->size);
	fv->data = NULL;
	fv->size = 0;
}

int file_open_sink(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

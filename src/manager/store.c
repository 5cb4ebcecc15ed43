#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/vm_json.h"
#include "manager/store.h"
#include "util/file.h"

static int make_dir(const char *path, struct err *err)
{
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return err_set(err, -errno, "cannot create '%s': %s", path, strerror(errno));
	return 0;
}

int store_init(const char *dir, struct err *err)
{
	static const char *const subdirs[] = { "vms", "run", "snapshots", "networks", "netrun" };
	int ret = make_dir(dir, err);

	for (size_t i = 0; ret == 0 && i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		char *p = store_path(dir, "%s", subdirs[i]);

		ret = p ? make_dir(p, err) : err_set(err, -ENOMEM, "out of memory");
		free(p);
	}
	return ret;
}

char *store_path(const char *dir, const char *fmt, ...)
{
	char *rel = NULL, *full = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&rel, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	if (asprintf(&full, "%s/%s", dir, rel) < 0)
		full = NULL;
	free(rel);
	return full;
}

static int write_fd(int fd, const char *data, size_t len)
{
	int ret = file_write_all(fd, data, len);

	return ret < 0 ? ret : fsync(fd) < 0 ? -errno : 0;
}

int store_write(const char *path, const char *data, size_t len, struct err *err)
{
	char *tmp = NULL;
	int fd, ret;

	if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
		return err_set(err, -ENOMEM, "out of memory");
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0) {
		ret = err_set(err, -errno, "cannot write '%s': %s", path, strerror(errno));
		free(tmp);
		return ret;
	}
	ret = write_fd(fd, data, len);
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret == 0 && rename(tmp, path) < 0)
		ret = -errno;
	if (ret < 0) {
		unlink(tmp);
		err_set(err, ret, "cannot write '%s': %s", path, strerror(-ret));
	}
	free(tmp);
	return ret;
}

int store_write_json(const char *path, struct json_object *o, struct err *err)
{
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);

	return store_write(path, text, strlen(text), err);
}

int store_read_json(const char *path, struct json_object **out, struct err *err)
{
	struct file_view fv = { 0 };
	int ret = file_view_load(&fv, path, "state file", 1 << 20, err);

	if (ret < 0)
		return ret;
	ret = vm_json_parse((const char *)fv.data, fv.size, out, err);
	file_view_release(&fv);
	return ret;
}

void store_remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(path);
}

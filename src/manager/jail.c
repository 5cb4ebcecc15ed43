#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/vm_json.h"
#include "manager/jail.h"
#include "manager/store.h"

#define JAIL_DEPTH_MAX 16 /* how deep a removal goes into what the jail's uid made */

int jail_check(struct json_object *def, struct err *err)
{
	struct json_object *j = json_object_object_get(def, "jail");
	int ret;

	if (!j)
		return 0;
	ret = vm_json_check(j, "jail", (const char *const[]){ "uid:i!", "gid:i!" }, 2, err);
	if (ret < 0)
		return ret;
	for (int i = 0; i < 2; i++) {
		int64_t v = json_object_get_int64(json_object_object_get(j, i ? "gid" : "uid"));

		if (v < 0 || v > INT32_MAX)
			return err_set(err, -EINVAL, "jail: '%s' must be from 0 to %d",
				       i ? "gid" : "uid", INT32_MAX);
	}
	return 0;
}

bool jail_of(struct json_object *def, struct jail_ids *ids)
{
	struct json_object *j = json_object_object_get(def, "jail");

	if (!j)
		return false;
	ids->uid = (uid_t)json_object_get_int64(json_object_object_get(j, "uid"));
	ids->gid = (gid_t)json_object_get_int64(json_object_object_get(j, "gid"));
	return true;
}

char *jail_base(const char *dir)
{
	return store_path(dir, "jail");
}

char *jail_root(const char *dir, const char *name)
{
	return store_path(dir, "jail/ember/%s/root", name);
}

/* `name` in `dfd`, a file or a tree: through directory fds, never following a link. */
static void remove_at(int dfd, const char *name, int depth)
{
	struct dirent *e;
	DIR *d;
	int fd;

	if (unlinkat(dfd, name, 0) == 0 || (errno != EISDIR && errno != EPERM) ||
	    depth > JAIL_DEPTH_MAX)
		return;
	fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			remove_at(dirfd(d), e->d_name, depth + 1);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

void jail_remove(const char *dir, const char *name)
{
	char *parent = store_path(dir, "jail/ember");
	int fd = parent ? open(parent, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;

	free(parent);
	if (fd < 0)
		return;
	remove_at(fd, name, 0);
	close(fd);
}

/* Whether the jail's uid/gid may read (`bits` 4) or read and write (6) a file like `st`. */
static bool allowed(const struct stat *st, const struct jail_ids *ids, unsigned int bits)
{
	unsigned int mode = st->st_uid == ids->uid   ? (st->st_mode >> 6) & 7
			    : st->st_gid == ids->gid ? (st->st_mode >> 3) & 7
						     : st->st_mode & 7;

	return ids->uid == 0 || (mode & bits) == bits;
}

static int copy_in(int rootfd, const char *src, const char *name, struct err *err)
{
	int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, ret = 0;
	struct stat st;

	if (in < 0 || fstat(in, &st) < 0)
		ret = -errno;
	if (ret == 0) {
		out = openat(rootfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     0444);
		if (out < 0)
			ret = -errno;
	}
	for (off_t left = st.st_size; ret == 0 && left > 0;) {
		ssize_t n = sendfile(out, in, NULL, (size_t)left);

		if (n <= 0)
			ret = n < 0 ? -errno : -EIO;
		else
			left -= n;
	}
	if (in >= 0)
		close(in);
	if (out >= 0 && close(out) < 0 && ret == 0)
		ret = -errno;
	return ret < 0 ? err_set(err, ret, "cannot copy '%s' into the jail: %s", src,
				 strerror(-ret))
		       : 0;
}

/*
 * `src` as `name` in the jail: a hard link (of the link itself when
 * `link_flags` has no AT_SYMLINK_FOLLOW), given to the uid when `write`
 * needs it or it could not read it. A read-only file that cannot be linked
 * or read by the uid is copied (`copy_ok`: a kernel, an initrd; never a disk).
 */
static int put_file_at(int rootfd, const char *src, int link_flags, const char *name,
		       const struct jail_ids *ids, bool write, bool copy_ok, struct err *err)
{
	unsigned int need = write ? 6 : 4;
	struct stat st;
	int fd, ret = 0;

	if (linkat(AT_FDCWD, src, rootfd, name, link_flags) < 0) {
		if (errno == EXDEV && copy_ok)
			return copy_in(rootfd, src, name, err);
		return err_set(err, -errno, "cannot link '%s' into the jail: %s%s", src,
			       strerror(errno),
			       errno == EXDEV ? " (a jailed VM's disks must be on the filesystem "
						"of emberd's state directory)"
					      : "");
	}
	/* Through an fd of what was just linked: the uid may have swapped the name meanwhile. */
	fd = openat(rootfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = err_set(err, fd < 0 ? -errno : -EINVAL, "'%s' in the jail is no file", name);
	} else if (allowed(&st, ids, need)) {
		ret = 0;
	} else if (copy_ok && !write) {
		unlinkat(rootfd, name, 0);
		ret = copy_in(rootfd, src, name, err);
	} else if (fchown(fd, ids->uid, ids->gid) < 0 ||
		   (((st.st_mode >> 6) & need) != need &&
		    fchmod(fd, (st.st_mode & 07777) | (need << 6)) < 0)) {
		ret = err_set(err, -errno, "cannot give '%s' to uid %u: %s", src,
			      (unsigned int)ids->uid, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

/* A path from the definition (links in it followed: the administrator's). */
static int put_file(int rootfd, const char *src, const char *name, const struct jail_ids *ids,
		    bool write, bool copy_ok, struct err *err)
{
	return put_file_at(rootfd, src, AT_SYMLINK_FOLLOW, name, ids, write, copy_ok, err);
}

/* Field `key` of `o` (a path) put in the jail as /`name`, and the field rewritten so. */
static int jail_field(int rootfd, struct json_object *o, const char *key, const char *name,
		      const struct jail_ids *ids, bool write, bool copy_ok, struct err *err)
{
	struct json_object *v = o ? json_object_object_get(o, key) : NULL;
	char path[80];
	int ret;

	if (!v)
		return 0;
	ret = put_file(rootfd, json_object_get_string(v), name, ids, write, copy_ok, err);
	if (ret < 0)
		return ret;
	snprintf(path, sizeof(path), "/%s", name);
	json_object_object_add(o, key, json_object_new_string(path));
	return 0;
}

/* A path in the jail for a file ember makes (a socket, the serial port's output). */
static void jail_made(struct json_object *o, const char *key, const char *path)
{
	if (o && json_object_object_get(o, key))
		json_object_object_add(o, key, json_object_new_string(path));
}

static int jail_drives(int rootfd, struct json_object *drives, const struct jail_ids *ids,
		       struct err *err)
{
	int ret = 0;

	for (size_t i = 0; ret == 0 && drives && i < json_object_array_length(drives); i++) {
		struct json_object *d = json_object_array_get_idx(drives, i);
		char name[80];

		/* drive_id: letters, digits, '_' and '-' (the config's check). */
		snprintf(name, sizeof(name), "drive-%s",
			 json_object_get_string(json_object_object_get(d, "drive_id")));
		ret = jail_field(
			rootfd, d, "path_on_host", name, ids,
			!json_object_get_boolean(json_object_object_get(d, "is_read_only")), false,
			err);
	}
	return ret;
}

int jail_fill(const char *root, struct json_object *cfg, const struct jail_ids *ids,
	      struct json_object **jailed, struct err *err)
{
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret;
	struct json_object *j = NULL, *boot;

	if (rootfd < 0)
		return err_set(err, -errno, "the jail '%s': %s", root, strerror(errno));
	ret = json_object_deep_copy(cfg, &j, NULL) < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
	boot = j ? json_object_object_get(j, "boot-source") : NULL;
	if (ret == 0)
		ret = jail_field(rootfd, boot, "kernel_image_path", "kernel", ids, false, true,
				 err);
	if (ret == 0)
		ret = jail_field(rootfd, boot, "initrd_path", "initrd", ids, false, true, err);
	if (ret == 0)
		ret = jail_drives(rootfd, json_object_object_get(j, "drives"), ids, err);
	close(rootfd);
	if (ret < 0) {
		json_object_put(j);
		return ret;
	}
	jail_made(json_object_object_get(j, "vsock"), "uds_path", JAIL_VSOCK_PATH);
	jail_made(json_object_object_get(j, "serial"), "serial_out_path", "/serial.out");
	*jailed = j;
	return 0;
}

int jail_link_in(const char *root, const char *path, const char *name, const struct jail_ids *ids,
		 struct err *err)
{
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret;

	if (rootfd < 0)
		return err_set(err, -errno, "the jail '%s': %s", root, strerror(errno));
	unlinkat(rootfd, name, 0);
	ret = put_file_at(rootfd, path, 0, name, ids, false, false, err);
	close(rootfd);
	return ret;
}

int jail_take_out(const char *root, const char *name, const char *dest, struct err *err)
{
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), ret = 0;
	struct stat st;

	if (rootfd < 0)
		return err_set(err, -errno, "the jail '%s': %s", root, strerror(errno));
	if (fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
	    renameat(rootfd, name, AT_FDCWD, dest) < 0)
		ret = err_set(err, -EIO, "the jail has no file '%s'", name);
	/* What the uid could swap in between the look and the move: not a file, not kept. */
	if (ret == 0 && (lstat(dest, &st) < 0 || !S_ISREG(st.st_mode))) {
		unlink(dest);
		ret = err_set(err, -EIO, "the jail's '%s' is no file", name);
	}
	close(rootfd);
	return ret;
}

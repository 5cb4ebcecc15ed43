#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jailer/cgroup.h"

/* "a/b" into out; -ENAMETOOLONG rather than a cut path. */
static int path_join(char *out, size_t cap, const char *a, const char *b)
{
	int n = snprintf(out, cap, "%s/%s", a, b);

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int cgroup_add_setting(struct cgroup_jail *cg, const char *spec, struct err *err)
{
	const char *eq = strchr(spec, '=');
	const char *dot = strchr(spec, '.');

	if (!eq || !dot || dot > eq || dot == spec || eq[1] == '\0' || strchr(spec, '/'))
		return err_set(err, -EINVAL,
			       "--cgroup: expected FILE=VALUE with FILE like memory.max, not '%s'",
			       spec);
	if (cg->nr_settings == CGROUP_MAX_SETTINGS)
		return err_set(err, -E2BIG, "--cgroup: at most %d settings", CGROUP_MAX_SETTINGS);
	cg->settings[cg->nr_settings++] = (struct cgroup_setting){ spec, eq + 1 };
	return 0;
}

/* The mount point of the v1 hierarchy with `controller`, or of the v2 one. */
static int cgroup_mount(int version, const char *controller, char *out, size_t cap)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		bool match = version == 2 ? strcmp(m->mnt_type, "cgroup2") == 0
					  : strcmp(m->mnt_type, "cgroup") == 0 &&
						    hasmntopt(m, controller) != NULL;

		if (match) {
			snprintf(out, cap, "%s", m->mnt_dir);
			ret = 0;
			break;
		}
	}
	endmntent(f);
	return ret;
}

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[PATH_MAX];
	int fd, ret = 0;
	ssize_t n;

	if (path_join(path, sizeof(path), dir, file) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n != (ssize_t)strlen(value))
		ret = n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

static int read_file(const char *dir, const char *file, char *buf, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (path_join(path, sizeof(path), dir, file) < 0)
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

/* mkdir that remembers what it made; an existing directory is fine (a shared parent). */
static int cgroup_mkdir(struct cgroup_jail *cg, const char *path, struct err *err)
{
	if (mkdir(path, 0755) == 0) {
		if (cg->nr_created == CGROUP_MAX_DIRS)
			return err_set(err, -E2BIG, "too many cgroups");
		cg->created[cg->nr_created] = strdup(path);
		if (!cg->created[cg->nr_created++])
			return err_set(err, -ENOMEM, "out of memory");
		return 0;
	}
	return errno == EEXIST ? 0 : err_set(err, -errno, "cgroup '%s': %s", path, strerror(errno));
}

/*
 * v1 cpuset: a new cgroup starts with no CPUs and no memory nodes, and
 * takes no process until given some: inherit the parent's.
 */
static int cpuset_inherit(const char *parent, const char *dir)
{
	static const char *const files[] = { "cpuset.cpus", "cpuset.mems" };
	char value[4096];

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		int ret = read_file(parent, files[i], value, sizeof(value));

		if (ret == 0 && value[0] != '\n')
			ret = write_file(dir, files[i], value);
		if (ret < 0)
			return ret;
	}
	return 0;
}

/* <mount>/<parent>/<id> for the hierarchy of `controller`, made if missing. */
static int cgroup_dir(struct cgroup_jail *cg, const char *controller, char *dir, size_t cap,
		      struct err *err)
{
	char mnt[PATH_MAX], parent[PATH_MAX];
	int ret = cgroup_mount(cg->version, controller, mnt, sizeof(mnt));

	if (ret < 0)
		return err_set(err, ret, "no cgroup v%d hierarchy %s%s is mounted", cg->version,
			       cg->version == 1 ? "for " : "", cg->version == 1 ? controller : "");
	if (path_join(parent, sizeof(parent), mnt, cg->parent) < 0 ||
	    path_join(dir, cap, parent, cg->id) < 0)
		return err_set(err, -ENAMETOOLONG, "cgroup path too long");
	ret = cgroup_mkdir(cg, parent, err);
	if (ret == 0 && cg->version == 2) {
		char plus[80];

		/* The settings' controllers must be on for the children of each level. */
		snprintf(plus, sizeof(plus), "+%s", controller);
		if (write_file(mnt, "cgroup.subtree_control", plus) < 0 ||
		    write_file(parent, "cgroup.subtree_control", plus) < 0)
			return err_set(err, -EINVAL, "cgroup v2: cannot enable the %s controller",
				       controller);
	}
	if (ret == 0)
		ret = cgroup_mkdir(cg, dir, err);
	if (ret == 0 && cg->version == 1 && strcmp(controller, "cpuset") == 0 &&
	    cpuset_inherit(parent, dir) < 0)
		ret = err_set(err, -EINVAL, "cgroup '%s': cannot set cpuset.cpus/mems", dir);
	return ret;
}

static int cgroup_join(struct cgroup_jail *cg, const char *dir, pid_t pid, struct err *err)
{
	char value[32];
	int ret;

	for (unsigned int i = 0; i < cg->nr_joined; i++)
		if (strcmp(cg->joined[i], dir) == 0)
			return 0;
	snprintf(value, sizeof(value), "%d", (int)pid);
	/* cgroup.procs (v1 too) moves every thread of the process, not just one. */
	ret = write_file(dir, "cgroup.procs", value);
	if (ret < 0)
		return err_set(err, ret, "cgroup '%s': cannot move the process in: %s", dir,
			       strerror(-ret));
	cg->joined[cg->nr_joined] = strdup(dir);
	return cg->joined[cg->nr_joined++] ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int cgroup_apply_one(struct cgroup_jail *cg, const struct cgroup_setting *s, char *dir,
			    size_t cap, struct err *err)
{
	char controller[64];
	size_t n = (size_t)(strchr(s->file, '.') - s->file);
	char file[256];
	int ret;

	snprintf(controller, sizeof(controller), "%.*s", (int)n, s->file);
	snprintf(file, sizeof(file), "%.*s", (int)(s->value - 1 - s->file), s->file);
	ret = cgroup_dir(cg, controller, dir, cap, err);
	if (ret < 0)
		return ret;
	ret = write_file(dir, file, s->value);
	if (ret < 0)
		return err_set(err, ret, "cgroup: cannot set %s to '%s': %s", file, s->value,
			       strerror(-ret));
	return 0;
}

int cgroup_apply(struct cgroup_jail *cg, pid_t pid, struct err *err)
{
	char dirs[CGROUP_MAX_SETTINGS][PATH_MAX];
	int ret = 0;

	/* Every setting first, then the moves: a refused value leaves no process behind. */
	for (unsigned int i = 0; i < cg->nr_settings && ret == 0; i++)
		ret = cgroup_apply_one(cg, &cg->settings[i], dirs[i], sizeof(dirs[i]), err);
	for (unsigned int i = 0; i < cg->nr_settings && ret == 0; i++)
		ret = cgroup_join(cg, dirs[i], pid, err);
	if (ret < 0)
		cgroup_undo(cg);
	return ret;
}

void cgroup_leave(struct cgroup_jail *cg)
{
	char value[32], root[PATH_MAX];
	size_t tail;

	snprintf(value, sizeof(value), "%d", (int)getpid());
	for (unsigned int i = 0; i < cg->nr_joined; i++) {
		/* joined[i] is <mount>/<parent>/<id>: back to <mount>, the root cgroup. */
		tail = strlen(cg->parent) + strlen(cg->id) + 2;
		if (strlen(cg->joined[i]) <= tail)
			continue;
		snprintf(root, sizeof(root), "%.*s", (int)(strlen(cg->joined[i]) - tail),
			 cg->joined[i]);
		write_file(root, cg->version == 1 ? "tasks" : "cgroup.procs", value);
	}
}

void cgroup_undo(struct cgroup_jail *cg)
{
	/* Deepest first; a cgroup still holding a process stays (rmdir says EBUSY). */
	for (unsigned int i = cg->nr_created; i-- > 0;)
		rmdir(cg->created[i]);
}

void cgroup_fini(struct cgroup_jail *cg)
{
	for (unsigned int i = 0; i < cg->nr_created; i++)
		free(cg->created[i]);
	for (unsigned int i = 0; i < cg->nr_joined; i++)
		free(cg->joined[i]);
	cg->nr_created = cg->nr_joined = 0;
}

int cgroup_version(void)
{
	char mnt[PATH_MAX], ctl[512] = "";

	if (cgroup_mount(2, NULL, mnt, sizeof(mnt)) == 0 &&
	    read_file(mnt, "cgroup.controllers", ctl, sizeof(ctl)) == 0 &&
	    (strstr(ctl, "memory") || strstr(ctl, "cpu")))
		return 2;
	if (cgroup_mount(1, "memory", mnt, sizeof(mnt)) == 0 ||
	    cgroup_mount(1, "cpu", mnt, sizeof(mnt)) == 0)
		return 1;
	return -ENOENT;
}

int cgroup_write(int version, const char *parent, const char *id, const char *file,
		 const char *value, struct err *err)
{
	char controller[64], mnt[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX];
	const char *dot = strchr(file, '.');
	int ret;

	if (!dot || (size_t)(dot - file) >= sizeof(controller))
		return err_set(err, -EINVAL, "cgroup: bad file '%s'", file);
	snprintf(controller, sizeof(controller), "%.*s", (int)(dot - file), file);
	ret = cgroup_mount(version, controller, mnt, sizeof(mnt));
	if (ret == 0 && (path_join(tmp, sizeof(tmp), mnt, parent) < 0 ||
			 path_join(dir, sizeof(dir), tmp, id) < 0))
		ret = -ENAMETOOLONG;
	if (ret == 0)
		ret = write_file(dir, file, value);
	return ret < 0 ? err_set(err, ret, "cgroup: cannot set %s to '%s': %s", file, value,
				 strerror(-ret))
		       : 0;
}

void cgroup_remove(int version, const char *parent, const char *id)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	char dir[PATH_MAX];

	while (f && (m = getmntent(f)))
		if (!strcmp(m->mnt_type, version == 2 ? "cgroup2" : "cgroup") &&
		    snprintf(dir, sizeof(dir), "%s/%s/%s", m->mnt_dir, parent, id) <
			    (int)sizeof(dir))
			rmdir(dir);
	if (f)
		endmntent(f);
}

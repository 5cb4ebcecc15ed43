#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "config/vm_json.h"
#include "util/log.h"
#include "util/ratelimit.h"
#include "vmm/snapshot.h"

#define TAG_CONFIG SNAP_TAG('C', 'O', 'N', 'F')
#define TAG_RAM	   SNAP_TAG('R', 'A', 'M', 'S')
#define PAGE	   4096u

/* A temporary file beside `path`, renamed over it once complete. */
struct out_file {
	char *tmp;
	const char *path;
	int fd;
};

static int out_open(struct out_file *f, const char *path, const char *what, struct err *err)
{
	*f = (struct out_file){ .path = path, .fd = -1 };
	if (asprintf(&f->tmp, "%s.XXXXXX", path) < 0) {
		f->tmp = NULL;
		return err_set(err, -ENOMEM, "out of memory");
	}
	f->fd = mkostemp(f->tmp, O_CLOEXEC);
	if (f->fd < 0)
		return err_set(err, -errno, "%s '%s': cannot create it: %s", what, path,
			       strerror(errno));
	return 0;
}

static int out_commit(struct out_file *f, const char *what, struct err *err)
{
	if (close(f->fd) < 0) {
		f->fd = -1;
		return err_set(err, -errno, "%s '%s': %s", what, f->path, strerror(errno));
	}
	f->fd = -1;
	if (rename(f->tmp, f->path) < 0)
		return err_set(err, -errno, "%s '%s': %s", what, f->path, strerror(errno));
	free(f->tmp);
	f->tmp = NULL;
	return 0;
}

/* Drops what out_commit() did not take: the half-written temporary file. */
static void out_abandon(struct out_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->tmp)
		unlink(f->tmp);
	free(f->tmp);
	f->tmp = NULL;
	f->fd = -1;
}

bool snapshot_page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;

	for (unsigned int i = 0; i < PAGE / sizeof(*w); i++)
		if (w[i])
			return false;
	return true;
}

static int pwrite_all(int fd, const uint8_t *p, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* A page the memory file gets: a diff's written ones (zero or not), else the non-zero ones. */
static bool page_goes(const uint8_t *ram, uint64_t i, const uint64_t *only)
{
	return only ? (only[i / 64] >> (i % 64)) & 1 : !snapshot_page_is_zero(ram + i * PAGE);
}

/*
 * Guest RAM into a sparse file of RAM's size: runs of the pages that go
 * are written, the rest left as holes (zero in a full snapshot, unchanged
 * since the last snapshot in a diff).
 */
static int write_memory(const struct vm *vm, int fd, const uint64_t *only)
{
	const uint8_t *ram = vm->ram;
	uint64_t pages = vm->ram_size / PAGE, i = 0;
	int ret;

	if (ftruncate(fd, (off_t)vm->ram_size) < 0)
		return -errno;
	while (i < pages) {
		uint64_t start;

		while (i < pages && !page_goes(ram, i, only))
			i++;
		start = i;
		while (i < pages && page_goes(ram, i, only))
			i++;
		if (i == start)
			continue;
		ret = pwrite_all(fd, ram + start * PAGE, (i - start) * PAGE, (off_t)(start * PAGE));
		if (ret < 0)
			return ret;
	}
	return 0;
}

char *snapshot_description(const struct vm_config *cfg)
{
	struct json_object *desc = vm_json_state_dump(cfg);
	const char *text = json_object_to_json_string_ext(desc, JSON_C_TO_STRING_PLAIN);
	char *copy = text ? strdup(text) : NULL;

	json_object_put(desc);
	return copy;
}

int snapshot_collect(struct vm *vm, const struct vm_config *cfg, struct snapw *w, struct err *err)
{
	char *text = snapshot_description(cfg);
	uint64_t ram = vm->ram_size;
	int ret = 0;

	if (!text)
		ret = err_set(err, -ENOMEM, "out of memory");
	else
		snapw_put(w, TAG_CONFIG, 0, text, strlen(text));
	free(text);
	snapw_put(w, TAG_RAM, 0, &ram, sizeof(ram));
	return ret < 0 ? ret : arch_snapshot_save(vm, w, err);
}

static int write_files(struct vm *vm, struct snapw *w, const struct ctl_snapshot *rq,
		       const uint64_t *only, struct out_file *state, struct out_file *mem,
		       struct err *err)
{
	int ret = out_open(mem, rq->mem_path, "memory file", err);

	if (ret == 0)
		ret = out_open(state, rq->snapshot_path, "snapshot", err);
	if (ret < 0)
		return ret;
	ret = write_memory(vm, mem->fd, only);
	if (ret < 0)
		return err_set(err, ret, "memory file '%s': cannot write: %s", rq->mem_path,
			       strerror(-ret));
	ret = snapw_write(w, state->fd, err);
	if (ret == 0)
		ret = out_commit(mem, "memory file", err);
	return ret < 0 ? ret : out_commit(state, "snapshot", err);
}

int snapshot_create(struct vm *vm, const struct vm_config *cfg, const struct ctl_snapshot *rq,
		    struct err *err)
{
	struct out_file state = { .fd = -1 }, mem = { .fd = -1 };
	struct snapw w;
	uint64_t t0 = monotonic_ns(), *dirty = NULL;
	int ret;

	if (rq->diff && !vm->since_snapshot)
		return err_set(err, -EINVAL,
			       "diff snapshots need dirty page tracking (machine-config "
			       "track_dirty_pages, or track_dirty_pages on snapshot load)");
	snapw_init(&w);
	/* The state first: finishing the disks' requests writes guest memory. */
	ret = snapshot_collect(vm, cfg, &w, err);
	/* Every snapshot starts a new interval for the next diff. */
	if (ret == 0 && vm->since_snapshot) {
		dirty = calloc((vm->ram_size / PAGE + 63) / 64, sizeof(*dirty));
		ret = dirty ? vm_dirty_since_snapshot(vm, dirty, err)
			    : err_set(err, -ENOMEM, "out of memory");
	}
	if (ret == 0)
		ret = write_files(vm, &w, rq, rq->diff ? dirty : NULL, &state, &mem, err);
	out_abandon(&state);
	out_abandon(&mem);
	snapw_fini(&w);
	free(dirty);
	if (ret == 0)
		log_info("snapshot: '%s' and '%s' written in %llu ms", rq->snapshot_path,
			 rq->mem_path, (unsigned long long)((monotonic_ns() - t0) / 1000000));
	return ret;
}

int snapshot_read(const char *path, struct snapr *r, struct vm_config *cfg, struct err *err)
{
	const char *text;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return err_set(err, -errno, "snapshot '%s': %s", path, strerror(errno));
	ret = snapr_load(r, fd, err);
	close(fd);
	if (ret < 0) {
		err_prefix(err, "snapshot '%s': ", path);
		return ret;
	}
	text = snapr_find(r, TAG_CONFIG, 0, &len);
	if (!text)
		ret = err_set(err, -EINVAL, "snapshot '%s' has no VM description", path);
	if (ret == 0)
		ret = snapshot_parse_description(text, len, cfg, err);
	if (ret < 0)
		snapr_fini(r);
	return ret;
}

int snapshot_parse_description(const char *text, size_t len, struct vm_config *cfg, struct err *err)
{
	struct json_object *desc = NULL;
	int ret = vm_json_parse(text, len, &desc, err);

	if (ret == 0)
		ret = vm_json_state_load(cfg, desc, err);
	json_object_put(desc);
	return ret;
}

int snapshot_open_memory(const char *path, struct err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	return fd < 0 ? err_set(err, -errno, "memory file '%s': %s", path, strerror(errno)) : fd;
}

int snapshot_restore(struct vm *vm, const struct snapr *r, struct err *err)
{
	uint64_t ram;
	int ret = snapr_get(r, TAG_RAM, 0, &ram, sizeof(ram), "RAM size", err);

	if (ret == 0 && ram != vm->ram_size)
		ret = err_set(err, -EINVAL, "snapshot's RAM size does not match its description");
	return ret < 0 ? ret : arch_snapshot_restore(vm, r, err);
}

/* Copies [off, off + len) of `from` to the same place in `to`. */
static int copy_range(int from, int to, off_t off, off_t len)
{
	static uint8_t buf[1 << 20];

	while (len > 0) {
		ssize_t n = pread(from, buf, (size_t)MIN(len, (off_t)sizeof(buf)), off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		int ret = pwrite_all(to, buf, (size_t)n, off);

		if (ret < 0)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

static int rebase_fds(int base, int diff, struct err *err)
{
	struct stat sb, sd;
	off_t data = 0, hole;
	int ret = 0;

	if (fstat(base, &sb) < 0 || fstat(diff, &sd) < 0)
		return err_set(err, -errno, "%s", strerror(errno));
	if (!S_ISREG(sb.st_mode) || !S_ISREG(sd.st_mode) || sb.st_size != sd.st_size)
		return err_set(
			err, -EINVAL,
			"the base (%lld bytes) and the diff (%lld bytes) are not memory files "
			"of one VM",
			(long long)sb.st_size, (long long)sd.st_size);
	while (ret == 0 && (data = lseek(diff, data, SEEK_DATA)) >= 0) {
		hole = lseek(diff, data, SEEK_HOLE);
		if (hole < 0)
			return err_set(err, -errno, "diff: %s", strerror(errno));
		ret = copy_range(diff, base, data, hole - data);
		data = hole;
	}
	if (ret < 0)
		return err_set(err, ret, "cannot copy the diff: %s", strerror(-ret));
	if (errno != ENXIO) /* ENXIO: no data after `data`, the end */
		return err_set(err, -errno, "diff: %s", strerror(errno));
	return fsync(base) < 0 ? err_set(err, -errno, "base: %s", strerror(errno)) : 0;
}

int snapshot_rebase(const char *base, const char *diff, struct err *err)
{
	int b = open(base, O_WRONLY | O_CLOEXEC), d, ret;

	if (b < 0)
		return err_set(err, -errno, "base '%s': %s", base, strerror(errno));
	d = open(diff, O_RDONLY | O_CLOEXEC);
	if (d < 0) {
		ret = err_set(err, -errno, "diff '%s': %s", diff, strerror(errno));
		close(b);
		return ret;
	}
	ret = rebase_fds(b, d, err);
	close(d);
	if (close(b) < 0 && ret == 0)
		ret = err_set(err, -errno, "base '%s': %s", base, strerror(errno));
	return ret;
}

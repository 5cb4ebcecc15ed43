#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "snapshot/snapfile.h"
#include "util/file.h"

#define REC_HEADER 16

struct snap_header {
	char magic[8];
	uint32_t version;
	uint32_t arch;
	uint64_t body_len;
	uint32_t body_crc;
	uint32_t header_crc;
};

_Static_assert(sizeof(struct snap_header) == SNAP_HEADER_SIZE, "snapshot header layout");

static uint32_t crc(const void *data, size_t len)
{
	return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), data, len);
}

static size_t pad8(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

void snapw_init(struct snapw *w)
{
	*w = (struct snapw){ 0 };
}

static int snapw_reserve(struct snapw *w, size_t more)
{
	size_t cap = w->cap ? w->cap : 4096;
	uint8_t *p;

	if (more > SNAP_MAX_FILE_SIZE || w->len + more > SNAP_MAX_FILE_SIZE)
		return -EFBIG;
	while (cap < w->len + more)
		cap *= 2;
	if (cap == w->cap)
		return 0;
	p = realloc(w->buf, cap);
	if (!p)
		return -ENOMEM;
	w->buf = p;
	w->cap = cap;
	return 0;
}

void snapw_put(struct snapw *w, uint32_t tag, uint32_t inst, const void *data, size_t len)
{
	uint64_t len64 = len;
	uint8_t *p;
	int ret;

	if (w->error)
		return;
	ret = snapw_reserve(w, REC_HEADER + pad8(len));
	if (ret < 0) {
		w->error = ret;
		return;
	}
	p = w->buf + w->len;
	memcpy(p, &tag, 4);
	memcpy(p + 4, &inst, 4);
	memcpy(p + 8, &len64, 8);
	if (len)
		memcpy(p + REC_HEADER, data, len);
	memset(p + REC_HEADER + len, 0, pad8(len) - len);
	w->len += REC_HEADER + pad8(len);
}

static struct snap_header snapw_header(const struct snapw *w)
{
	struct snap_header h = { .version = SNAP_VERSION,
				 .arch = SNAP_ARCH_X86_64,
				 .body_len = w->len,
				 .body_crc = crc(w->buf, w->len) };

	memcpy(h.magic, SNAP_MAGIC, sizeof(h.magic));
	h.header_crc = crc(&h, offsetof(struct snap_header, header_crc));
	return h;
}

int snapw_write(struct snapw *w, int fd, struct err *err)
{
	struct snap_header h;
	int ret;

	if (w->error)
		return err_set(err, w->error, "snapshot: cannot collect the VM's state: %s",
			       strerror(-w->error));
	h = snapw_header(w);
	ret = file_write_all(fd, &h, sizeof(h));
	if (ret == 0)
		ret = file_write_all(fd, w->buf, w->len);
	return ret < 0 ? err_set(err, ret, "snapshot: cannot write: %s", strerror(-ret)) : 0;
}

int snapw_image(struct snapw *w, uint8_t **out, size_t *len)
{
	struct snap_header h;

	if (w->error)
		return w->error;
	h = snapw_header(w);
	*out = malloc(sizeof(h) + w->len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, &h, sizeof(h));
	if (w->len)
		memcpy(*out + sizeof(h), w->buf, w->len);
	*len = sizeof(h) + w->len;
	return 0;
}

void snapw_fini(struct snapw *w)
{
	free(w->buf);
	*w = (struct snapw){ 0 };
}

static int check_header(const struct snap_header *h, size_t file_len, struct err *err)
{
	if (memcmp(h->magic, SNAP_MAGIC, sizeof(h->magic)) != 0)
		return err_set(err, -EINVAL, "not an ember snapshot (bad magic)");
	if (h->header_crc != crc(h, offsetof(struct snap_header, header_crc)))
		return err_set(err, -EINVAL, "corrupt snapshot: header checksum mismatch");
	if (h->version != SNAP_VERSION)
		return err_set(err, -EINVAL,
			       "snapshot format version %u, this ember reads version %u",
			       h->version, SNAP_VERSION);
	if (h->arch != SNAP_ARCH_X86_64)
		return err_set(err, -EINVAL, "snapshot of another architecture (%u)", h->arch);
	if (h->body_len != file_len - sizeof(*h))
		return err_set(err, -EINVAL,
			       "corrupt snapshot: %llu bytes of state announced, %zu present",
			       (unsigned long long)h->body_len, file_len - sizeof(*h));
	return 0;
}

/* Every record must lie inside the body, and together they must fill it. */
static int check_records(const uint8_t *body, size_t len, struct err *err)
{
	size_t off = 0;

	while (off < len) {
		uint64_t rlen;

		if (len - off < REC_HEADER)
			return err_set(err, -EINVAL, "corrupt snapshot: truncated record");
		memcpy(&rlen, body + off + 8, 8);
		if (rlen > len - off - REC_HEADER || pad8(rlen) > len - off - REC_HEADER)
			return err_set(err, -EINVAL, "corrupt snapshot: record overruns the file");
		off += REC_HEADER + pad8(rlen);
	}
	return 0;
}

int snapr_parse(struct snapr *r, const void *file, size_t len, struct err *err)
{
	struct snap_header h;
	const uint8_t *body = (const uint8_t *)file + sizeof(h);
	int ret;

	*r = (struct snapr){ 0 };
	if (len < sizeof(h))
		return err_set(err, -EINVAL, "not an ember snapshot (%zu bytes, too short)", len);
	if (len > SNAP_MAX_FILE_SIZE)
		return err_set(err, -EFBIG, "snapshot too large (%zu bytes)", len);
	memcpy(&h, file, sizeof(h));
	ret = check_header(&h, len, err);
	if (ret < 0)
		return ret;
	if (h.body_crc != crc(body, h.body_len))
		return err_set(err, -EINVAL, "corrupt snapshot: checksum mismatch");
	ret = check_records(body, h.body_len, err);
	if (ret < 0)
		return ret;
	r->body = malloc(h.body_len ? h.body_len : 1);
	if (!r->body)
		return err_set(err, -ENOMEM, "out of memory");
	memcpy(r->body, body, h.body_len);
	r->len = h.body_len;
	return 0;
}

int snapr_load(struct snapr *r, int fd, struct err *err)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int ret;

	*r = (struct snapr){ 0 };
	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "snapshot: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(err, -EINVAL, "snapshot: not a regular file");
	if ((uint64_t)st.st_size > SNAP_MAX_FILE_SIZE)
		return err_set(err, -EFBIG, "snapshot too large (%lld bytes)",
			       (long long)st.st_size);
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf)
		return err_set(err, -ENOMEM, "out of memory");
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	ret = snapr_parse(r, buf, got, err);
	free(buf);
	return ret;
}

void snapr_fini(struct snapr *r)
{
	free(r->body);
	*r = (struct snapr){ 0 };
}

const void *snapr_find(const struct snapr *r, uint32_t tag, uint32_t inst, size_t *len)
{
	size_t off = 0;

	while (off < r->len) {
		uint32_t t, i;
		uint64_t rlen;

		memcpy(&t, r->body + off, 4);
		memcpy(&i, r->body + off + 4, 4);
		memcpy(&rlen, r->body + off + 8, 8);
		if (t == tag && i == inst) {
			*len = (size_t)rlen;
			return r->body + off + REC_HEADER;
		}
		off += REC_HEADER + pad8(rlen);
	}
	return NULL;
}

int snapr_get(const struct snapr *r, uint32_t tag, uint32_t inst, void *dst, size_t len,
	      const char *what, struct err *err)
{
	size_t have;
	const void *p = snapr_find(r, tag, inst, &have);

	if (!p)
		return err_set(err, -EINVAL, "snapshot has no %s state", what);
	if (have != len)
		return err_set(err, -EINVAL, "snapshot's %s state is %zu bytes, expected %zu", what,
			       have, len);
	memcpy(dst, p, len);
	return 0;
}

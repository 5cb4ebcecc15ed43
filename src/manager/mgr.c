#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "manager/mgr.h"
#include "util/file.h"

ssize_t lb_fill(struct linebuf *lb, int fd)
{
	ssize_t n;

	if (lb->cap - lb->len < 4096) {
		size_t cap = lb->cap ? lb->cap * 2 : 8192;
		char *p;

		if (cap > MGR_MAX_LINE + 8192)
			cap = MGR_MAX_LINE + 8192;
		if (cap <= lb->len + 1)
			return -E2BIG;
		p = realloc(lb->buf, cap);
		if (!p)
			return -ENOMEM;
		lb->buf = p;
		lb->cap = cap;
	}
	n = read(fd, lb->buf + lb->len, lb->cap - lb->len - 1);
	if (n < 0)
		return -errno;
	lb->len += (size_t)n;
	return n;
}

char *lb_next(struct linebuf *lb, int *err)
{
	char *nl;

	*err = 0;
	if (!lb->len)
		return NULL;
	nl = memchr(lb->buf, '\n', lb->len);
	if (!nl || (size_t)(nl - lb->buf) > MGR_MAX_LINE) {
		if (lb->len > MGR_MAX_LINE)
			*err = -E2BIG;
		return NULL;
	}
	*nl = '\0';
	lb->taken = (size_t)(nl - lb->buf) + 1;
	return lb->buf;
}

void lb_consume(struct linebuf *lb)
{
	memmove(lb->buf, lb->buf + lb->taken, lb->len - lb->taken);
	lb->len -= lb->taken;
	lb->taken = 0;
}

void lb_fini(struct linebuf *lb)
{
	free(lb->buf);
	*lb = (struct linebuf){ 0 };
}

int mgr_write_line(int fd, struct json_object *o)
{
	const char *text = json_object_to_json_string_ext(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	size_t len = strlen(text);
	char *line = malloc(len + 1);
	int ret;

	if (!line)
		return -ENOMEM;
	memcpy(line, text, len);
	line[len] = '\n';
	ret = file_write_all(fd, line, len + 1);
	free(line);
	return ret;
}

bool mgr_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > MGR_NAME_MAX || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-",
			    name[i]))
			return false;
	return true;
}

uint64_t mgr_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

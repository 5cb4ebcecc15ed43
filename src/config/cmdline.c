#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/cmdline.h"

void cmdline_init(struct cmdline *cl)
{
	cl->buf = NULL;
	cl->len = cl->cap = 0;
}

void cmdline_fini(struct cmdline *cl)
{
	free(cl->buf);
	cmdline_init(cl);
}

/*
 * A kernel splits its command line on whitespace and stops at NUL; other
 * control characters (newlines from a careless script) would reach the
 * guest as part of a parameter, so they are refused.
 */
static int cmdline_check_chars(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 && *s != '\t')
			return -EINVAL;
	return 0;
}

int cmdline_append(struct cmdline *cl, const char *word)
{
	size_t wlen, need;
	char *p;

	if (!word)
		return -EINVAL;
	if (cmdline_check_chars(word) < 0)
		return -EINVAL;
	wlen = strlen(word);
	if (wlen == 0)
		return 0;
	need = cl->len + (cl->len ? 1 : 0) + wlen + 1;
	if (need > cl->cap) {
		size_t cap = MAX(need, cl->cap * 2);

		p = realloc(cl->buf, cap);
		if (!p)
			return -ENOMEM;
		cl->buf = p;
		cl->cap = cap;
	}
	if (cl->len)
		cl->buf[cl->len++] = ' ';
	memcpy(cl->buf + cl->len, word, wlen + 1);
	cl->len += wlen;
	return 0;
}

const char *cmdline_str(const struct cmdline *cl)
{
	return cl->buf ? cl->buf : "";
}

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "manager/httpc.h"
#include "util/file.h"
#include "util/unixsock.h"

#define REPLY_MAX (1u << 20)

static int httpc_connect(const char *sock, int timeout_s)
{
	struct timeval tv = { .tv_sec = timeout_s };
	/* Non-blocking: a listener whose backlog is full is busy (-EAGAIN), not waited for. */
	int fd = unix_connect(sock, SOCK_NONBLOCK);

	if (fd < 0)
		return fd;
	if (fcntl(fd, F_SETFL, 0) < 0) {
		close(fd);
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

static int read_reply(int fd, char **out, size_t *len)
{
	size_t cap = 4096, got = 0;
	char *buf = malloc(cap);

	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n;

		if (cap - got < 2) {
			char *p = cap * 2 > REPLY_MAX ? NULL : realloc(buf, cap * 2);

			if (!p) {
				free(buf);
				return -E2BIG;
			}
			buf = p;
			cap *= 2;
		}
		n = read(fd, buf + got, cap - got - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int ret = errno == EAGAIN ? -ETIMEDOUT : -errno;

			free(buf);
			return ret;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}

/* "HTTP/1.1 204 No Content\r\n...\r\n\r\nbody": the status, and the body moved to the front. */
static int parse_reply(char *text, size_t len, char **reply)
{
	int status;
	char *body = strstr(text, "\r\n\r\n");

	if (sscanf(text, "HTTP/1.%*d %3d", &status) != 1 || status < 100 || status > 599 || !body)
		return -EPROTO;
	body += 4;
	memmove(text, body, len - (size_t)(body - text) + 1);
	*reply = text;
	return status;
}

int httpc_send(const char *sock, const char *method, const char *path, const char *body,
	       int timeout_s)
{
	char *head = NULL;
	size_t blen = body ? strlen(body) : 0;
	int fd = httpc_connect(sock, timeout_s), ret;

	if (fd < 0)
		return fd;
	ret = asprintf(&head,
		       "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
		       "Content-Type: application/json\r\nContent-Length: %zu\r\n"
		       "Connection: close\r\n\r\n",
		       method, path, blen) < 0
		      ? -ENOMEM
		      : 0;
	if (ret == 0)
		ret = file_write_all(fd, head, strlen(head));
	if (ret == 0 && blen)
		ret = file_write_all(fd, body, blen);
	free(head);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int httpc_receive(int fd, char **reply)
{
	char *text = NULL;
	size_t len = 0;
	int ret = read_reply(fd, &text, &len);

	*reply = NULL;
	close(fd);
	if (ret < 0)
		return ret;
	ret = parse_reply(text, len, reply);
	if (ret < 0)
		free(text);
	return ret;
}

int httpc_call(const char *sock, const char *method, const char *path, const char *body,
	       char **reply, int timeout_s)
{
	int fd = httpc_send(sock, method, path, body, timeout_s);

	*reply = NULL;
	return fd < 0 ? fd : httpc_receive(fd, reply);
}

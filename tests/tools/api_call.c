/*
 * api-call: one HTTP request to ember's API socket, for shells without curl
 * (the nested-KVM tests run in a busybox initramfs).
 *
 *   api-call SOCKET METHOD PATH [BODY]
 *
 * Prints the status code on the first line, then the response body. Exits
 * 0 for a 2xx status, 1 otherwise (2 when the request could not be made).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX 65536

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, path);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int send_request(int fd, const char *method, const char *path, const char *body)
{
	char head[1024];
	size_t blen = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof(head),
			 "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
			 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 method, path, blen);

	if (n < 0 || (size_t)n >= sizeof(head) || write(fd, head, (size_t)n) != n)
		return -1;
	return blen && write(fd, body, blen) != (ssize_t)blen ? -1 : 0;
}

int main(int argc, char **argv)
{
	static char reply[REPLY_MAX + 1];
	size_t len = 0;
	ssize_t r;
	int fd, status = 0;
	char *body;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: api-call SOCKET METHOD PATH [BODY]\n");
		return 2;
	}
	alarm(60);
	fd = connect_to(argv[1]);
	if (fd < 0 || send_request(fd, argv[2], argv[3], argc == 5 ? argv[4] : NULL) < 0) {
		perror("api-call");
		return 2;
	}
	while (len < REPLY_MAX && (r = read(fd, reply + len, REPLY_MAX - len)) > 0)
		len += (size_t)r;
	close(fd);
	reply[len] = '\0';
	if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1) {
		fprintf(stderr, "api-call: no HTTP reply\n");
		return 2;
	}
	body = strstr(reply, "\r\n\r\n");
	printf("%d\n%s\n", status, body ? body + 4 : "");
	return status >= 200 && status < 300 ? 0 : 1;
}

/*
 * vsock-peer: the host side of the test guest's virtio-vsock test, over
 * ember's Unix sockets (see src/virtio/vsock.h).
 *
 *   vsock-peer UDS [GUEST_PORT [HOST_PORT]]      (defaults 1234 and 5000)
 *   vsock-peer --vsock CID [GUEST_PORT [HOST_PORT]]
 *
 * The second form is for the kernel's vhost-vsock: AF_VSOCK sockets to the
 * guest's CID, and no CONNECT/OK lines.
 *
 *   vsock-peer --guest [GUEST_PORT [HOST_PORT]]
 *
 * plays the test guest's part instead, inside a Linux guest: it listens on
 * GUEST_PORT and echoes one line as "ECHO <line>", then connects to the
 * host (CID 2) on HOST_PORT, sends "hello from the guest\n", reads the
 * answer and closes. It prints "guest: ..." lines.
 *
 *   vsock-peer --guest-stream N HOST_PORT     (in a Linux guest)
 *   vsock-peer --count N PORT                 (on the host)
 *
 * A stream through a live migration: the guest connects to the host on
 * HOST_PORT and writes N lines, one every 100 ms; the host accepts one
 * connection on PORT and reads lines until N came ("peer: got N lines",
 * status 0) or the stream ended short (status 1).
 *
 * 1. Listens on UDS_HOST_PORT for the guest's call (before anything else,
 *    so that the guest finds it).
 * 2. Connects to UDS with "CONNECT GUEST_PORT\n" (again every 100 ms until
 *    the guest accepts: it may not be listening yet), expects "OK <port>\n",
 *    sends "hello from the host\n", expects "ECHO hello from the host\n",
 *    and closes.
 * 3. Accepts the guest's call, expects "hello from the guest\n", answers
 *    "welcome\n", and expects end of file (the guest's shutdown).
 *
 * Prints what it saw, one "peer: ..." line per step; exits 0 when every
 * step went as expected, 1 otherwise, within 60 s in any case.
 */
#include <errno.h>
#include <limits.h>

#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <linux/vm_sockets.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 60
#define LINE_LEN   256
#define HELLO	   "hello from the host\n"
#define ECHO	   "ECHO hello from the host\n"
#define GREETING   "hello from the guest\n"
#define WELCOME	   "welcome\n"

/* Where the guest is: ember's Unix socket, or an AF_VSOCK address. */
static const char *uds;
static unsigned int guest_cid; /* 0: over uds */

static int fail(const char *what)
{
	fprintf(stderr, "peer: %s: %s\n", what, errno ? strerror(errno) : "unexpected");
	return 1;
}

static bool unix_addr(struct sockaddr_un *a, const char *path)
{
	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(a->sun_path))
		return false;
	strcpy(a->sun_path, path);
	return true;
}

/* A line (with its '\n') within the deadline; -1 on end of file or error. */
static int read_line(int fd, char *buf, size_t cap)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	size_t n = 0;

	while (n + 1 < cap) {
		if (poll(&p, 1, DEADLINE_S * 1000) != 1 || read(fd, buf + n, 1) != 1)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = '\0';
	return (int)n;
}

static bool write_all(int fd, const char *s)
{
	return write(fd, s, strlen(s)) == (ssize_t)strlen(s);
}

static int try_connect_vsock(unsigned int port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = guest_cid, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
		printf("peer: connected, AF_VSOCK\n");
		return fd;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Connects to the guest's port; the socket once "OK" came, -1 when refused. */
static int try_connect(const char *port)
{
	struct sockaddr_un a;
	char line[LINE_LEN];
	int fd;

	if (guest_cid)
		return try_connect_vsock((unsigned int)atoi(port));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || !unix_addr(&a, uds))
		return -1;
	snprintf(line, sizeof(line), "CONNECT %s\n", port);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write_all(fd, line) &&
	    read_line(fd, line, sizeof(line)) > 0 && strncmp(line, "OK ", 3) == 0) {
		printf("peer: connected, %s", line);
		return fd;
	}
	close(fd);
	return -1;
}

static int talk_to_guest(const char *port)
{
	char line[LINE_LEN];
	int fd = -1;

	for (int i = 0; fd < 0 && i < DEADLINE_S * 10; i++) {
		fd = try_connect(port);
		if (fd < 0)
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	if (fd < 0)
		return fail("the guest never accepted");
	if (!write_all(fd, HELLO) || read_line(fd, line, sizeof(line)) < 0)
		return fail("no echo from the guest");
	printf("peer: guest said %s", line);
	close(fd);
	return strcmp(line, ECHO) == 0 ? 0 : fail("a wrong echo");
}

static int answer_guest(int lfd)
{
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	char line[LINE_LEN], c;
	int fd;

	if (poll(&p, 1, DEADLINE_S * 1000) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
		return fail("the guest never called");
	if (read_line(fd, line, sizeof(line)) < 0)
		return fail("nothing from the guest");
	printf("peer: guest called with %s", line);
	if (strcmp(line, GREETING) != 0 || !write_all(fd, WELCOME))
		return fail("a wrong greeting");
	p.fd = fd;
	if (poll(&p, 1, DEADLINE_S * 1000) != 1 || read(fd, &c, 1) != 0)
		return fail("no end of file after the guest's shutdown");
	printf("peer: guest hung up\n");
	close(fd);
	return 0;
}

static int listen_for_guest(const char *path, const char *port)
{
	struct sockaddr_vm vm = { .svm_family = AF_VSOCK,
				  .svm_cid = VMADDR_CID_ANY,
				  .svm_port = (unsigned int)atoi(port) };
	struct sockaddr_un a;
	int fd = socket(guest_cid ? AF_VSOCK : AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	if (guest_cid) {
		if (bind(fd, (struct sockaddr *)&vm, sizeof(vm)) < 0)
			return -1;
	} else {
		unlink(path);
		if (!unix_addr(&a, path) || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			return -1;
	}
	return listen(fd, 1) < 0 ? -1 : fd;
}

/* One line from `fd`, answered with "ECHO <line>"; the host then closes. */
static int guest_echo(int lfd)
{
	char line[LINE_LEN], echo[LINE_LEN + 8];
	int fd = accept(lfd, NULL, NULL);

	if (fd < 0 || read_line(fd, line, sizeof(line)) < 0)
		return fail("no line from the host");
	printf("guest: host said %s", line);
	snprintf(echo, sizeof(echo), "ECHO %s", line);
	if (!write_all(fd, echo))
		return fail("cannot echo");
	close(fd);
	return 0;
}

static int connect_host(const char *port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_HOST,
				 .svm_port = (unsigned int)atoi(port) };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int guest_call(const char *port)
{
	char line[LINE_LEN];
	int fd = connect_host(port);

	if (fd < 0)
		return fail("cannot connect to the host");
	if (!write_all(fd, GREETING) || read_line(fd, line, sizeof(line)) < 0)
		return fail("no answer from the host");
	printf("guest: host answered %s", line);
	close(fd);
	return strcmp(line, WELCOME) == 0 ? 0 : fail("a wrong answer");
}

static int guest_stream(int n, const char *port)
{
	char line[LINE_LEN];
	int fd = connect_host(port);

	if (fd < 0)
		return fail("cannot connect to the host");
	for (int i = 1; i <= n; i++) {
		snprintf(line, sizeof(line), "line %d\n", i);
		if (!write_all(fd, line))
			return fail("a write failed");
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	printf("guest: sent %d lines\n", n);
	close(fd);
	return 0;
}

static int host_count(int n, const char *port)
{
	char line[LINE_LEN];
	int lfd, fd, got = 0;

	guest_cid = VMADDR_CID_ANY; /* listen_for_guest: AF_VSOCK */
	lfd = listen_for_guest(NULL, port);
	if (lfd < 0 || (fd = accept(lfd, NULL, NULL)) < 0)
		return fail("no stream from the guest");
	while (got < n && read_line(fd, line, sizeof(line)) > 0)
		got++;
	printf("peer: got %d lines\n", got);
	close(fd);
	close(lfd);
	return got == n ? 0 : 1;
}

static int guest_main(const char *guest_port, const char *host_port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK,
				 .svm_cid = VMADDR_CID_ANY,
				 .svm_port = (unsigned int)atoi(guest_port) };
	int lfd = socket(AF_VSOCK, SOCK_STREAM, 0), ret;

	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1) < 0)
		return fail("cannot listen");
	printf("guest: listening\n");
	ret = guest_echo(lfd);
	close(lfd);
	return ret ? ret : guest_call(host_port);
}

int main(int argc, char **argv)
{
	const char *guest_port, *host_port;
	char path[PATH_MAX];
	int lfd, ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(DEADLINE_S);
	if (argc == 4 && strcmp(argv[1], "--guest-stream") == 0)
		return guest_stream(atoi(argv[2]), argv[3]);
	if (argc == 4 && strcmp(argv[1], "--count") == 0) {
		alarm(2 * DEADLINE_S); /* from before the guest boots */
		return host_count(atoi(argv[2]), argv[3]);
	}
	if (argc > 1 && strcmp(argv[1], "--guest") == 0)
		return guest_main(argc > 2 ? argv[2] : "1234", argc > 3 ? argv[3] : "5000");
	if (argc > 2 && strcmp(argv[1], "--vsock") == 0) {
		guest_cid = (unsigned int)atoi(argv[2]);
		argv++;
		argc--;
	}
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: vsock-peer UDS|--vsock CID [GUEST_PORT [HOST_PORT]]\n");
		return 2;
	}
	uds = argv[1];
	guest_port = argc > 2 ? argv[2] : "1234";
	host_port = argc > 3 ? argv[3] : "5000";
	snprintf(path, sizeof(path), "%s_%s", argv[1], host_port);
	lfd = listen_for_guest(path, host_port);
	if (lfd < 0)
		return fail("cannot listen");
	ret = talk_to_guest(guest_port);
	if (ret == 0)
		ret = answer_guest(lfd);
	close(lfd);
	if (!guest_cid)
		unlink(path);
	return ret;
}

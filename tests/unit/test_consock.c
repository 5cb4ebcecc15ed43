#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "console/sock.h"

/* A console whose "stdin" and "stdout" are two spare fds, listening in a temporary directory. */
struct fixture {
	char dir[64], path[96];
	struct consock s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct err err = { { 0 } };

	strcpy(f->dir, "/tmp/consock-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/console.sock", f->dir);
	consock_init(&f->s, open("/dev/null", O_RDONLY | O_CLOEXEC),
		     open("/dev/null", O_WRONLY | O_CLOEXEC));
	assert_int_equal(consock_open(&f->s, f->path, &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	consock_close(&f->s, f->path);
	close(f->s.in_fd);
	close(f->s.out_fd);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int connect_to(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(a.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The console writes `msg`; what `client` reads. */
static void expect_output(struct fixture *f, int client, const char *msg)
{
	char buf[64] = { 0 };

	assert_int_equal(write(f->s.out_fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(read(client, buf, sizeof(buf) - 1), (ssize_t)strlen(msg));
	assert_string_equal(buf, msg);
}

static void test_socket_is_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_false(f->s.client); /* two /dev/null fds are not a manager's connection */
}

static void test_client_is_stdin_and_stdout(void **state)
{
	struct fixture *f = *state;
	int client = connect_to(f->path);
	char buf[8] = { 0 };

	assert_int_equal(consock_accept(&f->s), 0);
	assert_true(f->s.client);
	expect_output(f, client, "TICK 1\n");
	assert_int_equal(write(client, "k", 1), 1);
	assert_int_equal(read(f->s.in_fd, buf, sizeof(buf)), 1);
	assert_string_equal(buf, "k");
	close(client);
}

static void test_newest_client_wins(void **state)
{
	struct fixture *f = *state;
	int first = connect_to(f->path), second = connect_to(f->path);
	char buf[8];

	assert_int_equal(consock_accept(&f->s), 0);
	assert_int_equal(consock_accept(&f->s), 0);
	assert_int_equal(read(first, buf, sizeof(buf)), 0); /* dropped: end of file */
	expect_output(f, second, "to the second\n");
	close(first);
	close(second);
}

static void test_hangup_leaves_dev_null(void **state)
{
	struct fixture *f = *state;
	int client = connect_to(f->path);
	char buf[8];

	assert_int_equal(consock_accept(&f->s), 0);
	close(client);
	assert_int_equal(read(f->s.in_fd, buf, sizeof(buf)), 0);
	consock_hangup(&f->s);
	assert_false(f->s.client);
	/* Output goes nowhere without error; input is at its end. */
	assert_int_equal(write(f->s.out_fd, "lost", 4), 4);
	assert_int_equal(read(f->s.in_fd, buf, sizeof(buf)), 0);
	client = connect_to(f->path);
	assert_int_equal(consock_accept(&f->s), 0);
	expect_output(f, client, "back\n");
	close(client);
}

static void test_no_client_waiting(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(consock_accept(&f->s), -EAGAIN);
	assert_false(f->s.client);
}

static void test_inherited_socketpair_is_a_client(void **state)
{
	struct fixture *f = *state;
	struct consock s;
	struct err err = { { 0 } };
	char path[128];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	snprintf(path, sizeof(path), "%s/other.sock", f->dir);
	consock_init(&s, sv[1], sv[1]);
	assert_int_equal(consock_open(&s, path, &err), 0);
	assert_true(s.client);
	consock_hangup(&s);
	assert_false(s.client);
	consock_close(&s, path);
	assert_int_equal(access(path, F_OK), -1); /* removed */
	close(sv[0]);
	close(sv[1]);
}

static void test_live_socket_is_not_taken(void **state)
{
	struct fixture *f = *state;
	struct consock s;
	struct err err = { { 0 } };

	consock_init(&s, 0, 1);
	assert_int_equal(consock_open(&s, f->path, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "console socket"));
	assert_int_equal(s.listen_fd, -1);
	assert_int_equal(s.null_fd, -1);
	consock_close(&s, f->path);
	assert_int_equal(access(f->path, F_OK), 0); /* the other's socket stays */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_socket_is_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_client_is_stdin_and_stdout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newest_client_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_leaves_dev_null, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_client_waiting, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inherited_socketpair_is_a_client, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_live_socket_is_not_taken, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

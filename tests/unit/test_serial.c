#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "bus/bus.h"
#include "devices/serial.h"
#include "sandbox/seccomp.h"

#define RBR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

struct fixture {
	struct bus bus;
	struct serial *s;
	int pipefd[2];
	int irq_level;
	int irq_changes;
};

static void fake_irq(void *ctx, uint32_t gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, 4);
	f->irq_level = level;
	f->irq_changes++;
}

static int setup(void **state)
{
	static struct fixture f;
	struct serial_config cfg = { .port = 0x3f8 };

	memset(&f, 0, sizeof(f));
	assert_int_equal(pipe(f.pipefd), 0);
	cfg.irq = (struct irq_line){ .set_level = fake_irq, .ctx = &f, .gsi = 4 };
	cfg.out_fd = f.pipefd[1];
	bus_init(&f.bus, "pio");
	assert_int_equal(serial_create(&f.bus, &cfg, &f.s), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	serial_destroy(f->s);
	bus_fini(&f->bus);
	close(f->pipefd[0]);
	close(f->pipefd[1]);
	return 0;
}

static uint8_t rd(struct fixture *f, unsigned int off)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, 0x3f8 + off, &v, 1), 0);
	return v;
}

static void wr(struct fixture *f, unsigned int off, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, 0x3f8 + off, &v, 1), 0);
}

static void test_transmit_goes_to_fd(void **state)
{
	struct fixture *f = *state;
	char buf[8] = { 0 };

	wr(f, RBR, 'o');
	wr(f, RBR, 'k');
	assert_int_equal(read(f->pipefd[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ok");
	assert_int_equal(rd(f, LSR) & 0x60, 0x60); /* THRE and TEMT */
}

/* A console socket's client left (EPIPE): that byte is lost; once another reader is there, output
 * goes on. */
static void test_output_goes_on_after_its_reader_left(void **state)
{
	struct fixture *f = *state;
	int gone[2], back[2];
	char buf[8] = { 0 };

	signal(SIGPIPE, SIG_IGN);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, gone), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, back), 0);
	assert_int_equal(dup2(gone[1], f->pipefd[1]), f->pipefd[1]);
	close(gone[0]);
	wr(f, RBR, 'x');
	assert_int_equal(dup2(back[1], f->pipefd[1]), f->pipefd[1]);
	wr(f, RBR, 'o');
	wr(f, RBR, 'k');
	assert_int_equal(read(back[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "ok");
	close(gone[1]);
	close(back[0]);
	close(back[1]);
}

/*
 * Output to a full non-blocking terminal or pipe waits a little with poll(),
 * on the vCPU thread that wrote the register: its filter must allow that.
 */
static void test_full_output_waits_under_the_vcpu_filter(void **state)
{
	struct fixture *f = *state;
	struct err err = { { 0 } };
	char fill[4096] = { 0 };
	int status;
	pid_t pid;

	assert_int_equal(fcntl(f->pipefd[1], F_SETFL, O_NONBLOCK), 0);
	while (write(f->pipefd[1], fill, sizeof(fill)) > 0)
		;
	pid = fork();
	if (pid == 0) {
		seccomp_set_level(2);
		if (seccomp_apply(SC_VCPU, &err) < 0)
			_exit(3);
		wr(f, RBR, 'x'); /* dropped after 100 ms: the pipe stays full */
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void test_scratch_and_divisor(void **state)
{
	struct fixture *f = *state;

	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	wr(f, LCR, 0x83); /* DLAB */
	wr(f, 0, 0x01);
	wr(f, 1, 0x00);
	assert_int_equal(rd(f, 0), 0x01);
	wr(f, LCR, 0x03);
	assert_int_equal(rd(f, LCR), 0x03);
}

static void test_fifo_and_receive_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, FCR, 0x07);
	assert_int_equal(rd(f, IIR) & 0xc0, 0xc0);
	wr(f, IER, 0x01);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(serial_rx_push(f->s, (const uint8_t *)"hi", 2), 2);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x04);
	assert_int_equal(rd(f, LSR) & 1, 1);
	assert_int_equal(rd(f, RBR), 'h');
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, RBR), 'i');
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(rd(f, LSR) & 1, 0);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x01);
}

static void test_backpressure(void **state)
{
	struct fixture *f = *state;
	uint8_t data[40];
	uint64_t ev;
	int efd = serial_rx_space_fd(f->s);

	memset(data, 'z', sizeof(data));
	/* Without the FIFO there is one holding register. */
	assert_int_equal(serial_rx_push(f->s, data, sizeof(data)), 1);
	wr(f, FCR, 0x01); /* enabling the FIFO empties it */
	assert_int_equal(serial_rx_push(f->s, data, sizeof(data)), 16);
	assert_int_equal(serial_rx_push(f->s, data, 1), 0);
	assert_int_equal(read(efd, &ev, sizeof(ev)), 8); /* woken by the FIFO reset */
	assert_int_equal(read(efd, &ev, sizeof(ev)), -1);
	rd(f, RBR);
	assert_int_equal(read(efd, &ev, sizeof(ev)), 8); /* room again */
	assert_int_equal(serial_rx_push(f->s, data, 5), 1);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, IER, 0x02);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, IIR) & 0x0f, 0x02);
	assert_int_equal(f->irq_level, 0); /* reading IIR acknowledged it */
	wr(f, RBR, 'x');
	assert_int_equal(f->irq_level, 1);
	wr(f, IER, 0x00);
	assert_int_equal(f->irq_level, 0);
}

static void test_loopback(void **state)
{
	struct fixture *f = *state;
	char buf[4];

	wr(f, MCR, 0x10 | 0x03);
	assert_int_equal(rd(f, MSR) & 0xf0, 0x30); /* CTS from RTS, DSR from DTR */
	wr(f, RBR, 0x42);
	assert_int_equal(rd(f, LSR) & 1, 1);
	assert_int_equal(rd(f, RBR), 0x42);
	wr(f, MCR, 0x08);
	assert_int_equal(rd(f, MSR) & 0xb0, 0xb0);
	/* Nothing reached the host while looping back. */
	assert_int_equal(read(f->pipefd[0], buf, 0), 0);
}

static void test_wide_access_ignored(void **state)
{
	struct fixture *f = *state;
	uint16_t v = 0;

	assert_int_equal(bus_read(&f->bus, 0x3f8, &v, 2), 0);
	assert_int_equal(v, 0xffff);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transmit_goes_to_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_goes_on_after_its_reader_left, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_output_waits_under_the_vcpu_filter, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_scratch_and_divisor, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fifo_and_receive_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wide_access_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "console/term.h"

const char term_help[] = "\r\nember console: Ctrl-A x quits, Ctrl-A a sends Ctrl-A, "
			 "Ctrl-A h shows this help\r\n";

int term_init(struct term *t, int fd)
{
	struct termios raw;

	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (!isatty(fd))
		return 0;
	if (tcgetattr(fd, &t->saved) < 0)
		return -errno;
	/* A terminal of its own: `fd` may come to mean something else (console/sock.h). */
	t->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (t->fd < 0)
		return -errno;
	raw = t->saved;
	/* Raw input, but keep output processing so that ember's own messages stay readable. */
	raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	raw.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	raw.c_cflag &= ~(CSIZE | PARENB);
	raw.c_cflag |= CS8;
	raw.c_cc[VMIN] = 1;
	raw.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &raw) < 0)
		return -errno;
	t->raw = true;
	return 0;
}

void term_restore(struct term *t)
{
	if (t->raw)
		tcsetattr(t->fd, TCSANOW, &t->saved);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->raw = false;
}

size_t term_filter(struct term *t, const uint8_t *in, size_t len, uint8_t *out,
		   enum term_action *action)
{
	size_t n = 0;

	*action = TERM_NONE;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (!t->escape) {
			if (c == TERM_ESCAPE)
				t->escape = true;
			else
				out[n++] = c;
			continue;
		}
		t->escape = false;
		if (c == 'x' || c == 'X') {
			*action = TERM_QUIT;
			return n; /* the rest of the input is the user's, not the guest's */
		}
		if (c == 'a' || c == TERM_ESCAPE)
			out[n++] = TERM_ESCAPE;
		else if (c == 'h' || c == 'H' || c == '?')
			*action = TERM_HELP;
		/* Any other key after the escape is dropped, as QEMU does. */
	}
	return n;
}

/*
 * virtio-console: the records go out on the transmit queue (to a pipe the
 * target drains), then the input's bytes come in from the terminal side
 * into as many receive buffers as its first byte says.
 */
#include <fcntl.h>
#include <unistd.h>

#include "virtio/console.h"
#include "virtio_harness.h"

static struct fuzz_harness h;
static int out[2] = { -1, -1 };

static void setup_once(void)
{
	struct virtio_dev *dev;

	if (pipe2(out, O_NONBLOCK | O_CLOEXEC) < 0)
		abort();
	vd_init(&h.rx, FH_QSIZE);
	vd_init_queue(&h.tx, &h.rx, 1);
	if (virtio_console_create(&h.rx.gm, out[1], &dev) < 0)
		abort();
	fh_attach(&h, dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sink[65536];

	if (size < 1)
		return 0;
	if (!h.dev)
		setup_once();
	fh_start(&h, 0, 2);
	fh_post_writable(&h, data[0] % (FH_QSIZE + 1));
	fh_post_records(&h.tx, data + 1, size - 1);
	fh_notify(&h, 1);
	while (read(out[0], sink, sizeof(sink)) > 0)
		;
	virtio_console_push(h.dev, data + 1, size - 1);
	fh_notify(&h, 0);
	fh_check_alive(&h);
	fh_reset(&h);
	return 0;
}

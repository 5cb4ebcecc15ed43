/*
 * virtio-vsock's packet handling through the device harness
 * (virtio_harness.h): the input's first byte is the number of receive
 * buffers to post; the rest are guest packets (a header and a payload, or
 * less), one record each. A host program listens on port 1, so requests to
 * it make connections. Whatever the packets, the device never touches
 * memory outside guest RAM and the transport never breaks.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/vsock.h"
#include "virtio_harness.h"

static struct fuzz_harness h;
static int listener = -1;

static void setup_once(void)
{
	struct virtio_vsock_opts o = { .guest_cid = 3 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	static char uds[64];
	struct err err = { { 0 } };
	struct virtio_dev *dev;

	snprintf(uds, sizeof(uds), "/tmp/ember-fuzz-vsock-%d", (int)getpid());
	o.uds = uds;
	vd_init(&h.rx, FH_QSIZE);
	vd_init_queue(&h.tx, &h.rx, 1);
	if (virtio_vsock_create(&h.rx.gm, &o, &dev, &err) < 0)
		abort();
	fh_attach(&h, dev);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_1", uds);
	unlink(a.sun_path);
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (bind(listener, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listener, 64) < 0)
		abort();
}

/* Accepted and dropped, so the backlog never fills. */
static void drain_listener(void)
{
	int fd;

	while ((fd = accept(listener, NULL, NULL)) >= 0)
		close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!h.dev)
		setup_once();
	fh_start(&h, 0, 3);
	fh_post_writable(&h, data[0] % (FH_QSIZE + 1));
	fh_post_records(&h.tx, data + 1, size - 1);
	fh_notify(&h, 1);
	fh_notify(&h, 0);
	fh_check_alive(&h);
	fh_reset(&h); /* every connection ends */
	h.dev->loop.after_batch(&h.dev->loop);
	drain_listener();
	return 0;
}

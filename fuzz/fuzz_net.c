/*
 * virtio-net: the input's first byte is the number of receive buffers and
 * whether mergeable buffers are negotiated; the records before a record of
 * length 0 are frames (virtio-net header first) the guest transmits, the
 * ones after are frames the network sends the guest. Over a SOCK_SEQPACKET
 * pair standing in for the tap.
 */
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/net.h"
#include "virtio_harness.h"

static struct fuzz_harness h;
static int wire = -1;

static void setup_once(void)
{
	struct virtio_net_opts o = { .has_mac = true, .mac = { 6, 0, 0, 0, 0, 1 } };
	struct err err = { { 0 } };
	struct virtio_dev *dev;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	wire = sv[0];
	vd_init(&h.rx, FH_QSIZE);
	vd_init_queue(&h.tx, &h.rx, 1);
	if (virtio_net_create_fd(&h.rx.gm, sv[1], false, &o, &dev, &err) < 0)
		abort();
	fh_attach(&h, dev);
}

/* Frames from the network: the records after the first empty one. */
static void send_from_wire(const uint8_t *p, size_t size)
{
	const uint8_t *data;
	unsigned int segs;
	size_t len;

	while (fh_record(&p, &size, &data, &len, &segs))
		if (write(wire, data, len) < 0)
			break;
}

static void drain_wire(void)
{
	static uint8_t frame[70000];

	while (read(wire, frame, sizeof(frame)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *split;
	size_t first;

	if (size < 1)
		return 0;
	if (!h.dev)
		setup_once();
	/* Records up to the first 0x00 0x00 length go out, the rest come in. */
	split = memmem(data + 1, size - 1, "\0\0", 2);
	first = split ? (size_t)(split - data - 1) : size - 1;
	fh_start(&h, data[0] & 0x80 ? VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) : 0, 2);
	fh_post_writable(&h, data[0] % (FH_QSIZE + 1));
	fh_post_records(&h.tx, data + 1, first);
	fh_notify(&h, 1);
	drain_wire();
	if (split)
		send_from_wire(split + 2, size - 1 - first - 2);
	fh_notify(&h, 0);
	fh_check_alive(&h);
	fh_reset(&h);
	drain_wire();
	return 0;
}

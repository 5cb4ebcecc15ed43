/*
 * virtio-vsock's packet handling, through the real virtio-mmio transport
 * driven as a guest would (tests/unit/vmmio.h) but without the I/O thread:
 * the target calls the queue handler itself. The input's first byte is the
 * number of receive buffers to post; the rest is a list of guest packets,
 * each a 2-byte length and that many bytes (a header and a payload, or
 * less), sent one descriptor each. A host program listens on port 1, so
 * requests to it make connections. Whatever the packets, the device never
 * touches memory outside guest RAM and the transport never breaks.
 */
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz.h"
#include "virtio/vsock.h"
#include "vmmio.h"

#define QSIZE	   64
#define RX_GPA	   0x20000
#define RX_BUF	   0x1000
#define TX_GPA	   0x80000
#define TX_MAX	   0x70000
#define MAX_PACKET 0x2000

static struct vdriver rx, tx;
static struct virtio_dev *dev;
static struct virtio_mmio *t;
static int listener = -1;

static void setup_once(void)
{
	struct virtio_vsock_opts o = { .guest_cid = 3 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	static char uds[64];
	struct err err = { { 0 } };

	snprintf(uds, sizeof(uds), "/tmp/ember-fuzz-vsock-%d", (int)getpid());
	o.uds = uds;
	vd_init(&rx, QSIZE);
	vd_init_queue(&tx, &rx, 1);
	if (virtio_vsock_create(&rx.gm, &o, &dev, &err) < 0 || virtio_mmio_create(dev, &t) < 0)
		abort();
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

static void post_rx(unsigned int n)
{
	for (uint16_t i = 0; i < n && i < QSIZE; i++) {
		vd_set_desc(&rx, i, RX_GPA + i * RX_BUF, RX_BUF, VIRTQ_DESC_F_WRITE, 0);
		vd_publish(&rx, i);
	}
}

/* Lays the packets out in guest RAM, one descriptor each; returns how many. */
static uint16_t post_tx(const uint8_t *p, size_t size)
{
	uint64_t off = 0;
	uint16_t n = 0;

	while (size >= 2 && n < QSIZE) {
		size_t len = (size_t)(p[0] | p[1] << 8) % MAX_PACKET;

		p += 2;
		size -= 2;
		len = len < size ? len : size;
		if (off + len > TX_MAX)
			break;
		memcpy(vd_ptr(&tx, TX_GPA + off), p, len);
		vd_set_desc(&tx, n, TX_GPA + off, (uint32_t)len, 0, 0);
		vd_publish(&tx, n++);
		off += (len + 15) & ~15ULL;
		p += len;
		size -= len;
	}
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!dev)
		setup_once();
	memset(rx.ram, 0, VD_RAM_SIZE);
	rx.avail_idx = rx.used_seen = tx.avail_idx = tx.used_seen = 0;
	FUZZ_CHECK(vm_setup(t, &rx, VIRTIO_BIT(VIRTIO_F_VERSION_1), 3) == 15);
	post_rx(data[0] % (QSIZE + 1));
	post_tx(data + 1, size - 1);
	pthread_mutex_lock(&dev->lock);
	dev->ops->queue_notify(dev, 1);
	dev->ops->queue_notify(dev, 0);
	pthread_mutex_unlock(&dev->lock);
	/* A well-formed ring stays usable whatever the packets said. */
	FUZZ_CHECK(!(vm_rd(t, 0x70) & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
	vm_wr(t, 0x70, 0); /* reset: every connection ends */
	dev->loop.after_batch(&dev->loop);
	drain_listener();
	return 0;
}

/*
 * virtio-vsock (virtio 1.2, 5.10) with its host side in user space, over
 * Unix sockets, as Firecracker's vsock device does it:
 *
 * - a host program connects to the device's socket `uds` and writes
 *   "CONNECT <port>\n"; once the guest accepts on that port the program
 *   reads "OK <host port>\n" and the socket carries the stream;
 * - a guest connection to the host (CID 2) on port P is connected to the
 *   Unix socket "<uds>_P", which a host program listens on.
 *
 * Stream sockets only (no SEQPACKET). Flow control follows the spec's
 * credit scheme in both directions: ember never sends the guest more than
 * it has room for, buffers at most VSOCK_CONN_BUF bytes per connection
 * toward a slow host program, and resets a guest connection that overruns
 * the credit it was given.
 */
#ifndef EMBER_VIRTIO_VSOCK_H
#define EMBER_VIRTIO_VSOCK_H

#include <stdint.h>
#include <sys/un.h>

#include "config/vm_config.h" /* VM_VSOCK_CID_MIN/MAX, VM_VSOCK_UDS_MAX */
#include "kvm/gmem.h"
#include "util/compiler.h"
#include "util/err.h"
#include "virtio/virtio.h"

#define VSOCK_HOST_CID 2
#define VSOCK_CONN_BUF (64 * 1024) /* bytes buffered toward a host program, per connection */

struct virtio_vsock_opts {
	uint64_t guest_cid;
	const char *uds; /* the host side's Unix socket */
	/* How long the guest has to answer a host program's request; 0: 5 s. */
	uint32_t request_timeout_ms;
};

/*
 * Creates the device and its listening socket at `o->uds`. A stale socket
 * left there by a dead VMM is replaced; one that a live process listens on,
 * or a path that is not a socket, is an error.
 */
int virtio_vsock_create(const struct gmem *gm, const struct virtio_vsock_opts *o,
			struct virtio_dev **out, struct err *err) __must_check;

/*
 * The same device served by the kernel's vhost-vsock (/dev/vhost-vsock):
 * host programs use AF_VSOCK sockets with the guest's CID, and the CID is
 * the host's to hand out (a second VM with it is refused).
 */
int virtio_vhost_vsock_create(const struct gmem *gm, uint64_t guest_cid, struct virtio_dev **out,
			      struct err *err) __must_check;

/*
 * After a restore, with either backend: the transport-reset event (5.10.6.6)
 * on the event queue, so that the driver drops its connections, whose host
 * side is gone (as Firecracker does). Called with the device's lock held.
 */
void vsock_send_transport_reset(struct virtio_dev *d);

#endif

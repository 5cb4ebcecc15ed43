/*
 * virtio-net (virtio 1.2, 5.1) over a tap device: one receive and one
 * transmit queue, the 12-byte header passed through to the tap with its
 * checksum and segmentation offloads, mergeable receive buffers, and no
 * busy loop when the guest has no receive buffers (the tap is not read
 * until it posts some).
 */
#ifndef EMBER_VIRTIO_NET_H
#define EMBER_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm/gmem.h"
#include "util/compiler.h"
#include "util/err.h"
#include "virtio/virtio.h"

#define VIRTIO_NET_F_CSUM	 0
#define VIRTIO_NET_F_GUEST_CSUM	 1
#define VIRTIO_NET_F_MAC	 5
#define VIRTIO_NET_F_GUEST_TSO4	 7
#define VIRTIO_NET_F_GUEST_TSO6	 8
#define VIRTIO_NET_F_HOST_TSO4	 11
#define VIRTIO_NET_F_HOST_TSO6	 12
#define VIRTIO_NET_F_MRG_RXBUF	 15
#define VIRTIO_NET_F_STATUS	 16
#define VIRTIO_NET_S_LINK_UP	 1
#define VIRTIO_NET_HDR_LEN	 12 /* struct virtio_net_hdr_v1 */
#define VIRTIO_NET_MAX_FRAME_LEN (VIRTIO_NET_HDR_LEN + 65550)

struct virtio_net_opts {
	const char *tap; /* tap interface name */
	bool has_mac;
	uint8_t mac[6];
	uint64_t bw;		    /* bytes/s in each direction; 0: no limit */
	uint64_t pps;		    /* frames/s in each direction; 0: no limit */
	uint64_t (*clock_ns)(void); /* time for the limits; NULL: CLOCK_MONOTONIC */
};

int virtio_net_create(const struct gmem *gm, const struct virtio_net_opts *o,
		      struct virtio_dev **out, struct err *err) __must_check;

/*
 * The same device over any frame-preserving fd (a SOCK_SEQPACKET socket in
 * the unit tests) instead of a tap; `tap` says whether offloads can be set.
 * The device owns `fd`.
 */
int virtio_net_create_fd(const struct gmem *gm, int fd, bool tap, const struct virtio_net_opts *o,
			 struct virtio_dev **out, struct err *err) __must_check;

#endif

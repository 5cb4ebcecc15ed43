/*
 * virtio-net (virtio 1.2, 5.1): a tiny ARP and ICMP echo responder on the
 * first network device, so that a host's ping reaches the guest through a
 * tap device. It answers ARP requests for its address and echo requests to
 * it, ignores everything else, and passes after net_pings echo replies.
 *
 * Features: VIRTIO_NET_F_MAC when offered, nothing else of 5.1.3 (no
 * MRG_RXBUF, no checksum or segmentation offload), so every receive buffer
 * holds a whole frame behind the 12-byte struct virtio_net_hdr_v1. Queue 0
 * (receiveq) is kept full of buffers; a reply is built in place in the
 * receive buffer it answers and sent from there on queue 1 (transmitq), one
 * frame in flight, before the buffer goes back to the receive queue.
 *
 * Ring-0 work per frame is a few header fields and the checksums.
 */
#include "guest.h"
#include "io.h"
#include "virtio.h"

#define VIRTIO_NET_F_MAC 5

#define NET_RXQ 0
#define NET_TXQ 1

#define NET_HDR_LEN	  12				/* struct virtio_net_hdr_v1 (5.1.6) */
#define ETH_ALEN	  6				/* an Ethernet address */
#define ETH_HLEN	  14				/* destination, source, EtherType */
#define ETH_MAX_FRAME	  1514				/* without the FCS: 1500-byte MTU */
#define RX_BUF_LEN	  (NET_HDR_LEN + ETH_MAX_FRAME) /* 1526 bytes: 5.1.6.3.1 */
#define RX_BUF_STRIDE	  2048
#define ETHERTYPE_IPV4	  0x0800
#define ETHERTYPE_ARP	  0x0806
#define ARP_LEN		  28 /* Ethernet/IPv4 ARP packet (RFC 826) */
#define ARP_HTYPE_ETHER	  1
#define ARP_OP_REQUEST	  1
#define ARP_OP_REPLY	  2
#define IP_ALEN		  4
#define IP_MIN_HLEN	  20
#define IP_PROTO_ICMP	  1
#define IP_TTL		  64
#define IP_FRAG_MASK	  0x3fff /* MF and the fragment offset */
#define ICMP_ECHO_LEN	  8	 /* type, code, checksum, identifier, sequence */
#define ICMP_ECHO_REPLY	  0
#define ICMP_ECHO_REQUEST 8

#define NET_TIMEOUT_MS	  30000
#define NET_TX_TIMEOUT_MS 3000
#define NET_DEFAULT_PINGS 3

/* The header fields a device must leave zero without offloads (5.1.6.4.1). */
#define HDR_FLAGS    0
#define HDR_GSO_TYPE 1

/* Written by the device before the guest reads them, so out of .bss. */
static uint8_t rx_bufs[VIRTQ_MAX_SIZE][RX_BUF_STRIDE] __noinit __attribute__((aligned(4096)));

static const uint8_t default_mac[ETH_ALEN] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t broadcast[ETH_ALEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

struct net {
	struct virtio_dev *d;
	uint8_t mac[ETH_ALEN];
	uint8_t ip[IP_ALEN];
	uint64_t pings;
	uint64_t end; /* timer tick at which the test gives up */
	unsigned int arp_replies, echo_replies, rx_frames;
	bool posted[VIRTQ_MAX_SIZE]; /* receive buffer i is the device's */
};

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The Internet checksum (RFC 1071) of n bytes, ready to store: 0 over bytes
 * that already hold a correct one. n <= 1514, so the sum cannot overflow.
 */
static uint16_t inet_checksum(const uint8_t *p, unsigned int n)
{
	uint32_t sum = 0;

	for (; n > 1; p += 2, n -= 2)
		sum += (uint32_t)p[0] << 8 | p[1];
	if (n)
		sum += (uint32_t)p[0] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A.B.C.D, each part 0..255 in decimal. */
static bool parse_ip(const char *s, uint8_t ip[IP_ALEN])
{
	for (unsigned int i = 0; i < IP_ALEN; i++) {
		unsigned int v = 0, digits = 0;

		for (; *s >= '0' && *s <= '9' && digits <= 3; s++, digits++)
			v = v * 10 + (unsigned int)(*s - '0');
		if (digits == 0 || digits > 3 || v > 255)
			return false;
		ip[i] = (uint8_t)v;
		if (i + 1 < IP_ALEN && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

/* The frame at buf + NET_HDR_LEN behind a zeroed header, one descriptor; waits for it. */
static const char *net_send(struct net *n, uint8_t *buf, unsigned int frame_len)
{
	struct virtq *tx = &n->d->vq[NET_TXQ];
	uint16_t head = 0;
	uint32_t id, len;
	const char *err;

	memset(buf, 0, NET_HDR_LEN);
	tx->desc[head] = (struct virtq_desc){ (uintptr_t)buf, NET_HDR_LEN + frame_len, 0, 0 };
	virtio_publish_on(n->d, NET_TXQ, &head, 1);
	err = virtio_wait_queue(n->d, NET_TXQ, timer_ticks() + NET_TX_TIMEOUT_MS,
				"timeout waiting for a transmitted frame");
	if (!err && virtio_next_used(n->d, NET_TXQ, &id, &len) && id != head)
		err = "the transmit queue returned another descriptor";
	return err;
}

/* An Ethernet/IPv4 ARP request for our address becomes the reply; its length, or 0. */
static unsigned int arp_reply(const struct net *n, uint8_t *f, unsigned int len)
{
	uint8_t *a = f + ETH_HLEN; /* sha at 8, spa at 14, tha at 18, tpa at 24 */

	if (len < ETH_HLEN + ARP_LEN || get16(a) != ARP_HTYPE_ETHER ||
	    get16(a + 2) != ETHERTYPE_IPV4 || a[4] != ETH_ALEN || a[5] != IP_ALEN ||
	    get16(a + 6) != ARP_OP_REQUEST || memcmp(a + 24, n->ip, IP_ALEN) != 0)
		return 0;
	/* RFC 826: the sender becomes the target; we are the sender. */
	put16(a + 6, ARP_OP_REPLY);
	memcpy(a + 18, a + 8, ETH_ALEN + IP_ALEN);
	memcpy(a + 8, n->mac, ETH_ALEN);
	memcpy(a + 14, n->ip, IP_ALEN);
	memcpy(f, a + 18, ETH_ALEN);
	memcpy(f + ETH_ALEN, n->mac, ETH_ALEN);
	return ETH_HLEN + ARP_LEN;
}

/*
 * An ICMP echo request to our address, whole (no fragment) and with correct
 * checksums, becomes the echo reply (RFC 792); its length, or 0. Identifier,
 * sequence number, data and any IP options stay as they are.
 */
static unsigned int echo_reply(const struct net *n, uint8_t *f, unsigned int len)
{
	uint8_t *ip = f + ETH_HLEN, *icmp;
	unsigned int hlen, total;

	if (len < ETH_HLEN + IP_MIN_HLEN)
		return 0;
	hlen = (ip[0] & 0xfu) * 4;
	total = get16(ip + 2);
	if (ip[0] >> 4 != 4 || hlen < IP_MIN_HLEN || total < hlen + ICMP_ECHO_LEN ||
	    total > len - ETH_HLEN)
		return 0;
	if (ip[9] != IP_PROTO_ICMP || (get16(ip + 6) & IP_FRAG_MASK) ||
	    memcmp(ip + 16, n->ip, IP_ALEN) != 0 || inet_checksum(ip, hlen) != 0)
		return 0;
	icmp = ip + hlen;
	if (icmp[0] != ICMP_ECHO_REQUEST || icmp[1] != 0 || inet_checksum(icmp, total - hlen) != 0)
		return 0;
	memcpy(f, f + ETH_ALEN, ETH_ALEN);
	memcpy(f + ETH_ALEN, n->mac, ETH_ALEN);
	memcpy(ip + 16, ip + 12, IP_ALEN);
	memcpy(ip + 12, n->ip, IP_ALEN);
	ip[8] = IP_TTL;
	put16(ip + 10, 0);
	put16(ip + 10, inet_checksum(ip, hlen));
	icmp[0] = ICMP_ECHO_REPLY;
	put16(icmp + 2, 0);
	put16(icmp + 2, inet_checksum(icmp, total - hlen));
	return ETH_HLEN + total;
}

/*
 * One used receive buffer of `used` bytes: header and frame. A length
 * outside the buffer or shorter than the header is the device's error;
 * a frame too short for what it claims to be is only ignored.
 */
static const char *net_frame(struct net *n, uint8_t *buf, uint32_t used)
{
	uint8_t *f = buf + NET_HDR_LEN;
	unsigned int len, type, reply = 0;
	const char *err;

	n->rx_frames++;
	if (used < NET_HDR_LEN || used > RX_BUF_LEN)
		return "a used receive length outside the header and the 1526-byte buffer";
	if (buf[HDR_FLAGS] != 0 || buf[HDR_GSO_TYPE] != 0)
		return "a received header with flags or gso_type set (nothing was negotiated)";
	len = used - NET_HDR_LEN;
	if (len < ETH_HLEN ||
	    (memcmp(f, n->mac, ETH_ALEN) != 0 && memcmp(f, broadcast, ETH_ALEN) != 0))
		return NULL;
	type = get16(f + 2 * ETH_ALEN);
	switch (type) {
	case ETHERTYPE_ARP:
		reply = arp_reply(n, f, len);
		break;
	case ETHERTYPE_IPV4:
		reply = echo_reply(n, f, len);
		break;
	}
	if (!reply)
		return NULL;
	err = net_send(n, buf, reply);
	if (!err && type == ETHERTYPE_ARP)
		n->arp_replies++;
	else if (!err)
		n->echo_replies++;
	return err;
}

/* Every receive buffer, one descriptor each, on descriptor i. */
static void net_fill_rx(struct net *n)
{
	struct virtq *rx = &n->d->vq[NET_RXQ];
	uint16_t heads[VIRTQ_MAX_SIZE];

	for (uint16_t i = 0; i < rx->size; i++) {
		rx->desc[i] = (struct virtq_desc){ (uintptr_t)rx_bufs[i], RX_BUF_LEN,
						   VIRTQ_DESC_F_WRITE, 0 };
		heads[i] = i;
		n->posted[i] = true;
	}
	virtio_publish_on(n->d, NET_RXQ, heads, rx->size);
}

/* Frames until net_pings echo replies are sent, an error, or the timeout. */
static const char *net_serve(struct net *n)
{
	const struct virtq *rx = &n->d->vq[NET_RXQ];
	const char *err = NULL;
	uint32_t id, len;
	uint16_t head;

	while (!err && n->echo_replies < n->pings) {
		if (!virtio_next_used(n->d, NET_RXQ, &id, &len)) {
			err = virtio_wait_queue(n->d, NET_RXQ, n->end, "timeout");
			continue;
		}
		if (id >= rx->size || !n->posted[id])
			return "the device used a receive buffer it did not have";
		n->posted[id] = false;
		err = net_frame(n, rx_bufs[id], len);
		head = (uint16_t)id;
		n->posted[id] = true;
		virtio_publish_on(n->d, NET_RXQ, &head, 1);
	}
	return err;
}

void test_virtio_net(void)
{
	struct net n = { .d = virtio_find(VIRTIO_ID_NET, 0) };
	const char *ip = config.net_ip ? config.net_ip : "10.0.0.2";
	const char *err;

	n.pings = config.net_pings ? config.net_pings : NET_DEFAULT_PINGS;
	if (!n.d) {
		virtio_fail_missing("virtio-net", "virtio-net");
		return;
	}
	if (!parse_ip(ip, n.ip)) {
		test_fail("virtio-net", "net_ip=%s is not an IPv4 address", ip);
		return;
	}
	err = virtio_init_queues(n.d, 1ULL << VIRTIO_NET_F_MAC, 2);
	if (!err) {
		if (virtio_has(n.d, VIRTIO_NET_F_MAC))
			virtio_config_bytes(n.d, 0, n.mac, ETH_ALEN);
		else
			memcpy(n.mac, default_mac, ETH_ALEN);
		gprintf("KV net_mac=%02x:%02x:%02x:%02x:%02x:%02x\n", n.mac[0], n.mac[1], n.mac[2],
			n.mac[3], n.mac[4], n.mac[5]);
		gprintf("KV net_ip=%u.%u.%u.%u\n", n.ip[0], n.ip[1], n.ip[2], n.ip[3]);
		net_fill_rx(&n);
		gprintf("READY virtio-net\n");
		timer_start();
		n.end = timer_ticks() +
			(config.net_wait_s ? config.net_wait_s * 1000 : NET_TIMEOUT_MS);
		err = net_serve(&n);
		timer_stop();
	}
	virtio_stop(n.d);
	gprintf("KV net_arp_replies=%u\n", n.arp_replies);
	gprintf("KV net_echo_replies=%u\n", n.echo_replies);
	gprintf("KV net_rx_frames=%u\n", n.rx_frames);
	gprintf("KV net_irqs=%u\n", n.d->irqs);
	if (err)
		test_fail("virtio-net", "%s (%u of %llu echo replies)", err, n.echo_replies,
			  (unsigned long long)n.pings);
	else
		test_pass("virtio-net");
}

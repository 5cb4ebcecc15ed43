/*
 * A small virtio-mmio driver (virtio 1.2: 4.2 MMIO transport, version 2
 * only; 2.7 split virtqueues; 3.1 device initialisation). Up to two queues
 * per device; virtio_request() uses queue 0 with one request in flight at a
 * time, which is all the rng and blk tests need and keeps ring-0 work small.
 * virtio-net and virtio-console drive their two queues with the lower-level
 * calls.
 */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "guest.h"

#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_VSOCK	  19

/* virtio-vsock (5.10): its queues and packet header, and the operations on a stream. */
#define VSOCK_RXQ	    0
#define VSOCK_TXQ	    1
#define VSOCK_HOST_CID	    2
#define VSOCK_TYPE_STREAM   1
#define VSOCK_OP_REQUEST    1
#define VSOCK_OP_RESPONSE   2
#define VSOCK_OP_RST	    3
#define VSOCK_OP_SHUTDOWN   4
#define VSOCK_OP_RW	    5
#define VSOCK_OP_CREDIT_UPD 6
#define VSOCK_OP_CREDIT_REQ 7
#define VSOCK_SHUTDOWN_BOTH 3

struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
} __attribute__((packed));

#define VSOCK_HDR_LEN sizeof(struct vsock_hdr)

/* MMIO registers (4.2.2). */
#define VIRTIO_MMIO_MAGIC_VALUE		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_DEVICE_FEATURES	0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES	0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS	0x060
#define VIRTIO_MMIO_INTERRUPT_ACK	0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH	0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION	0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

/* Feature bits (6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32

/* InterruptStatus bits (4.2.2). */
#define VIRTIO_MMIO_INT_VRING  1 /* used buffer notification */
#define VIRTIO_MMIO_INT_CONFIG 2 /* configuration change notification */

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

/* Split virtqueue descriptor (2.7.5). */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Available ring (2.7.6); used_event follows ring[size]. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Used ring (2.7.8); avail_event follows ring[size]. */
struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[];
};

#define VIRTIO_MAX_DEVICES 8
#define VIRTIO_MAX_QUEUES  4

#define VIRTQ_MAX_SIZE	16  /* entries of a queue, fewer if QueueNumMax says so */
#define VIRTQ_BIG_SIZE	128 /* the most a device's queue_cap may ask for */
#define VIRTQ_MAX_CHAIN 8   /* buffers of one request */

/* One split virtqueue, in its half of the device's page of queue memory. */
struct virtq {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	volatile struct virtq_used *used;
	struct virtq_desc *indirect; /* VIRTQ_MAX_CHAIN entries */
	uint16_t size;
	uint16_t last_used; /* used->idx as far as the driver has consumed it */
};

struct virtio_dev {
	uint64_t base; /* MMIO registers */
	uint64_t size;
	unsigned int irq;
	uint32_t id;	    /* device ID */
	uint64_t offered;   /* device features */
	uint64_t features;  /* negotiated */
	uint16_t queue_cap; /* entries per queue (a power of two), 0: VIRTQ_MAX_SIZE */
	bool polled;	    /* the driver polls the used rings: no interrupts wanted */
	bool irq_routed;
	bool active;	/* initialised: the interrupt handler looks at it */
	bool driver_ok; /* DRIVER_OK is set: buffers made available are notified */
	unsigned int nr_queues;
	volatile unsigned int irqs;
	volatile uint32_t isr_seen; /* InterruptStatus bits acknowledged */

	struct virtq vq[VIRTIO_MAX_QUEUES]; /* the ones virtio_init_queues() set up */
};

/* One buffer of a request: `write` means the device writes it. */
struct virtio_buf {
	void *addr;
	uint32_t len;
	bool write;
};

/* The devices the command line lists, probed, in command-line order. */
unsigned int virtio_probe_all(void);
struct virtio_dev *virtio_find(uint32_t id, unsigned int nth);
void virtio_fail_missing(const char *test, const char *what);

const char *virtio_init(struct virtio_dev *d, uint64_t wanted);
const char *virtio_init_queues(struct virtio_dev *d, uint64_t wanted, unsigned int nr_queues);
const char *virtio_setup(struct virtio_dev *d, uint64_t wanted, unsigned int nr_queues);
void virtio_driver_ok(struct virtio_dev *d);
void virtio_stop(struct virtio_dev *d);
bool virtio_reset(struct virtio_dev *d);
bool virtio_has(const struct virtio_dev *d, unsigned int feature);
/* Raw register access, for tests that break the rules on purpose. */
uint32_t virtio_reg_read(const struct virtio_dev *d, unsigned int reg);
void virtio_reg_write(const struct virtio_dev *d, unsigned int reg, uint32_t v);
bool virtio_needs_reset(const struct virtio_dev *d);

uint32_t virtio_config32(const struct virtio_dev *d, unsigned int off);
uint64_t virtio_config64(const struct virtio_dev *d, unsigned int off);
void virtio_config_bytes(const struct virtio_dev *d, unsigned int off, uint8_t *buf,
			 unsigned int n);

void virtio_publish(struct virtio_dev *d, uint16_t head);
void virtio_publish_on(struct virtio_dev *d, unsigned int q, const uint16_t *heads, unsigned int n);
bool virtio_used_pending(const struct virtio_dev *d, unsigned int q);
bool virtio_next_used(struct virtio_dev *d, unsigned int q, uint32_t *id, uint32_t *len);
const char *virtio_wait_used(struct virtio_dev *d, uint16_t head, uint32_t *len);
const char *virtio_wait_queue(struct virtio_dev *d, unsigned int q, uint64_t end,
			      const char *timeout);
bool virtio_wait_needs_reset(struct virtio_dev *d);
void virtio_take_irq(struct virtio_dev *d);
const char *virtio_request(struct virtio_dev *d, const struct virtio_buf *bufs, unsigned int n,
			   bool indirect, uint32_t *len);

#endif

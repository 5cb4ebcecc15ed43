/*
 * What every virtio device shares, whatever its transport (virtio 1.2).
 *
 * A device describes itself (id, features, queues, config space) and gets
 * callbacks; the transport (virtio-mmio today) owns the registers, the
 * status state machine and the notification/interrupt plumbing. Devices never
 * learn which transport carries them, and never touch KVM.
 *
 * Threads: register accesses arrive on vCPU threads; queue work runs on the
 * device's own I/O thread (virtio/worker.h). Both take `lock`, so every
 * callback below runs with it held.
 */
#ifndef EMBER_VIRTIO_VIRTIO_H
#define EMBER_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "kvm/gmem.h"
#include "util/compiler.h"
#include "util/evloop.h"
#include "virtio/virtqueue.h"

/* Device status bits (2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE	 1u
#define VIRTIO_STATUS_DRIVER		 2u
#define VIRTIO_STATUS_DRIVER_OK		 4u
#define VIRTIO_STATUS_FEATURES_OK	 8u
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64u
#define VIRTIO_STATUS_FAILED		 128u

/* Reserved feature bits (6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32

/* Device ids (5). */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_VSOCK	  19

#define VIRTIO_BIT(b) (1ULL << (b))

/* Interrupt status bits (4.2.2). */
#define VIRTIO_INT_USED	  1u
#define VIRTIO_INT_CONFIG 2u

struct virtio_dev;

struct virtio_dev_ops {
	/* Config space, bounds already checked against config_size. */
	void (*read_config)(struct virtio_dev *d, uint32_t off, void *data, uint32_t len);
	void (*write_config)(struct virtio_dev *d, uint32_t off, const void *data, uint32_t len);
	/* DRIVER_OK: the queues the driver made ready are usable. */
	int (*activate)(struct virtio_dev *d);
	/* Device reset: forget queue state, finish or drop in-flight work. */
	void (*reset)(struct virtio_dev *d);
	/* The driver notified queue `q` (I/O thread). */
	void (*queue_notify)(struct virtio_dev *d, unsigned int q);
	/* Frees the device (the transport is gone, the I/O thread stopped). */
	void (*destroy)(struct virtio_dev *d);
	/* Optional: stop (true) or restart work done outside the I/O thread. */
	void (*quiesce)(struct virtio_dev *d, bool pause);
	/*
	 * Optional, for a snapshot (VM and I/O thread paused): finish the
	 * requests in flight, so that every chain taken is back in the used
	 * ring. -ENOTSUP: this device's state cannot be saved.
	 */
	int (*drain)(struct virtio_dev *d);
	/* Optional: the device's state came from a snapshot (host-side peers are gone). */
	void (*restored)(struct virtio_dev *d);
	/* Optional, for migration: lets go of (true) or takes back exclusive host resources. */
	int (*handover)(struct virtio_dev *d, bool release);
	/*
	 * Optional, for live migration, with the device's lock held: stop
	 * (true) or go back to writing guest memory where ember's dirty log
	 * cannot see it (vhost: the kernel writes the rings itself).
	 */
	void (*hold_writes)(struct virtio_dev *d, bool hold);
};

/* What the transport offers the device: how to interrupt the driver. */
struct virtio_transport_ops {
	void (*signal_used)(void *transport, unsigned int q);
	void (*signal_config)(void *transport);
	void (*set_needs_reset)(void *transport);
};

/* A queue's notification eventfd as the I/O thread watches it. */
struct virtio_notify {
	struct ev_handler h;
	struct virtio_dev *dev;
	unsigned int q;
};

struct virtio_dev {
	const char *name; /* "virtio-blk", for messages */
	uint32_t device_id;
	uint64_t host_features;
	uint64_t guest_features; /* valid once FEATURES_OK */
	unsigned int num_queues;
	struct virtqueue *queues;
	uint32_t config_size;
	uint32_t config_generation;
	const struct virtio_dev_ops *ops;
	const struct gmem *gmem;
	bool active; /* DRIVER_OK accepted and not reset since */

	const struct virtio_transport_ops *tops;
	void *transport;
	pthread_mutex_t lock;

	/* The I/O thread: one epoll loop for the queues and the backend. */
	struct evloop loop;
	struct virtio_notify *notify; /* one per queue */
	struct ev_handler stop;	      /* eventfd that ends the thread */
	pthread_t thread;
	bool thread_started;
	pthread_cond_t thread_cond; /* the new thread says whether its filter is on */
	bool thread_reported;
	int thread_status;
	/* Pause: the thread parks between batches of events, holding no work. */
	struct ev_handler wake; /* eventfd that breaks its epoll wait */
	bool pause_wanted, parked, stopping;
	bool broken_logged;
};

/* Sets the common fields and allocates the queues; `max_queue_size` a power of two. */
int virtio_dev_init(struct virtio_dev *d, const char *name, uint32_t device_id, uint64_t features,
		    unsigned int num_queues, uint16_t max_queue_size, uint32_t config_size,
		    const struct virtio_dev_ops *ops, const struct gmem *gm) __must_check;
void virtio_dev_fini(struct virtio_dev *d);

/* The I/O thread watches `fd` (the transport's) for notifications of queue `q`. */
int virtio_dev_watch_notify(struct virtio_dev *d, unsigned int q, int fd) __must_check;

/* Starts and stops (joins) the I/O thread; stop is idempotent. */
int virtio_dev_start(struct virtio_dev *d) __must_check;
void virtio_dev_stop(struct virtio_dev *d);

/*
 * Parks the I/O thread between batches of events (nothing of the guest's is
 * read or written by it until virtio_dev_resume), after the device's own
 * quiesce (vhost stops its kernel worker). Returns once it is parked.
 */
void virtio_dev_pause(struct virtio_dev *d);
void virtio_dev_resume(struct virtio_dev *d);

static inline bool virtio_has_feature(const struct virtio_dev *d, unsigned int bit)
{
	return d->guest_features & VIRTIO_BIT(bit);
}

/* Has the I/O thread come back to queue `q` as if the driver had notified it. */
void virtio_dev_kick(struct virtio_dev *d, unsigned int q);

/* Publishes used entries of queue `q` and interrupts the driver if it wants that. */
void virtio_dev_signal_used(struct virtio_dev *d, unsigned int q);

/*
 * The driver broke the rules (a bad chain, a ring outside RAM): log once,
 * stop serving the device and tell the driver (DEVICE_NEEDS_RESET). Other
 * devices and the VM go on.
 */
void virtio_dev_broken(struct virtio_dev *d, const char *fmt, ...) __printf(2, 3);

/* Reads up to 8 bytes of a little-endian config structure at `off`. */
void virtio_config_read_bytes(const void *cfg, uint32_t cfg_size, uint32_t off, void *data,
			      uint32_t len);

#endif

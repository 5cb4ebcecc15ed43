/*
 * A tiny virtio driver for unit tests: guest RAM is a host buffer at guest
 * address 0, rings are laid out the way a driver would, and the device side
 * under test sees them through gmem exactly as it would see a guest's.
 */
#ifndef EMBER_TESTS_VDRIVER_H
#define EMBER_TESTS_VDRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvm/gmem.h"
#include "virtio/virtqueue.h"

#define VD_RAM_SIZE  (1u << 20)
#define VD_DESC_GPA  0x1000
#define VD_AVAIL_GPA 0x2000
#define VD_USED_GPA  0x3000
#define VD_BUF_GPA   0x10000 /* buffers and indirect tables from here */

struct vdriver {
	uint8_t *ram;
	bool owns_ram;
	uint64_t qoff; /* this queue's rings: the VD_*_GPA addresses plus qoff */
	struct gmem gm;
	uint16_t size;
	uint16_t avail_idx;
	uint16_t used_seen;
	uint64_t next_buf;
};

static inline void vd_init(struct vdriver *vd, uint16_t size)
{
	memset(vd, 0, sizeof(*vd));
	vd->ram = aligned_alloc(4096, VD_RAM_SIZE);
	vd->owns_ram = true;
	memset(vd->ram, 0, VD_RAM_SIZE);
	vd->size = size;
	vd->next_buf = VD_BUF_GPA;
	if (gmem_add_region(&vd->gm, 0, VD_RAM_SIZE, vd->ram) < 0)
		abort();
}

/* Queue `q` of the same device: its rings 0x4000 * q further, as vm_setup() lays them out. */
static inline void vd_init_queue(struct vdriver *vd, const struct vdriver *first, unsigned int q)
{
	*vd = *first;
	vd->owns_ram = false;
	vd->qoff = 0x4000ULL * q;
	vd->avail_idx = vd->used_seen = 0;
}

static inline void vd_fini(struct vdriver *vd)
{
	if (vd->owns_ram)
		free(vd->ram);
}

static inline void *vd_ptr(struct vdriver *vd, uint64_t gpa)
{
	return vd->ram + gpa;
}

/* A fresh buffer of `len` bytes in guest RAM (never reused within a test). */
static inline uint64_t vd_alloc(struct vdriver *vd, uint32_t len)
{
	uint64_t gpa = vd->next_buf;

	vd->next_buf = (vd->next_buf + len + 15) & ~15ULL;
	if (vd->next_buf > VD_RAM_SIZE)
		abort();
	return gpa;
}

static inline struct virtq_desc *vd_desc(struct vdriver *vd, uint16_t i)
{
	return (struct virtq_desc *)vd_ptr(vd, VD_DESC_GPA + vd->qoff) + i;
}

static inline void vd_set_desc(struct vdriver *vd, uint16_t i, uint64_t addr, uint32_t len,
			       uint16_t flags, uint16_t next)
{
	*vd_desc(vd, i) = (struct virtq_desc){ addr, len, flags, next };
}

static inline uint16_t *vd_avail(struct vdriver *vd)
{
	return vd_ptr(vd, VD_AVAIL_GPA + vd->qoff);
}

static inline uint16_t *vd_used(struct vdriver *vd)
{
	return vd_ptr(vd, VD_USED_GPA + vd->qoff);
}

/* Makes chain `head` available, asking (used_event) for an interrupt when it is used. */
static inline void vd_publish(struct vdriver *vd, uint16_t head)
{
	uint16_t *avail = vd_avail(vd);

	avail[2 + vd->size] = vd->used_seen;
	avail[2 + (vd->avail_idx % vd->size)] = head;

	vd->avail_idx++;
	__atomic_store_n(&avail[1], vd->avail_idx, __ATOMIC_RELEASE);
}

/* The next used element, or -1 when the device has returned nothing new. */
static inline int vd_take_used(struct vdriver *vd, uint32_t *len)
{
	uint16_t *used = vd_used(vd);
	struct virtq_used_elem *ring = (struct virtq_used_elem *)&used[2];
	struct virtq_used_elem e;

	if (__atomic_load_n(&used[1], __ATOMIC_ACQUIRE) == vd->used_seen)
		return -1;
	e = ring[vd->used_seen % vd->size];
	vd->used_seen++;
	if (len)
		*len = e.len;
	return (int)e.id;
}

/* The device side of a queue laid out by this driver. */
static inline void vd_queue(struct vdriver *vd, struct virtqueue *vq, uint16_t max)
{
	vq_reset(vq);
	vq->max_size = max;
	vq->size = vd->size;
	vq->desc_gpa = VD_DESC_GPA;
	vq->avail_gpa = VD_AVAIL_GPA;
	vq->used_gpa = VD_USED_GPA;
}

#endif

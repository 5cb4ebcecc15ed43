/*
 * The one descriptor-chain walker: the input is the guest's RAM (rings,
 * descriptors, indirect tables) after a byte of queue settings. Every chain
 * vq_pop() hands out must lie inside guest RAM, readable segments first,
 * within the caller's segment array; a hostile ring can only make it fail.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "virtio/virtqueue.h"

#define RAM_SIZE  (64 * 1024)
#define DESC_GPA  0x0000
#define AVAIL_GPA 0x1000
#define USED_GPA  0x2000
#define SEGS	  16
#define MAX_POPS  600

static uint8_t *ram;

static bool in_ram(const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	return p >= ram && v->iov_len <= RAM_SIZE && p + v->iov_len <= ram + RAM_SIZE;
}

static void check_chain(const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;

	FUZZ_CHECK(c->n_out + c->n_in <= c->cap);
	for (unsigned int i = 0; i < c->n_out + c->n_in; i++) {
		FUZZ_CHECK(in_ram(&c->iov[i]));
		*(i < c->n_out ? &out : &in) += c->iov[i].iov_len;
	}
	FUZZ_CHECK(out == c->out_len && in == c->in_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtqueue vq = { .max_size = 256 };
	struct iovec iov[SEGS];
	struct vq_chain c = { .iov = iov, .cap = SEGS };
	struct gmem gm = { 0 };
	int ret = 1;

	if (size < 1)
		return 0;
	if (!ram)
		ram = aligned_alloc(4096, RAM_SIZE);
	memset(ram, 0, RAM_SIZE);
	memcpy(ram, data + 1, size - 1 < RAM_SIZE ? size - 1 : RAM_SIZE);
	if (gmem_add_region(&gm, 0, RAM_SIZE, ram) < 0)
		return 0;
	vq_reset(&vq);
	vq.max_size = 256;
	vq.size = (uint16_t)(1u << (data[0] & 7)) * 2; /* 2 to 256; sometimes not a power of two: */
	if (data[0] & 0x80)
		vq.size += 1;
	vq.desc_gpa = DESC_GPA;
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	if (vq_activate(&vq, &gm, data[0] & 0x08, data[0] & 0x10) < 0)
		return 0;
	for (int i = 0; i < MAX_POPS && ret > 0; i++) {
		ret = (data[0] & 0x20) ? vq_next(&vq, &c) : vq_pop(&vq, &c);
		if (ret > 0) {
			check_chain(&c);
			vq_push(&vq, c.head, c.in_len);
			vq_should_signal(&vq);
		}
	}
	return 0;
}

/*
 * virtio-console (virtio 1.2, 5.3), a single port: what the guest writes
 * (hvc0 in Linux) goes to `out_fd`, host input enters through
 * virtio_console_push() with backpressure like the UART's.
 */
#ifndef EMBER_VIRTIO_CONSOLE_H
#define EMBER_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "kvm/gmem.h"
#include "util/compiler.h"
#include "virtio/virtio.h"

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* `out_fd` is borrowed (-1 discards output). */
int virtio_console_create(const struct gmem *gm, int out_fd, struct virtio_dev **out) __must_check;

/* Hands host input to the guest; returns how many bytes its buffers took. */
size_t virtio_console_push(struct virtio_dev *d, const uint8_t *data, size_t len);

/* An eventfd that becomes readable when the guest posts receive buffers after a push fell short. */
int virtio_console_space_fd(struct virtio_dev *d);

#endif

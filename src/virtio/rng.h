/* virtio-rng (virtio 1.2, 5.4): guest buffers filled from getrandom(2). */
#ifndef EMBER_VIRTIO_RNG_H
#define EMBER_VIRTIO_RNG_H

#include "kvm/gmem.h"
#include "util/compiler.h"
#include "virtio/virtio.h"

int virtio_rng_create(const struct gmem *gm, struct virtio_dev **out) __must_check;

#endif

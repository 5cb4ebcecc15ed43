/*
 * A tap device as virtio-net's backend: frames go in and out with the
 * 12-byte virtio-net header in front (IFF_VNET_HDR), so checksum and
 * segmentation offloads pass between guest and host kernel untouched.
 */
#ifndef EMBER_BACKENDS_TAP_H
#define EMBER_BACKENDS_TAP_H

#include <stdbool.h>

#include "util/compiler.h"
#include "util/err.h"

#define TAP_VNET_HDR_LEN 12

/* Attaches to tap `ifname` (created by TUNSETIFF if it does not exist); non-blocking fd. */
int tap_open(const char *ifname, int *fd, struct err *err) __must_check;

/* Whether the tap outlives its last file descriptor (ip tuntap add, emberd). */
bool tap_is_persistent(int fd);

/* Which offloads the tap may hand us (TUN_F_* flags): what the guest accepts. */
int tap_set_offload(int fd, unsigned int tun_flags) __must_check;

#endif

/*
 * The one description of a VM. Filled from command-line flags today (and
 * from the config file and the API later), validated in one place, then read
 * by everything that builds the VM. Owned by `main`; strings are heap copies.
 */
#ifndef EMBER_CONFIG_VM_CONFIG_H
#define EMBER_CONFIG_VM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "util/compiler.h"
#include "util/err.h"

#define VM_CONFIG_DEFAULT_CPUS	  1
#define VM_CONFIG_DEFAULT_MEM_MIB 128
#define VM_CONFIG_MIN_MEM_MIB	  8
#define VM_CONFIG_MAX_MEM_MIB	  (1024u * 1024u) /* 1 TiB */

enum serial_mode { SERIAL_STDIO, SERIAL_NONE, SERIAL_FILE };

/* Paravirtual devices, kept in the order the user gave them (the guest sees that order). */
enum vm_device_kind {
	VM_DEVICE_DISK,
	VM_DEVICE_RNG,
	VM_DEVICE_NET,
	VM_DEVICE_CONSOLE,
	VM_DEVICE_VSOCK
};

#define VM_CONFIG_MAX_DEVICES 64
/* vsock: the guest's CID range, and room in sun_path for "_<port>" after the socket path. */
#define VM_VSOCK_CID_MIN 3
#define VM_VSOCK_CID_MAX 0xfffffffeu
#define VM_VSOCK_UDS_MAX 96

#define VM_DISK_SERIAL_MAX 20 /* virtio-blk's GET_ID answer */

struct vm_disk {
	char *path;
	bool root; /* the API's is_root_device: first among the disks, root=/dev/vda */
	bool readonly;
	bool direct; /* cache=none */
	char *serial;
	uint64_t bw;   /* bytes/s, 0: no limit */
	uint64_t iops; /* requests/s, 0: no limit */
};

struct vm_net {
	char *tap;
	bool has_mac;
	uint8_t mac[6];
	uint64_t bw;  /* bytes/s each way, 0: no limit */
	uint64_t pps; /* frames/s each way, 0: no limit */
};

struct vm_vsock {
	uint64_t cid;
	char *uds; /* the host side's Unix socket; NULL: the kernel's vhost-vsock */
};

struct vm_device {
	enum vm_device_kind kind;
	char *id;	       /* the API's drive_id, iface_id, vsock_id; NULL from flags */
	struct vm_disk disk;   /* VM_DEVICE_DISK */
	struct vm_net net;     /* VM_DEVICE_NET */
	struct vm_vsock vsock; /* VM_DEVICE_VSOCK */
};

struct vm_config {
	char *kernel_path;
	char *initrd_path; /* NULL: none */
	char *cmdline;	   /* NULL: empty */
	unsigned int cpus;
	uint64_t mem_mib;
	bool hugepages;
	enum serial_mode serial;
	bool serial_given;   /* --serial was on the command line */
	char *serial_path;   /* SERIAL_FILE only */
	bool console_virtio; /* stdio serves a virtio console (hvc0), not the UART */
	struct vm_device *devices;
	unsigned int nr_devices;
	bool track_dirty_pages; /* machine-config: for diff snapshots */
	bool boot_timer;	/* --boot-timer: log the guest's boot time (port 0x3f0) */
};

void vm_config_init(struct vm_config *c);
void vm_config_fini(struct vm_config *c);

/* Checks ranges and required fields; `max_cpus` is what this host and machine allow. */
int vm_config_validate(const struct vm_config *c, unsigned int max_cpus,
		       struct err *err) __must_check;

/* Parses "stdio", "none" or "file=PATH" into the config. */
int vm_config_set_serial(struct vm_config *c, const char *spec, struct err *err) __must_check;

/* Adds a disk from "PATH[,readonly][,cache=none|writeback][,serial=ID][,bw=B][,iops=N]". */
int vm_config_add_disk(struct vm_config *c, const char *spec, struct err *err) __must_check;

/* Adds a network device from "tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,bw=B][,pps=N]". */
int vm_config_add_net(struct vm_config *c, const char *spec, struct err *err) __must_check;

/*
 * "serial" or "virtio": with virtio, stdin and stdout serve a virtio
 * console device (added here, in device order) and the UART's output goes
 * nowhere unless --serial says otherwise.
 */
int vm_config_set_console(struct vm_config *c, const char *spec, struct err *err) __must_check;

/*
 * Firecracker's overrides on a snapshot load: the tap behind interface
 * `iface_id` (its network_overrides), the vsock's Unix socket path (its
 * vsock_override). An interface or vsock the description lacks is an error.
 */
int vm_config_override_tap(struct vm_config *c, const char *iface_id, const char *tap,
			   struct err *err) __must_check;
int vm_config_override_vsock_uds(struct vm_config *c, const char *uds,
				 struct err *err) __must_check;

/*
 * Whether a device writes guest memory behind KVM's dirty log and ember's
 * own (the kernel's vhost-vsock): no diff snapshot then (a live migration
 * holds such a device's writes instead).
 */
bool vm_config_has_untracked_writer(const struct vm_config *c);

/* Where the UART's output goes, once --console has had its say. */
enum serial_mode vm_config_serial_mode(const struct vm_config *c);

/* Adds the entropy device (once). */
int vm_config_add_rng(struct vm_config *c, struct err *err) __must_check;

/* Adds the vsock device (once) from "cid=N[,uds=PATH]". */

int vm_config_add_vsock(struct vm_config *c, const char *spec, struct err *err) __must_check;

/*
 * Puts a fully parsed device into the config, taking over its strings:
 * it replaces the device of the same kind and id (or, for kinds there is
 * one of, the device of that kind), else it is added at the end. A root
 * disk goes first among the devices (the guest's /dev/vda). On error `d`
 * is freed and the config is unchanged.
 */
int vm_config_put_device(struct vm_config *c, struct vm_device *d, struct err *err) __must_check;
void vm_device_fini(struct vm_device *d);

/* Appends an empty device of `kind` (NULL with *err set when there is no room). */
struct vm_device *vm_config_new_device(struct vm_config *c, enum vm_device_kind kind,
				       struct err *err);

/* A unicast MAC address, XX:XX:XX:XX:XX:XX. */
int vm_config_parse_mac(const char *s, uint8_t mac[6]) __must_check;

/* "root=/dev/vda rw" (or ro) when a root disk is configured, else NULL. */
const char *vm_config_root_args(const struct vm_config *c);

/* Strict decimal parse: digits only, no sign, no overflow, within [min, max]. */

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) __must_check;

#endif

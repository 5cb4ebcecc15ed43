#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/vm_config.h"
#include "util/tokenbucket.h"

void vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpus = VM_CONFIG_DEFAULT_CPUS;
	c->mem_mib = VM_CONFIG_DEFAULT_MEM_MIB;
	c->serial = SERIAL_STDIO;
}

void vm_device_fini(struct vm_device *d)
{
	free(d->id);
	free(d->disk.path);
	free(d->disk.serial);
	free(d->net.tap);
	free(d->vsock.uds);
}

void vm_config_fini(struct vm_config *c)
{
	for (unsigned int i = 0; i < c->nr_devices; i++)
		vm_device_fini(&c->devices[i]);
	free(c->devices);
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->cmdline);
	free(c->serial_path);
	memset(c, 0, sizeof(*c));
}

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int vm_config_set_serial(struct vm_config *c, const char *spec, struct err *err)
{
	char *path;

	c->serial_given = true;
	if (strcmp(spec, "stdio") == 0) {
		c->serial = SERIAL_STDIO;
	} else if (strcmp(spec, "none") == 0) {
		c->serial = SERIAL_NONE;
	} else if (strncmp(spec, "file=", 5) == 0 && spec[5] != '\0') {
		path = strdup(spec + 5);
		if (!path)
			return -ENOMEM;
		free(c->serial_path);
		c->serial_path = path;
		c->serial = SERIAL_FILE;
		return 0;
	} else {
		return err_set(err, -EINVAL,
			       "--serial: expected stdio, none or file=PATH, not '%s'", spec);
	}
	free(c->serial_path);
	c->serial_path = NULL;
	return 0;
}

/* Whether a device of `kind` is configured (the ones there may be one of). */
static bool vm_config_has(const struct vm_config *c, enum vm_device_kind kind)
{
	for (unsigned int i = 0; i < c->nr_devices; i++)
		if (c->devices[i].kind == kind)
			return true;
	return false;
}

struct vm_device *vm_config_new_device(struct vm_config *c, enum vm_device_kind kind,
				       struct err *err)
{
	struct vm_device *d;

	if (c->nr_devices == VM_CONFIG_MAX_DEVICES) {
		err_set(err, -E2BIG, "too many devices (at most %u)", VM_CONFIG_MAX_DEVICES);
		return NULL;
	}
	d = realloc(c->devices, (c->nr_devices + 1) * sizeof(*d));
	if (!d) {
		err_set(err, -ENOMEM, "out of memory");
		return NULL;
	}
	c->devices = d;
	d = &c->devices[c->nr_devices++];
	memset(d, 0, sizeof(*d));
	d->kind = kind;
	return d;
}

/* Takes back a device whose spec did not parse, so a failed add changes nothing. */
static int vm_config_drop_last(struct vm_config *c, int ret)
{
	vm_device_fini(&c->devices[--c->nr_devices]);
	return ret;
}

/* A serial number: printable ASCII without spaces or commas, at most 20 bytes. */
static bool disk_serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > VM_DISK_SERIAL_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

/* A rate option NAME=N (per second), 1 to 10^10, for flag `flag`. */
static int parse_rate(const char *flag, const char *opt, uint64_t *out, struct err *err)
{
	const char *v = strchr(opt, '=') + 1;

	if (parse_u64(v, 1, TB_MAX_RATE, out) < 0)
		return err_set(err, -EINVAL,
			       "%s: %.*s must be a number from 1 to %llu (per second), "
			       "not '%s'",
			       flag, (int)(v - 1 - opt), opt, (unsigned long long)TB_MAX_RATE, v);
	return 0;
}

static int disk_rate(struct vm_disk *d, const char *opt, struct err *err)
{
	return parse_rate("--disk", opt, opt[0] == 'b' ? &d->bw : &d->iops, err);
}

/* Calls `fn` on each comma-separated word of `spec` until one fails. */
static int for_each_option(const char *spec, int (*fn)(void *ctx, const char *opt, struct err *err),
			   void *ctx, struct err *err)
{
	char *copy = strdup(spec), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	for (tok = strtok_r(copy, ",", &save); tok && ret == 0; tok = strtok_r(NULL, ",", &save))
		ret = fn(ctx, tok, err);
	free(copy);
	return ret;
}

/* The first word is the path, the others options. */
static int disk_option(void *ctx, const char *opt, struct err *err)
{
	struct vm_disk *d = ctx;

	if (!d->path) {
		d->path = strdup(opt);
		return d->path ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	if (strcmp(opt, "readonly") == 0 || strcmp(opt, "ro") == 0) {
		d->readonly = true;
	} else if (strcmp(opt, "cache=none") == 0) {
		d->direct = true;
	} else if (strcmp(opt, "cache=writeback") == 0) {
		d->direct = false;
	} else if (strncmp(opt, "bw=", 3) == 0 || strncmp(opt, "iops=", 5) == 0) {
		return disk_rate(d, opt, err);
	} else if (strncmp(opt, "serial=", 7) == 0) {
		if (!disk_serial_ok(opt + 7))
			return err_set(err, -EINVAL,
				       "--disk: serial must be 1 to %u printable characters, "
				       "not '%s'",
				       VM_DISK_SERIAL_MAX, opt + 7);
		free(d->serial);
		d->serial = strdup(opt + 7);
		if (!d->serial)
			return err_set(err, -ENOMEM, "out of memory");
	} else {
		return err_set(err, -EINVAL,
			       "--disk: unknown option '%s' (expected readonly, cache=none, "
			       "cache=writeback, serial=ID, bw=BYTES_PER_S or iops=N)",
			       opt);
	}
	return 0;
}

int vm_config_add_disk(struct vm_config *c, const char *spec, struct err *err)
{
	struct vm_device *d;
	int ret;

	if (spec[0] == '\0' || spec[0] == ',')
		return err_set(err, -EINVAL,
			       "--disk: expected PATH[,readonly][,cache=none][,serial=ID]"
			       "[,bw=B][,iops=N], not '%s'",
			       spec);
	d = vm_config_new_device(c, VM_DEVICE_DISK, err);
	if (!d)
		return -EINVAL;
	ret = for_each_option(spec, disk_option, &d->disk, err);
	return ret < 0 ? vm_config_drop_last(c, ret) : 0;
}

int vm_config_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	int n = -1;

	for (int i = 0; i < 17; i++)
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return -EINVAL;
	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%n", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &n) !=
		    6 ||
	    n != 17 || s[n] != '\0')
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return mac[0] & 1 ? -EINVAL : 0;
}

static int net_option(void *ctx, const char *opt, struct err *err)
{
	struct vm_net *net = ctx;

	if (strncmp(opt, "tap=", 4) == 0 && opt[4]) {
		free(net->tap);
		net->tap = strdup(opt + 4);
		return net->tap ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	if (strncmp(opt, "mac=", 4) == 0) {
		if (vm_config_parse_mac(opt + 4, net->mac) < 0)
			return err_set(err, -EINVAL,
				       "--net: '%s' is not a unicast MAC address "
				       "(XX:XX:XX:XX:XX:XX)",
				       opt + 4);
		net->has_mac = true;
		return 0;
	}
	if (strncmp(opt, "bw=", 3) == 0)
		return parse_rate("--net", opt, &net->bw, err);
	if (strncmp(opt, "pps=", 4) == 0)
		return parse_rate("--net", opt, &net->pps, err);
	return err_set(err, -EINVAL,
		       "--net: unknown option '%s' (expected tap=NAME, mac=MAC, bw=B or pps=N)",
		       opt);
}

int vm_config_add_net(struct vm_config *c, const char *spec, struct err *err)
{
	struct vm_device *d = vm_config_new_device(c, VM_DEVICE_NET, err);
	int ret;

	if (!d)
		return -EINVAL;
	ret = for_each_option(spec, net_option, &d->net, err);
	if (ret == 0 && !d->net.tap)
		ret = err_set(err, -EINVAL, "--net: expected tap=NAME[,mac=MAC], not '%s'", spec);
	return ret < 0 ? vm_config_drop_last(c, ret) : 0;
}

int vm_config_set_console(struct vm_config *c, const char *spec, struct err *err)
{
	if (strcmp(spec, "serial") != 0 && strcmp(spec, "virtio") != 0)
		return err_set(err, -EINVAL, "--console: expected serial or virtio, not '%s'",
			       spec);
	if (vm_config_has(c, VM_DEVICE_CONSOLE))
		return err_set(err, -EINVAL, "--console virtio: given twice");
	if (strcmp(spec, "serial") == 0)
		return 0;
	if (!vm_config_new_device(c, VM_DEVICE_CONSOLE, err))
		return -EINVAL;
	c->console_virtio = true;
	return 0;
}

enum serial_mode vm_config_serial_mode(const struct vm_config *c)
{
	return c->console_virtio && !c->serial_given ? SERIAL_NONE : c->serial;
}

int vm_config_add_rng(struct vm_config *c, struct err *err)
{
	if (vm_config_has(c, VM_DEVICE_RNG))
		return err_set(err, -EINVAL, "--rng: given twice");
	return vm_config_new_device(c, VM_DEVICE_RNG, err) ? 0 : -EINVAL;
}

static int vsock_option(void *ctx, const char *opt, struct err *err)
{
	struct vm_vsock *vs = ctx;

	if (strncmp(opt, "cid=", 4) == 0) {
		if (parse_u64(opt + 4, VM_VSOCK_CID_MIN, VM_VSOCK_CID_MAX, &vs->cid) < 0)
			return err_set(err, -EINVAL,
				       "--vsock: cid must be a number from %u to %u, not '%s'",
				       VM_VSOCK_CID_MIN, VM_VSOCK_CID_MAX, opt + 4);
		return 0;
	}
	if (strncmp(opt, "uds=", 4) == 0 && opt[4]) {
		if (strlen(opt + 4) > VM_VSOCK_UDS_MAX)
			return err_set(err, -ENAMETOOLONG,
				       "--vsock: the uds path is longer than %u bytes",
				       VM_VSOCK_UDS_MAX);
		free(vs->uds);
		vs->uds = strdup(opt + 4);
		return vs->uds ? 0 : err_set(err, -ENOMEM, "out of memory");
	}
	return err_set(err, -EINVAL, "--vsock: unknown option '%s' (expected cid=N or uds=PATH)",
		       opt);
}

int vm_config_add_vsock(struct vm_config *c, const char *spec, struct err *err)
{
	struct vm_device *d;
	int ret;

	if (vm_config_has(c, VM_DEVICE_VSOCK))
		return err_set(err, -EINVAL, "--vsock: given twice");
	d = vm_config_new_device(c, VM_DEVICE_VSOCK, err);
	if (!d)
		return -EINVAL;
	ret = for_each_option(spec, vsock_option, &d->vsock, err);
	if (ret == 0 && !d->vsock.cid)
		ret = err_set(err, -EINVAL, "--vsock: expected cid=N[,uds=PATH], not '%s'", spec);

	return ret < 0 ? vm_config_drop_last(c, ret) : 0;
}

static bool vm_device_is_singleton(enum vm_device_kind kind)
{
	return kind == VM_DEVICE_RNG || kind == VM_DEVICE_VSOCK || kind == VM_DEVICE_CONSOLE;
}

static bool vm_device_same(const struct vm_device *a, const struct vm_device *b)
{
	if (a->kind != b->kind)
		return false;
	return vm_device_is_singleton(a->kind) || (a->id && b->id && strcmp(a->id, b->id) == 0);
}

/* `*field` replaced by a copy of `value`. */
static int replace_string(char **field, const char *value, struct err *err)
{
	char *copy = strdup(value);

	if (!copy)
		return err_set(err, -ENOMEM, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

int vm_config_override_tap(struct vm_config *c, const char *iface_id, const char *tap,
			   struct err *err)
{
	if (!tap[0] || strlen(tap) >= IFNAMSIZ)
		return err_set(err, -EINVAL,
			       "network_overrides: host_dev_name must be 1 to %d characters",
			       IFNAMSIZ - 1);
	for (unsigned int i = 0; i < c->nr_devices; i++) {
		struct vm_device *d = &c->devices[i];

		if (d->kind == VM_DEVICE_NET && d->id && strcmp(d->id, iface_id) == 0)
			return replace_string(&d->net.tap, tap, err);
	}
	return err_set(err, -ENOENT, "network_overrides: the VM has no interface '%s'", iface_id);
}

int vm_config_override_vsock_uds(struct vm_config *c, const char *uds, struct err *err)
{
	if (!uds[0] || strlen(uds) > VM_VSOCK_UDS_MAX)
		return err_set(err, -ENAMETOOLONG, "vsock_override: uds_path must be 1 to %u bytes",
			       VM_VSOCK_UDS_MAX);
	for (unsigned int i = 0; i < c->nr_devices; i++) {
		struct vm_device *d = &c->devices[i];

		if (d->kind != VM_DEVICE_VSOCK)
			continue;
		if (!d->vsock.uds)
			return err_set(err, -EINVAL,
				       "vsock_override: the VM's vsock is the kernel's "
				       "vhost-vsock, which has no socket path");
		return replace_string(&d->vsock.uds, uds, err);
	}
	return err_set(err, -ENOENT, "vsock_override: the VM has no vsock device");
}

bool vm_config_has_untracked_writer(const struct vm_config *c)
{
	for (unsigned int i = 0; i < c->nr_devices; i++)
		if (c->devices[i].kind == VM_DEVICE_VSOCK && !c->devices[i].vsock.uds)
			return true;
	return false;
}

static int vm_config_find_root(const struct vm_config *c)
{
	for (unsigned int i = 0; i < c->nr_devices; i++)
		if (c->devices[i].kind == VM_DEVICE_DISK && c->devices[i].disk.root)
			return (int)i;
	return -1;
}

/* Moves device i to the front, keeping the others' order. */
static void vm_config_to_front(struct vm_config *c, unsigned int i)
{
	struct vm_device d = c->devices[i];

	memmove(&c->devices[1], &c->devices[0], i * sizeof(d));
	c->devices[0] = d;
}

int vm_config_put_device(struct vm_config *c, struct vm_device *d, struct err *err)
{
	int root = vm_config_find_root(c);
	unsigned int i = 0;
	struct vm_device *slot;

	while (i < c->nr_devices && !vm_device_same(&c->devices[i], d))
		i++;
	if (d->kind == VM_DEVICE_DISK && d->disk.root && root >= 0 && (unsigned int)root != i) {
		vm_device_fini(d);
		return err_set(err, -EINVAL, "a root block device already exists");
	}
	if (i == c->nr_devices) {
		slot = vm_config_new_device(c, d->kind, err);
		if (!slot) {
			vm_device_fini(d);
			return -EINVAL;
		}
	} else {
		slot = &c->devices[i];
		vm_device_fini(slot);
	}
	*slot = *d;
	memset(d, 0, sizeof(*d));
	if (slot->kind == VM_DEVICE_DISK && slot->disk.root)
		vm_config_to_front(c, i);
	return 0;
}

const char *vm_config_root_args(const struct vm_config *c)
{
	int root = vm_config_find_root(c);

	if (root < 0)
		return NULL;
	return c->devices[root].disk.readonly ? "root=/dev/vda ro" : "root=/dev/vda rw";
}

int vm_config_validate(const struct vm_config *c, unsigned int max_cpus, struct err *err)
{
	if (!c->kernel_path || !c->kernel_path[0])
		return err_set(err, -EINVAL, "no kernel given (--kernel PATH)");
	if (c->cpus < 1 || c->cpus > max_cpus)
		return err_set(err, -ERANGE, "--cpus %u is out of range (1 to %u)", c->cpus,
			       max_cpus);
	if (c->mem_mib < VM_CONFIG_MIN_MEM_MIB || c->mem_mib > VM_CONFIG_MAX_MEM_MIB)
		return err_set(err, -ERANGE, "--memory %llu MiB is out of range (%u to %u)",
			       (unsigned long long)c->mem_mib, VM_CONFIG_MIN_MEM_MIB,
			       VM_CONFIG_MAX_MEM_MIB);
	if (c->hugepages && c->mem_mib % 2)
		return err_set(err, -EINVAL, "--hugepages needs --memory in whole 2 MiB pages");
	if (c->console_virtio && vm_config_serial_mode(c) == SERIAL_STDIO)
		return err_set(err, -EINVAL,
			       "--console virtio and --serial stdio: stdio can serve only one");
	return 0;
}

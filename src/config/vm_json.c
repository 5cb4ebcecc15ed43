#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/vm_json.h"
#include "util/tokenbucket.h"

#define VM_JSON_MAX_VCPUS 254

int vm_json_parse(const char *buf, size_t len, struct json_object **out, struct err *err)
{
	struct json_tokener *tok = json_tokener_new_ex(VM_JSON_MAX_DEPTH);
	struct json_object *o;
	enum json_tokener_error jerr;
	size_t end;

	if (!tok)
		return err_set(err, -ENOMEM, "out of memory");
	if (len == 0 || memchr(buf, '\0', len)) {
		json_tokener_free(tok);
		return err_set(err, -EINVAL,
			       len ? "the body holds a NUL byte" : "the body is empty");
	}
	o = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	if (!o || jerr != json_tokener_success) {
		json_object_put(o);
		return err_set(err, -EINVAL, "malformed JSON: %s",
			       jerr == json_tokener_continue ? "unexpected end"
							     : json_tokener_error_desc(jerr));
	}
	while (end < len && strchr(" \t\r\n", buf[end]))
		end++;
	if (end != len || !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return err_set(err, -EINVAL, "malformed JSON: %s",
			       end != len ? "text after the object" : "not an object");
	}
	*out = o;
	return 0;
}

static enum json_type field_type(char c)
{
	switch (c) {
	case 's':
		return json_type_string;
	case 'i':
		return json_type_int;
	case 'b':
		return json_type_boolean;
	case 'a':
		return json_type_array;
	default:
		return json_type_object;
	}
}

static const char *type_name(char c)
{
	switch (c) {
	case 's':
		return "a string";
	case 'i':
		return "an integer";
	case 'b':
		return "a boolean";
	case 'a':
		return "an array";
	default:
		return "an object";
	}
}

/* The spec of field `key` ("name:t" or "name:t!" when required), or NULL. */
static const char *field_spec(const char *key, const char *const *fields, size_t n)
{
	size_t len = strlen(key);

	for (size_t i = 0; i < n; i++)
		if (strncmp(fields[i], key, len) == 0 && fields[i][len] == ':')
			return fields[i] + len + 1;
	return NULL;
}

int vm_json_check(struct json_object *o, const char *what, const char *const *fields, size_t n,
		  struct err *err)
{
	if (!json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "%s: want a JSON object", what);
	json_object_object_foreach(o, key, val)
	{
		const char *spec = field_spec(key, fields, n);

		if (!spec)
			return err_set(err, -EINVAL, "%s: unknown field '%s'", what, key);
		/* null stands for "not given", as Firecracker's optional fields allow. */
		if (val && !json_object_is_type(val, field_type(spec[0])))
			return err_set(err, -EINVAL, "%s: '%s' must be %s", what, key,
				       type_name(spec[0]));
	}
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(fields[i], ':');
		char name[64];

		if (colon[2] != '!')
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(colon - fields[i]), fields[i]);
		if (!json_object_object_get(o, name))
			return err_set(err, -EINVAL, "%s: '%s' is required", what, name);
	}
	return 0;
}

#define CHECK(o, what, ...)                                                                        \
	vm_json_check((o), (what), (const char *const[]){ __VA_ARGS__ },                           \
		      sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *), err)

static struct json_object *get(struct json_object *o, const char *key)
{
	return json_object_object_get(o, key); /* NULL when absent or null */
}

static int dup_string(struct json_object *o, const char *key, char **out, struct err *err)
{
	struct json_object *v = get(o, key);

	*out = NULL;
	if (!v)
		return 0;
	*out = strdup(json_object_get_string(v));
	return *out ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int get_u64(struct json_object *o, const char *what, const char *key, uint64_t min,
		   uint64_t max, uint64_t *out, struct err *err)
{
	struct json_object *v = get(o, key);
	int64_t x;

	if (!v)
		return 0;
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return err_set(err, -EINVAL, "%s: '%s' must be from %" PRIu64 " to %" PRIu64, what,
			       key, min, max);
	*out = (uint64_t)x;
	return 0;
}

static bool get_bool(struct json_object *o, const char *key)
{
	struct json_object *v = get(o, key);

	return v && json_object_get_boolean(v);
}

/* --- boot-source, machine-config ------------------------------------- */

int vm_json_boot_source(struct vm_config *c, struct json_object *o, struct err *err)
{
	char *kernel, *initrd = NULL, *args = NULL;
	int ret = CHECK(o, "boot-source", "kernel_image_path:s!", "boot_args:s", "initrd_path:s");

	if (ret < 0)
		return ret;
	ret = dup_string(o, "kernel_image_path", &kernel, err);
	if (ret == 0)
		ret = dup_string(o, "initrd_path", &initrd, err);
	if (ret == 0)
		ret = dup_string(o, "boot_args", &args, err);
	if (ret < 0) {
		free(kernel);
		free(initrd);
		return ret;
	}
	free(c->kernel_path);
	free(c->initrd_path);
	free(c->cmdline);
	c->kernel_path = kernel;
	c->initrd_path = initrd;
	c->cmdline = args;
	return 0;
}

static int machine_huge_pages(struct json_object *o, bool *out, struct err *err)
{
	struct json_object *v = get(o, "huge_pages");
	const char *s = v ? json_object_get_string(v) : "None";

	if (strcmp(s, "None") && strcmp(s, "2M"))
		return err_set(err, -EINVAL,
			       "machine-config: huge_pages must be None or 2M, not '%s'", s);
	*out = strcmp(s, "2M") == 0;
	return 0;
}

static int machine_unsupported(struct json_object *o, struct err *err)
{
	struct json_object *t = get(o, "cpu_template");

	if (get_bool(o, "smt"))
		return err_set(err, -EINVAL, "machine-config: smt is not supported");
	if (t && strcmp(json_object_get_string(t), "None") != 0)
		return err_set(err, -EINVAL, "machine-config: CPU templates are not supported");
	return 0;
}

int vm_json_machine_config(struct vm_config *c, struct json_object *o, bool partial,
			   struct err *err)
{
	const char *what = "machine-config";
	uint64_t cpus = partial ? c->cpus : VM_CONFIG_DEFAULT_CPUS;
	uint64_t mem = partial ? c->mem_mib : VM_CONFIG_DEFAULT_MEM_MIB;
	bool huge = partial ? c->hugepages : false;
	int ret = partial ? CHECK(o, what, "vcpu_count:i", "mem_size_mib:i", "smt:b",
				  "cpu_template:s", "track_dirty_pages:b", "huge_pages:s")
			  : CHECK(o, what, "vcpu_count:i!", "mem_size_mib:i!", "smt:b",
				  "cpu_template:s", "track_dirty_pages:b", "huge_pages:s");

	if (ret == 0)
		ret = get_u64(o, what, "vcpu_count", 1, VM_JSON_MAX_VCPUS, &cpus, err);
	if (ret == 0)
		ret = get_u64(o, what, "mem_size_mib", VM_CONFIG_MIN_MEM_MIB, VM_CONFIG_MAX_MEM_MIB,
			      &mem, err);
	if (ret == 0 && (!partial || get(o, "huge_pages")))
		ret = machine_huge_pages(o, &huge, err);
	if (ret == 0)
		ret = machine_unsupported(o, err);
	if (ret < 0)
		return ret;
	c->cpus = (unsigned int)cpus;
	c->mem_mib = mem;
	c->hugepages = huge;
	if (!partial || get(o, "track_dirty_pages"))
		c->track_dirty_pages = get_bool(o, "track_dirty_pages");
	return 0;
}

/* --- rate limiters ----------------------------------------------------- */

/* A TokenBucket {size, refill_time (ms)} as a rate per second; 0: no limit. */
static int token_bucket(struct json_object *o, const char *what, uint64_t *rate, struct err *err)
{
	uint64_t size = 0, refill = 0, burst = 0;
	int ret;

	*rate = 0;
	if (!o)
		return 0;
	ret = CHECK(o, what, "size:i!", "refill_time:i!", "one_time_burst:i");
	if (ret == 0)
		ret = get_u64(o, what, "size", 0, TB_MAX_RATE, &size, err);
	if (ret == 0)
		ret = get_u64(o, what, "refill_time", 0, 3600 * 1000, &refill, err);
	if (ret == 0)
		ret = get_u64(o, what, "one_time_burst", 0, UINT64_MAX >> 1, &burst, err);
	if (ret < 0)
		return ret;
	if (burst)
		return err_set(err, -EINVAL, "%s: one_time_burst is not supported", what);
	/* Firecracker: a bucket of size 0 or refill time 0 is no limit at all. */
	if (size && refill)
		*rate = MAX(size * 1000 / refill, 1);
	return 0;
}

static int rate_limiter(struct json_object *o, const char *what, uint64_t *bw, uint64_t *ops,
			struct err *err)
{
	char name[64];
	int ret;

	*bw = *ops = 0;
	if (!o)
		return 0;
	ret = CHECK(o, what, "bandwidth:o", "ops:o");
	snprintf(name, sizeof(name), "%s.bandwidth", what);
	if (ret == 0)
		ret = token_bucket(get(o, "bandwidth"), name, bw, err);
	snprintf(name, sizeof(name), "%s.ops", what);
	if (ret == 0)
		ret = token_bucket(get(o, "ops"), name, ops, err);
	return ret;
}

/* --- devices ----------------------------------------------------------- */

/* The body's id must be the path's (Firecracker refuses a mismatch). */
static int device_id(struct json_object *o, const char *key, const char *path_id,
		     struct vm_device *d, struct err *err)
{
	const char *id = json_object_get_string(get(o, key));

	if (path_id && strcmp(id, path_id) != 0)
		return err_set(err, -EINVAL, "the id from the path ('%s') does not match %s '%s'",
			       path_id, key, id);
	if (!id[0] || strlen(id) > 64)
		return err_set(err, -EINVAL, "%s must be 1 to 64 characters", key);
	d->id = strdup(id);
	return d->id ? 0 : err_set(err, -ENOMEM, "out of memory");
}

static int drive_cache(struct json_object *o, struct err *err)
{
	struct json_object *v = get(o, "cache_type");
	struct json_object *e = get(o, "io_engine");

	/* Unsafe is taken as Writeback: flushes are always honoured. */
	if (v && strcmp(json_object_get_string(v), "Unsafe") &&
	    strcmp(json_object_get_string(v), "Writeback"))
		return err_set(err, -EINVAL, "drive: cache_type must be Unsafe or Writeback");
	/* Both engines are io_uring here. */
	if (e && strcmp(json_object_get_string(e), "Sync") &&
	    strcmp(json_object_get_string(e), "Async"))
		return err_set(err, -EINVAL, "drive: io_engine must be Sync or Async");
	if (get(o, "socket"))
		return err_set(err, -EINVAL, "drive: vhost-user block devices are not supported");
	if (!get(o, "path_on_host"))
		return err_set(err, -EINVAL, "drive: 'path_on_host' is required");
	return 0;
}

int vm_json_drive(struct vm_config *c, const char *id, struct json_object *o, struct err *err)
{
	struct vm_device d = { .kind = VM_DEVICE_DISK };
	int ret = CHECK(o, "drive", "drive_id:s!", "is_root_device:b!", "path_on_host:s",
			"is_read_only:b", "partuuid:s", "cache_type:s", "io_engine:s",
			"rate_limiter:o", "socket:s");

	if (ret == 0)
		ret = drive_cache(o, err);
	if (ret == 0 && get(o, "partuuid"))
		ret = err_set(err, -EINVAL, "drive: partuuid is not supported");
	if (ret == 0)
		ret = device_id(o, "drive_id", id, &d, err);
	if (ret == 0)
		ret = rate_limiter(get(o, "rate_limiter"), "drive.rate_limiter", &d.disk.bw,
				   &d.disk.iops, err);
	if (ret == 0)
		ret = dup_string(o, "path_on_host", &d.disk.path, err);
	if (ret < 0) {
		vm_device_fini(&d);
		return ret;
	}
	d.disk.root = get_bool(o, "is_root_device");
	d.disk.readonly = get_bool(o, "is_read_only");
	return vm_config_put_device(c, &d, err);
}

/* ember applies one limit to both directions: the two must agree. */
static int net_limits(struct json_object *o, struct vm_net *n, struct err *err)
{
	uint64_t rx_bw, rx_ops, tx_bw, tx_ops;
	int ret = rate_limiter(get(o, "rx_rate_limiter"), "rx_rate_limiter", &rx_bw, &rx_ops, err);

	if (ret == 0)
		ret = rate_limiter(get(o, "tx_rate_limiter"), "tx_rate_limiter", &tx_bw, &tx_ops,
				   err);
	if (ret < 0)
		return ret;
	if (get(o, "rx_rate_limiter") && get(o, "tx_rate_limiter") &&
	    (rx_bw != tx_bw || rx_ops != tx_ops))
		return err_set(err, -EINVAL,
			       "network interface: different rx and tx rate limits are not "
			       "supported");
	n->bw = rx_bw ? rx_bw : tx_bw;
	n->pps = rx_ops ? rx_ops : tx_ops;
	return 0;
}

int vm_json_net(struct vm_config *c, const char *id, struct json_object *o, struct err *err)
{
	struct vm_device d = { .kind = VM_DEVICE_NET };
	struct json_object *mac = NULL;
	int ret = CHECK(o, "network interface", "iface_id:s!", "host_dev_name:s!", "guest_mac:s",
			"mtu:i", "rx_rate_limiter:o", "tx_rate_limiter:o");

	if (ret == 0)
		ret = device_id(o, "iface_id", id, &d, err);
	if (ret == 0 && get(o, "mtu"))
		ret = err_set(err, -EINVAL, "network interface: mtu is not supported");
	if (ret == 0)
		ret = net_limits(o, &d.net, err);
	mac = get(o, "guest_mac");
	if (ret == 0 && mac && vm_config_parse_mac(json_object_get_string(mac), d.net.mac) < 0)
		ret = err_set(err, -EINVAL, "network interface: '%s' is not a unicast MAC address",
			      json_object_get_string(mac));
	if (ret == 0)
		ret = dup_string(o, "host_dev_name", &d.net.tap, err);
	if (ret < 0) {
		vm_device_fini(&d);
		return ret;
	}
	d.net.has_mac = mac != NULL;
	return vm_config_put_device(c, &d, err);
}

int vm_json_vsock(struct vm_config *c, struct json_object *o, struct err *err)
{
	struct vm_device d = { .kind = VM_DEVICE_VSOCK };
	int ret = CHECK(o, "vsock", "guest_cid:i!", "uds_path:s!", "vsock_id:s");

	if (ret == 0)
		ret = get_u64(o, "vsock", "guest_cid", VM_VSOCK_CID_MIN, VM_VSOCK_CID_MAX,
			      &d.vsock.cid, err);
	if (ret == 0 && get(o, "vsock_id"))
		ret = device_id(o, "vsock_id", NULL, &d, err);
	if (ret == 0)
		ret = dup_string(o, "uds_path", &d.vsock.uds, err);
	if (ret == 0 && strlen(d.vsock.uds) > VM_VSOCK_UDS_MAX)
		ret = err_set(err, -ENAMETOOLONG, "vsock: uds_path is longer than %u bytes",
			      VM_VSOCK_UDS_MAX);
	if (ret < 0) {
		vm_device_fini(&d);
		return ret;
	}
	return vm_config_put_device(c, &d, err);
}

int vm_json_entropy(struct vm_config *c, struct json_object *o, struct err *err)
{
	struct vm_device d = { .kind = VM_DEVICE_RNG };
	int ret = CHECK(o, "entropy", "rate_limiter:o");

	if (ret == 0 && get(o, "rate_limiter"))
		ret = err_set(err, -EINVAL, "entropy: rate limiters are not supported");
	return ret < 0 ? ret : vm_config_put_device(c, &d, err);
}

int vm_json_serial(struct vm_config *c, struct json_object *o, struct err *err)
{
	char spec[4096];
	int ret = CHECK(o, "serial", "serial_out_path:s", "rate_limiter:o");

	if (ret == 0 && get(o, "rate_limiter"))
		ret = err_set(err, -EINVAL, "serial: rate limiters are not supported");
	if (ret < 0)
		return ret;
	if (!get(o, "serial_out_path"))
		return vm_config_set_serial(c, "none", err);
	if (snprintf(spec, sizeof(spec), "file=%s",
		     json_object_get_string(get(o, "serial_out_path"))) >= (int)sizeof(spec))
		return err_set(err, -ENAMETOOLONG, "serial: serial_out_path is too long");
	return vm_config_set_serial(c, spec, err);
}

/* --- the config file --------------------------------------------------- */

typedef int (*put_fn)(struct vm_config *c, const char *id, struct json_object *o, struct err *err);

static int config_array(struct vm_config *c, struct json_object *a, const char *what, put_fn fn,
			struct err *err)
{
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < json_object_array_length(a); i++) {
		struct json_object *o = json_object_array_get_idx(a, i);

		if (!json_object_is_type(o, json_type_object))
			return err_set(err, -EINVAL, "%s: entries must be objects", what);
		ret = fn(c, NULL, o, err);
	}
	return ret;
}

static int config_resource(struct vm_config *c, const char *key, struct json_object *v,
			   struct err *err)
{
	if (strcmp(key, "boot-source") == 0)
		return vm_json_boot_source(c, v, err);
	if (strcmp(key, "machine-config") == 0)
		return vm_json_machine_config(c, v, false, err);
	if (strcmp(key, "drives") == 0)
		return config_array(c, v, key, vm_json_drive, err);
	if (strcmp(key, "network-interfaces") == 0)
		return config_array(c, v, key, vm_json_net, err);
	if (strcmp(key, "vsock") == 0)
		return vm_json_vsock(c, v, err);
	if (strcmp(key, "entropy") == 0)
		return vm_json_entropy(c, v, err);
	return vm_json_serial(c, v, err);
}

int vm_json_config_file(struct vm_config *c, struct json_object *doc,
			int (*process)(const char *key, struct json_object *o, void *ctx,
				       struct err *err),
			void *ctx, struct err *err)
{
	int ret = CHECK(doc, "config file", "boot-source:o!", "machine-config:o", "drives:a",
			"network-interfaces:a", "vsock:o", "entropy:o", "serial:o", "logger:o",
			"metrics:o", "balloon:o", "mmds-config:o", "cpu-config:o");

	json_object_object_foreach(doc, key, val)
	{
		if (ret < 0 || !val)
			continue;
		if (strcmp(key, "logger") == 0 || strcmp(key, "metrics") == 0)
			ret = process ? process(key, val, ctx, err)
				      : err_set(err, -EINVAL, "config file: '%s' is not taken here",
						key);
		else if (!strcmp(key, "balloon") || !strcmp(key, "mmds-config") ||
			 !strcmp(key, "cpu-config"))
			ret = err_set(err, -EINVAL, "config file: '%s' is not supported", key);
		else
			ret = config_resource(c, key, val, err);
	}
	return ret;
}

/* --- GET /vm/config ------------------------------------------------------ */

static void add_string(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static struct json_object *dump_bucket(uint64_t rate)
{
	struct json_object *b;

	if (!rate)
		return NULL;
	b = json_object_new_object();
	json_object_object_add(b, "size", json_object_new_int64((int64_t)rate));
	json_object_object_add(b, "refill_time", json_object_new_int64(1000));
	return b;
}

static struct json_object *dump_limiter(uint64_t bw, uint64_t ops)
{
	struct json_object *r;

	if (!bw && !ops)
		return NULL;
	r = json_object_new_object();
	json_object_object_add(r, "bandwidth", dump_bucket(bw));
	json_object_object_add(r, "ops", dump_bucket(ops));
	return r;
}

static struct json_object *dump_drive(const struct vm_device *d, unsigned int n)
{
	struct json_object *o = json_object_new_object();
	char id[16];

	snprintf(id, sizeof(id), "drive%u", n);
	add_string(o, "drive_id", d->id ? d->id : id);
	add_string(o, "path_on_host", d->disk.path);
	json_object_object_add(o, "is_root_device", json_object_new_boolean(d->disk.root));
	json_object_object_add(o, "is_read_only", json_object_new_boolean(d->disk.readonly));
	add_string(o, "cache_type", "Writeback");
	add_string(o, "io_engine", "Async");
	json_object_object_add(o, "rate_limiter", dump_limiter(d->disk.bw, d->disk.iops));
	return o;
}

static struct json_object *dump_net(const struct vm_device *d, unsigned int n)
{
	struct json_object *o = json_object_new_object();
	char id[16], mac[18];
	const uint8_t *m = d->net.mac;

	snprintf(id, sizeof(id), "net%u", n);
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4],
		 m[5]);
	add_string(o, "iface_id", d->id ? d->id : id);
	add_string(o, "host_dev_name", d->net.tap);
	add_string(o, "guest_mac", d->net.has_mac ? mac : NULL);
	json_object_object_add(o, "rx_rate_limiter", dump_limiter(d->net.bw, d->net.pps));
	json_object_object_add(o, "tx_rate_limiter", dump_limiter(d->net.bw, d->net.pps));
	return o;
}

static struct json_object *dump_vsock(const struct vm_device *d)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "guest_cid", json_object_new_int64((int64_t)d->vsock.cid));
	add_string(o, "uds_path", d->vsock.uds);
	add_string(o, "vsock_id", d->id);
	return o;
}

static struct json_object *dump_machine(const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "vcpu_count", json_object_new_int64(c->cpus));
	json_object_object_add(o, "mem_size_mib", json_object_new_int64((int64_t)c->mem_mib));
	json_object_object_add(o, "smt", json_object_new_boolean(0));
	json_object_object_add(o, "track_dirty_pages",
			       json_object_new_boolean(c->track_dirty_pages));
	add_string(o, "huge_pages", c->hugepages ? "2M" : "None");
	return o;
}

static struct json_object *dump_boot(const struct vm_config *c)
{
	struct json_object *o;

	if (!c->kernel_path)
		return NULL;
	o = json_object_new_object();
	add_string(o, "kernel_image_path", c->kernel_path);
	add_string(o, "initrd_path", c->initrd_path);
	add_string(o, "boot_args", c->cmdline);
	return o;
}

struct json_object *vm_json_dump(const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *drives = json_object_new_array();
	struct json_object *nets = json_object_new_array();
	struct json_object *vsock = NULL, *entropy = NULL;

	for (unsigned int i = 0; i < c->nr_devices; i++) {
		const struct vm_device *d = &c->devices[i];

		if (d->kind == VM_DEVICE_DISK)
			json_object_array_add(
				drives,
				dump_drive(d, (unsigned int)json_object_array_length(drives)));
		else if (d->kind == VM_DEVICE_NET)
			json_object_array_add(
				nets, dump_net(d, (unsigned int)json_object_array_length(nets)));
		else if (d->kind == VM_DEVICE_VSOCK)
			vsock = dump_vsock(d);
		else if (d->kind == VM_DEVICE_RNG)
			entropy = json_object_new_object();
	}
	json_object_object_add(o, "balloon", NULL);
	json_object_object_add(o, "boot-source", dump_boot(c));
	json_object_object_add(o, "drives", drives);
	json_object_object_add(o, "machine-config", dump_machine(c));
	json_object_object_add(o, "cpu-config", NULL);
	json_object_object_add(o, "network-interfaces", nets);
	json_object_object_add(o, "vsock", vsock);
	json_object_object_add(o, "entropy", entropy);
	json_object_object_add(o, "logger", NULL);
	json_object_object_add(o, "metrics", NULL);
	json_object_object_add(o, "mmds-config", NULL);
	return o;
}

/* --- the description inside a snapshot -------------------------------- */

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

static void add_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

static struct json_object *state_device(const struct vm_device *d)
{
	struct json_object *o = json_object_new_object();
	char mac[18];
	const uint8_t *m = d->net.mac;

	add_u64(o, "kind", d->kind);
	add_string(o, "id", d->id);
	if (d->kind == VM_DEVICE_DISK) {
		add_string(o, "path", d->disk.path);
		add_bool(o, "root", d->disk.root);
		add_bool(o, "readonly", d->disk.readonly);
		add_bool(o, "direct", d->disk.direct);
		add_string(o, "serial", d->disk.serial);
		add_u64(o, "bw", d->disk.bw);
		add_u64(o, "ops", d->disk.iops);
	} else if (d->kind == VM_DEVICE_NET) {
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3],
			 m[4], m[5]);
		add_string(o, "tap", d->net.tap);
		add_string(o, "mac", d->net.has_mac ? mac : NULL);
		add_u64(o, "bw", d->net.bw);
		add_u64(o, "ops", d->net.pps);
	} else if (d->kind == VM_DEVICE_VSOCK) {
		add_u64(o, "cid", d->vsock.cid);
		add_string(o, "uds", d->vsock.uds);
	}
	return o;
}

struct json_object *vm_json_state_dump(const struct vm_config *c)
{
	struct json_object *o = json_object_new_object();
	struct json_object *devs = json_object_new_array();

	add_string(o, "kernel", c->kernel_path);
	add_string(o, "initrd", c->initrd_path);
	add_string(o, "cmdline", c->cmdline);
	add_u64(o, "cpus", c->cpus);
	add_u64(o, "mem_mib", c->mem_mib);
	add_bool(o, "hugepages", c->hugepages);
	add_u64(o, "serial", c->serial);
	add_bool(o, "serial_given", c->serial_given);
	add_string(o, "serial_path", c->serial_path);
	add_bool(o, "console_virtio", c->console_virtio);
	add_bool(o, "track_dirty_pages", c->track_dirty_pages);
	add_bool(o, "boot_timer", c->boot_timer);
	for (unsigned int i = 0; i < c->nr_devices; i++)
		json_object_array_add(devs, state_device(&c->devices[i]));
	json_object_object_add(o, "devices", devs);
	return o;
}

static int state_disk(struct vm_device *d, struct json_object *o, struct err *err)
{
	int ret = CHECK(o, "snapshot disk", "kind:i!", "id:s", "path:s!", "root:b!", "readonly:b!",
			"direct:b!", "serial:s", "bw:i!", "ops:i!");

	if (ret == 0)
		ret = dup_string(o, "path", &d->disk.path, err);
	if (ret == 0)
		ret = dup_string(o, "serial", &d->disk.serial, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot disk", "bw", 0, UINT64_MAX >> 1, &d->disk.bw, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot disk", "ops", 0, UINT64_MAX >> 1, &d->disk.iops, err);
	d->disk.root = get_bool(o, "root");
	d->disk.readonly = get_bool(o, "readonly");
	d->disk.direct = get_bool(o, "direct");
	return ret;
}

static int state_net(struct vm_device *d, struct json_object *o, struct err *err)
{
	const char *mac;
	int ret = CHECK(o, "snapshot network device", "kind:i!", "id:s", "tap:s!", "mac:s", "bw:i!",
			"ops:i!");

	if (ret == 0)
		ret = dup_string(o, "tap", &d->net.tap, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot network device", "bw", 0, UINT64_MAX >> 1, &d->net.bw,
			      err);
	if (ret == 0)
		ret = get_u64(o, "snapshot network device", "ops", 0, UINT64_MAX >> 1, &d->net.pps,
			      err);
	mac = get(o, "mac") ? json_object_get_string(get(o, "mac")) : NULL;
	if (ret == 0 && mac && vm_config_parse_mac(mac, d->net.mac) < 0)
		ret = err_set(err, -EINVAL, "snapshot network device: bad MAC address");
	d->net.has_mac = mac != NULL;
	return ret;
}

static int state_vsock(struct vm_device *d, struct json_object *o, struct err *err)
{
	int ret = CHECK(o, "snapshot vsock", "kind:i!", "id:s", "cid:i!", "uds:s");

	if (ret == 0)
		ret = get_u64(o, "snapshot vsock", "cid", VM_VSOCK_CID_MIN, VM_VSOCK_CID_MAX,
			      &d->vsock.cid, err);
	return ret < 0 ? ret : dup_string(o, "uds", &d->vsock.uds, err);
}

static int state_device_load(struct vm_config *c, struct json_object *o, struct err *err)
{
	uint64_t kind = UINT64_MAX;
	struct vm_device *d;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "snapshot: a device is not an object");
	ret = get_u64(o, "snapshot device", "kind", 0, VM_DEVICE_VSOCK, &kind, err);
	if (ret == 0 && kind == UINT64_MAX)
		ret = err_set(err, -EINVAL, "snapshot device: no kind");
	if (ret < 0)
		return ret;
	d = vm_config_new_device(c, (enum vm_device_kind)kind, err);
	if (!d)
		return -EINVAL;
	ret = dup_string(o, "id", &d->id, err);
	if (ret == 0 && kind == VM_DEVICE_DISK)
		ret = state_disk(d, o, err);
	else if (ret == 0 && kind == VM_DEVICE_NET)
		ret = state_net(d, o, err);
	else if (ret == 0 && kind == VM_DEVICE_VSOCK)
		ret = state_vsock(d, o, err);
	else if (ret == 0)
		ret = CHECK(o, "snapshot device", "kind:i!", "id:s");
	return ret;
}

static int state_top(struct vm_config *c, struct json_object *o, struct err *err)
{
	uint64_t cpus = 0, serial = 0;
	int ret =
		CHECK(o, "snapshot", "kernel:s!", "initrd:s", "cmdline:s", "cpus:i!", "mem_mib:i!",
		      "hugepages:b!", "serial:i!", "serial_given:b!", "serial_path:s",
		      "console_virtio:b!", "track_dirty_pages:b!", "boot_timer:b", "devices:a!");

	if (ret == 0)
		ret = dup_string(o, "kernel", &c->kernel_path, err);
	if (ret == 0)
		ret = dup_string(o, "initrd", &c->initrd_path, err);
	if (ret == 0)
		ret = dup_string(o, "cmdline", &c->cmdline, err);
	if (ret == 0)
		ret = dup_string(o, "serial_path", &c->serial_path, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot", "cpus", 1, 255, &cpus, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot", "mem_mib", VM_CONFIG_MIN_MEM_MIB,
			      VM_CONFIG_MAX_MEM_MIB, &c->mem_mib, err);
	if (ret == 0)
		ret = get_u64(o, "snapshot", "serial", SERIAL_STDIO, SERIAL_FILE, &serial, err);
	if (ret == 0 && serial == SERIAL_FILE && !c->serial_path)
		ret = err_set(err, -EINVAL, "snapshot: serial file without a path");
	c->cpus = (unsigned int)cpus;
	c->serial = (enum serial_mode)serial;
	c->hugepages = get_bool(o, "hugepages");
	c->serial_given = get_bool(o, "serial_given");
	c->console_virtio = get_bool(o, "console_virtio");
	c->track_dirty_pages = get_bool(o, "track_dirty_pages");
	c->boot_timer = get_bool(o, "boot_timer");
	return ret;
}

int vm_json_state_load(struct vm_config *c, struct json_object *o, struct err *err)
{
	struct json_object *devs;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return err_set(err, -EINVAL, "snapshot: the VM description is not an object");
	ret = state_top(c, o, err);
	devs = get(o, "devices");
	for (size_t i = 0; ret == 0 && i < json_object_array_length(devs); i++)
		ret = state_device_load(c, json_object_array_get_idx(devs, i), err);
	return ret;
}

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jailer/cgroup.h"
#include "manager/limits.h"
#include "manager/vmproc.h"

#define CGROUP_PARENT "ember"
#define CFS_PERIOD_US 100000

struct limit_key {
	const char *key;
	int64_t min, max;
};

static const struct limit_key limit_keys[] = {
	{ "cpu_quota_pct", 1, 100000 }, /* percent of one CPU: 200 is two CPUs' worth */
	{ "cpu_weight", 1, 10000 },
	{ "memory_max_mib", 16, 1 << 24 },
	{ "io_weight", 1, 10000 },
};

int cpulist_parse(const char *s, cpu_set_t *set)
{
	CPU_ZERO(set);
	if (!*s)
		return -EINVAL;
	while (*s) {
		char *end;
		unsigned long a = strtoul(s, &end, 10), b = a;

		if (end == s || a >= CPU_SETSIZE)
			return -EINVAL;
		s = end;
		if (*s == '-') {
			b = strtoul(s + 1, &end, 10);
			if (end == s + 1 || b >= CPU_SETSIZE || b < a)
				return -EINVAL;
			s = end;
		}
		for (unsigned long c = a; c <= b; c++)
			CPU_SET(c, set);
		if (*s == ',')
			s++;
		else if (*s)
			return -EINVAL;
	}
	return 0;
}

static int check_limit(const char *key, struct json_object *v, struct err *err)
{
	for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++) {
		const struct limit_key *k = &limit_keys[i];

		if (strcmp(key, k->key))
			continue;
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < k->min ||
		    json_object_get_int64(v) > k->max)
			return err_set(err, -EINVAL,
				       "limits: '%s' must be an integer from %" PRId64
				       " to %" PRId64,
				       key, k->min, k->max);
		return 0;
	}
	if (!strcmp(key, "cpuset")) {
		cpu_set_t set;

		if (!json_object_is_type(v, json_type_string) ||
		    cpulist_parse(json_object_get_string(v), &set) < 0)
			return err_set(err, -EINVAL,
				       "limits: 'cpuset' must be a CPU list like \"0-3,6\"");
		return 0;
	}
	return err_set(err, -EINVAL, "limits: unknown field '%s'", key);
}

int limits_check_one(const char *key, struct json_object *value, struct err *err)
{
	return check_limit(key, value, err);
}

int limits_check(struct json_object *def, struct err *err)
{
	struct json_object *limits = json_object_object_get(def, "limits");
	struct json_object *pins = json_object_object_get(def, "vcpu_pinning");
	int ret = 0;

	if (limits && !json_object_is_type(limits, json_type_object))
		return err_set(err, -EINVAL, "'limits' must be an object");
	if (limits) {
		json_object_object_foreach(limits, key, val)
		{
			if (ret == 0)
				ret = check_limit(key, val, err);
		}
	}
	if (ret < 0 || !pins)
		return ret;
	if (!json_object_is_type(pins, json_type_array))
		return err_set(err, -EINVAL, "'vcpu_pinning' must be an array of CPU lists");
	for (size_t i = 0; i < json_object_array_length(pins); i++) {
		struct json_object *p = json_object_array_get_idx(pins, i);
		cpu_set_t set;

		if (!json_object_is_type(p, json_type_string) ||
		    cpulist_parse(json_object_get_string(p), &set) < 0)
			return err_set(err, -EINVAL,
				       "vcpu_pinning[%zu]: want a CPU list like \"2\" or \"0-3\"",
				       i);
	}
	return 0;
}

/* One limit as cgroup FILE=VALUE settings for this host's cgroup version. */
static int limit_settings(const char *key, int64_t v, const char *s, int version, char **out,
			  unsigned int *n)
{
	char buf[2][96];
	int k = 1;

	if (!strcmp(key, "cpu_quota_pct") && version == 2) {
		snprintf(buf[0], sizeof(buf[0]), "cpu.max=%" PRId64 " %d", v * CFS_PERIOD_US / 100,
			 CFS_PERIOD_US);
	} else if (!strcmp(key, "cpu_quota_pct")) {
		snprintf(buf[0], sizeof(buf[0]), "cpu.cfs_period_us=%d", CFS_PERIOD_US);
		snprintf(buf[1], sizeof(buf[1]), "cpu.cfs_quota_us=%" PRId64,
			 v * CFS_PERIOD_US / 100);
		k = 2;
	} else if (!strcmp(key, "cpu_weight")) {
		if (version == 2)
			snprintf(buf[0], sizeof(buf[0]), "cpu.weight=%" PRId64, v);
		else /* v1 shares: 1024 is the default weight 100 */
			snprintf(buf[0], sizeof(buf[0]), "cpu.shares=%" PRId64,
				 v * 1024 / 100 < 2 ? 2 : v * 1024 / 100);
	} else if (!strcmp(key, "memory_max_mib")) {
		snprintf(buf[0], sizeof(buf[0]), "%s=%" PRId64,
			 version == 2 ? "memory.max" : "memory.limit_in_bytes", v << 20);
	} else if (!strcmp(key, "io_weight")) {
		if (version == 2)
			snprintf(buf[0], sizeof(buf[0]), "io.weight=default %" PRId64, v);
		else /* blkio.weight takes 10 to 1000 */
			snprintf(buf[0], sizeof(buf[0]), "blkio.weight=%" PRId64,
				 v / 10 < 10	 ? 10
				 : v / 10 > 1000 ? 1000
						 : v / 10);
	} else {
		snprintf(buf[0], sizeof(buf[0]), "cpuset.cpus=%s", s);
	}
	for (int i = 0; i < k; i++) {
		out[*n] = strdup(buf[i]);
		if (!out[*n])
			return -ENOMEM;
		(*n)++;
	}
	return 0;
}

static void free_settings(char **s, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		free(s[i]);
}

int limits_join(const char *name, struct json_object *def, pid_t pid, struct err *err)
{
	struct json_object *limits = json_object_object_get(def, "limits");
	struct cgroup_jail cg = { .parent = CGROUP_PARENT, .id = name };
	char *settings[CGROUP_MAX_SETTINGS];
	unsigned int n = 0;
	int ret = 0;

	if (!limits || json_object_object_length(limits) == 0)
		return 0;
	cg.version = cgroup_version();
	if (cg.version < 0)
		return err_set(err, -ENOTSUP, "limits: no cgroup hierarchy with controllers here");
	json_object_object_foreach(limits, key, val)
	{
		if (ret == 0)
			ret = limit_settings(key, json_object_get_int64(val),
					     json_object_get_string(val), cg.version, settings, &n);
	}
	for (unsigned int i = 0; ret == 0 && i < n; i++)
		ret = cgroup_add_setting(&cg, settings[i], err);
	if (ret == 0)
		ret = cgroup_apply(&cg, pid, err);
	else if (!err->msg[0])
		err_set(err, ret, "limits: %s", strerror(-ret));
	cgroup_fini(&cg);
	free_settings(settings, n);
	return ret;
}

int limits_set(const char *name, const char *key, struct json_object *value, struct err *err)
{
	char *settings[2];
	unsigned int n = 0;
	int version = cgroup_version(), ret = check_limit(key, value, err);

	if (ret < 0)
		return ret;
	if (version < 0)
		return err_set(err, -ENOTSUP, "limits: no cgroup hierarchy with controllers here");
	ret = limit_settings(key, json_object_get_int64(value), json_object_get_string(value),
			     version, settings, &n);
	for (unsigned int i = 0; ret == 0 && i < n; i++) {
		char *eq = strchr(settings[i], '=');

		*eq = '\0';
		ret = cgroup_write(version, CGROUP_PARENT, name, settings[i], eq + 1, err);
	}
	free_settings(settings, n);
	return ret;
}

void limits_remove(const char *name)
{
	int version = cgroup_version();

	if (version > 0)
		cgroup_remove(version, CGROUP_PARENT, name);
}

int limits_pin_vcpu(pid_t pid, unsigned int vcpu, const char *cpus, struct err *err)
{
	struct json_object *threads = vmproc_vcpus(pid);
	cpu_set_t set;
	int ret = -ENOENT;

	if (cpulist_parse(cpus, &set) < 0) {
		json_object_put(threads);
		return err_set(err, -EINVAL, "'%s' is not a CPU list", cpus);
	}
	for (size_t i = 0; i < json_object_array_length(threads); i++) {
		struct json_object *t = json_object_array_get_idx(threads, i);

		if ((unsigned int)json_object_get_int(json_object_object_get(t, "vcpu")) != vcpu)
			continue;
		ret = sched_setaffinity(json_object_get_int(json_object_object_get(t, "tid")),
					sizeof(set), &set) < 0
			      ? -errno
			      : 0;
	}
	json_object_put(threads);
	if (ret == -ENOENT)
		return err_set(err, ret, "no vCPU %u", vcpu);
	return ret < 0 ? err_set(err, ret, "vCPU %u on CPUs %s: %s", vcpu, cpus, strerror(-ret))
		       : 0;
}

int limits_pin(pid_t pid, struct json_object *def, struct err *err)
{
	struct json_object *pins = json_object_object_get(def, "vcpu_pinning");
	struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	int ret = 0;

	for (size_t i = 0; pins && ret == 0 && i < json_object_array_length(pins); i++) {
		const char *cpus = json_object_get_string(json_object_array_get_idx(pins, i));

		/* A vCPU thread names itself as it starts: give it up to a second. */
		for (int tries = 0; tries < 100; tries++) {
			err->msg[0] = '\0';
			ret = limits_pin_vcpu(pid, (unsigned int)i, cpus, err);
			if (ret != -ENOENT)
				break;
			nanosleep(&tick, NULL);
		}
	}
	return ret;
}

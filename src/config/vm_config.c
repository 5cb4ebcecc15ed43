#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/vm_config.h"

void vm_config_init(struct vm_config *c)
{
	memset(c, 0, sizeof(*c));
	c->cpus = VM_CONFIG_DEFAULT_CPUS;
	c->mem_mib = VM_CONFIG_DEFAULT_MEM_MIB;
	c->serial = SERIAL_STDIO;
}

void vm_config_fini(struct vm_config *c)
{
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
	return 0;
}

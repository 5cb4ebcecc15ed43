/*
 * emberctl host-check: `ember host-check` (KVM, its capabilities, the CPU's
 * virtualization, huge pages) and what a manager needs besides: EPT/NPT,
 * nested virtualization, an IOMMU for passthrough, cgroup controllers for
 * limits and pinning, vhost and tun for devices. One PASS/WARN/FAIL line
 * each, as virt-host-validate prints them; exit status 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum verdict { PASS, WARN, FAIL };

static const char *const verdicts[] = { "PASS", "WARN", "FAIL" };

struct report {
	bool json;
	bool failed;
	struct json_object *all;
};

static void say(struct report *r, enum verdict v, const char *check, const char *why)
{
	if (v == FAIL)
		r->failed = true;
	if (r->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "check", json_object_new_string(check));
		json_object_object_add(o, "result", json_object_new_string(verdicts[v]));
		json_object_object_add(o, "reason", json_object_new_string(why));
		json_object_array_add(r->all, o);
	} else {
		printf("%-5s %-34s %s\n", verdicts[v], check, why);
	}
}

/* `ember host-check`'s lines ("PASS  name   reason"), taken over as they are. */
static void ember_checks(struct report *r)
{
	char self[PATH_MAX], cmd[PATH_MAX + 32], line[512];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *p;

	if (n <= 0)
		return;
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "'%s/ember' host-check 2>&1", self);
	p = popen(cmd, "r");
	if (!p) {
		say(r, FAIL, "ember host-check", "cannot run ember beside emberctl");
		return;
	}
	/* "VERD  NAME (34 columns) REASON": ember's layout, and ours. */
	while (fgets(line, sizeof(line), p)) {
		char name[35];
		int end = 34;

		line[strcspn(line, "\n")] = '\0';
		if (strlen(line) < 41 || line[4] != ' ' || line[5] != ' ')
			continue;
		memcpy(name, line + 6, 34);
		while (end > 0 && name[end - 1] == ' ')
			end--;
		name[end] = '\0';
		for (int v = PASS; v <= FAIL; v++)
			if (!strncmp(line, verdicts[v], 4))
				say(r, (enum verdict)v, name, line + 41);
	}
	if (pclose(p) < 0)
		say(r, FAIL, "ember host-check", strerror(errno));
}

static bool cpu_flag(const char *flag)
{
	FILE *f = fopen("/proc/cpuinfo", "re");
	char line[8192];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f)) {
		char *tok;

		if (strncmp(line, "flags", 5) && strncmp(line, "vmx flags", 9))
			continue;
		for (tok = strtok(strchr(line, ':') ? strchr(line, ':') + 1 : line, " \n"); tok;
		     tok = strtok(NULL, " \n"))
			if (!strcmp(tok, flag))
				found = true;
	}
	if (f)
		fclose(f);
	return found;
}

static bool read_line(const char *path, char *buf, size_t cap)
{
	FILE *f = fopen(path, "re");
	bool ok = f && fgets(buf, (int)cap, f);

	if (f)
		fclose(f);
	if (ok)
		buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return d ? n : -1;
}

static void check_paging(struct report *r)
{
	if (cpu_flag("ept") || cpu_flag("npt"))
		say(r, PASS, "EPT/NPT (two-level paging)", "the CPU maps guest memory in hardware");
	else
		say(r, WARN, "EPT/NPT (two-level paging)",
		    "no ept/npt flag: KVM shadows guest page tables (slower), or runs nested");
}

static void check_nested(struct report *r)
{
	char v[16];

	if (read_line("/sys/module/kvm_intel/parameters/nested", v, sizeof(v)) ||
	    read_line("/sys/module/kvm_amd/parameters/nested", v, sizeof(v)))
		say(r, v[0] == 'Y' || v[0] == '1' ? PASS : WARN, "nested virtualization",
		    v[0] == 'Y' || v[0] == '1' ? "guests may run KVM themselves"
					       : "off: guests cannot run KVM (kvm_*.nested=1)");
	else
		say(r, WARN, "nested virtualization", "kvm_intel/kvm_amd not loaded");
}

static void check_iommu(struct report *r)
{
	char why[96];
	int units = count_entries("/sys/class/iommu"),
	    groups = count_entries("/sys/kernel/iommu_groups");

	if (units > 0 && groups > 0) {
		snprintf(why, sizeof(why), "%d IOMMU unit(s), %d group(s) for device passthrough",
			 units, groups);
		say(r, PASS, "IOMMU", why);
	} else {
		say(r, WARN, "IOMMU",
		    "none found: no device passthrough (intel_iommu=on / amd_iommu)");
	}
}

static void check_cgroups(struct report *r)
{
	static const char *const want[] = { "cpu", "cpuset", "memory", "io" };
	char have[512], why[160] = "";

	if (read_line("/sys/fs/cgroup/cgroup.controllers", have, sizeof(have))) {
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (!strstr(have, want[i]))
				snprintf(why + strlen(why), sizeof(why) - strlen(why), " %s",
					 want[i]);
		if (why[0])
			say(r, WARN, "cgroup v2 controllers", "missing:");
		else
			say(r, PASS, "cgroup v2 controllers", have);
		return;
	}
	if (access("/sys/fs/cgroup/cpu", F_OK) == 0 && access("/sys/fs/cgroup/memory", F_OK) == 0)
		say(r, WARN, "cgroup v2 controllers",
		    "cgroup v1 (hybrid host): limits and pinning use the v1 controllers");
	else
		say(r, WARN, "cgroup controllers",
		    "no cgroup file system at /sys/fs/cgroup: no limits");
}

static void check_dev(struct report *r, const char *path, const char *name, const char *use,
		      enum verdict missing)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);
	char why[160];

	if (fd >= 0) {
		close(fd);
		snprintf(why, sizeof(why), "%s usable: %s", path, use);
		say(r, PASS, name, why);
		return;
	}
	snprintf(why, sizeof(why), "%s: %s: no %s", path, strerror(errno), use);
	say(r, missing, name, why);
}

int host_check_run(bool json);

int host_check_run(bool json)
{
	struct report r = { .json = json, .all = json ? json_object_new_array() : NULL };

	ember_checks(&r);
	check_paging(&r);
	check_nested(&r);
	check_iommu(&r);
	check_cgroups(&r);
	check_dev(&r, "/dev/net/tun", "tun", "network interfaces (taps)", WARN);
	check_dev(&r, "/dev/vhost-vsock", "vhost-vsock", "kernel-served vsock", WARN);
	check_dev(&r, "/dev/vhost-net", "vhost-net", "kernel-served networking", WARN);
	if (json) {
		printf("%s\n", json_object_to_json_string_ext(r.all, JSON_C_TO_STRING_PRETTY));
		json_object_put(r.all);
	} else if (r.failed) {
		printf("FAIL: this host cannot run VMs as it is\n");
	}
	return r.failed ? 1 : 0;
}

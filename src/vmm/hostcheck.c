#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "kvm/kvm.h"
#include "vmm/hostcheck.h"

enum verdict { PASS, WARN, FAIL };

struct report {
	FILE *out;
	int fails;
};

static void report(struct report *r, enum verdict v, const char *what, const char *fmt, ...)
	__printf(4, 5);

static void report(struct report *r, enum verdict v, const char *what, const char *fmt, ...)
{
	static const char *const names[] = { "PASS", "WARN", "FAIL" };
	va_list ap;

	fprintf(r->out, "%s  %-34s ", names[v], what);
	va_start(ap, fmt);
	vfprintf(r->out, fmt, ap);
	va_end(ap);
	fputc('\n', r->out);
	if (v == FAIL)
		r->fails++;
}

static bool cpuinfo_has_flag(const char *flag)
{
	char line[4096], pattern[32];
	FILE *f = fopen("/proc/cpuinfo", "re");
	bool found = false;

	if (!f)
		return false;
	snprintf(pattern, sizeof(pattern), " %s ", flag);
	while (!found && fgets(line, sizeof(line), f)) {
		size_t n = strlen(line);

		if (strncmp(line, "flags", 5) != 0)
			continue;
		if (n && line[n - 1] == '\n')
			line[n - 1] = ' ';
		found = strstr(line, pattern) != NULL;
	}
	fclose(f);
	return found;
}

static void check_hw_virt(struct report *r)
{
	if (cpuinfo_has_flag("vmx"))
		report(r, PASS, "hardware virtualization", "Intel VT-x (vmx)");
	else if (cpuinfo_has_flag("svm"))
		report(r, PASS, "hardware virtualization", "AMD-V (svm)");
	else
		report(r, WARN, "hardware virtualization",
		       "no vmx/svm CPU flag: KVM here is paravirtualized or nested");
}

static void check_pvm(struct report *r)
{
	struct stat st;

	if (stat("/sys/module/kvm_pvm", &st) == 0)
		report(r, WARN, "PVM (kvm_pvm) host",
		       "guest ring-0 code is emulated (~1-2 M instructions/s) and stock Linux "
		       "kernels cannot boot; ring-3 guest code runs at full speed");
	else
		report(r, PASS, "PVM (kvm_pvm) host", "no: guest kernels run natively");
}

static bool check_device(struct report *r)
{
	if (access(KVM_DEVICE_PATH, F_OK) != 0) {
		report(r, FAIL, KVM_DEVICE_PATH,
		       "missing: load kvm_intel or kvm_amd and enable virtualization in the "
		       "firmware");
		return false;
	}
	if (access(KVM_DEVICE_PATH, R_OK | W_OK) != 0) {
		report(r, FAIL, KVM_DEVICE_PATH,
		       "not readable and writable by this user: add it to the kvm group");
		return false;
	}
	report(r, PASS, KVM_DEVICE_PATH, "present and accessible");
	return true;
}

static void check_caps(struct report *r, int fd)
{
	for (unsigned int i = 0; i < kvm_caps_count; i++) {
		const struct kvm_cap_desc *c = &kvm_caps[i];
		bool ok = kvm_check_cap(fd, c->cap) > 0;

		report(r, ok ? PASS : (c->required ? FAIL : WARN), c->name, "%s%s",
		       ok ? "" : "missing: ", c->purpose);
	}
}

static void check_kvm(struct report *r)
{
	int fd, version, max;

	if (!check_device(r))
		return;
	fd = open(KVM_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		report(r, FAIL, "open " KVM_DEVICE_PATH, "%s", strerror(errno));
		return;
	}
	version = ioctl(fd, KVM_GET_API_VERSION, 0);
	report(r, version == KVM_API_VERSION ? PASS : FAIL, "KVM API version",
	       "%d (ember needs %d)", version, KVM_API_VERSION);
	check_caps(r, fd);
	max = kvm_check_cap(fd, KVM_CAP_MAX_VCPUS);
	report(r, PASS, "vCPUs per VM", "KVM allows %d; ember's machine describes up to %u", max,
	       arch_max_vcpus());
	close(fd);
}

static void check_hugepages(struct report *r)
{
	FILE *f = fopen("/proc/sys/vm/nr_hugepages", "re");
	long n = 0;

	if (f) {
		if (fscanf(f, "%ld", &n) != 1)
			n = 0;
		fclose(f);
	}
	if (n > 0)
		report(r, PASS, "huge pages", "%ld reserved (--hugepages can use them)", n);
	else
		report(r, WARN, "huge pages",
		       "none reserved: --hugepages needs /proc/sys/vm/nr_hugepages > 0");
}

int host_check(FILE *out)
{
	struct report r = { .out = out };

	check_kvm(&r);
	check_hw_virt(&r);
	check_pvm(&r);
	check_hugepages(&r);
	fprintf(out, "%s: %d check(s) failed\n", r.fails ? "FAIL" : "PASS", r.fails);
	return r.fails;
}

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "config/vm_config.h"
#include "kvm/irq.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"
#include "util/log.h"

void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, const char *fmt, ...)
{
	int expected = VM_RUNNING;
	va_list ap;

	/* The first request wins; later ones (often consequences of it) are dropped. */
	if (!atomic_compare_exchange_strong(&vm->stop_reason, &expected, (int)reason))
		return;
	/* Read only after the vCPU and device threads are joined. */
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(vm->stop_msg, sizeof(vm->stop_msg), fmt, ap);
		va_end(ap);
	}
	eventfd_write(vm->stop_efd, 1); /* cannot fail: one write per VM */
	/* Parked vCPUs and a pause waiting for them must see the stop. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
}

static void vm_irqchip_set_level(void *ctx, uint32_t gsi, int level)
{
	struct vm *vm = ctx;
	struct kvm_irq_level irq = { .irq = gsi, .level = level ? 1 : 0 };

	if (ioctl(vm->fd, KVM_IRQ_LINE, &irq) < 0)
		LOG_ONCE(LOG_WARN, "irq: KVM_IRQ_LINE %u failed: %s", gsi, strerror(errno));
}

struct irq_line vm_irq_line(struct vm *vm, uint32_t gsi)
{
	return (struct irq_line){ .set_level = vm_irqchip_set_level, .ctx = vm, .gsi = gsi };
}

int vm_add_ioeventfd(struct vm *vm, uint64_t gpa, uint32_t len, uint64_t datamatch, int fd,
		     struct err *err)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = gpa,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};

	return kvm_ioctl(vm->fd, KVM_IOEVENTFD, &io, err);
}

int vm_add_irqfd(struct vm *vm, uint32_t gsi, int fd, struct err *err)
{
	struct kvm_irqfd irqfd = { .fd = (uint32_t)fd, .gsi = gsi };

	return kvm_ioctl(vm->fd, KVM_IRQFD, &irqfd, err);
}

/*
 * A snapshot's memory, mapped copy-on-write: the restore reads no page until
 * the guest touches it, and the guest's writes never reach the file.
 */
int vm_ram_map_file(const struct vm_config *cfg, int fd, struct vm_ram *out, struct err *err)
{
	uint64_t size = cfg->mem_mib << 20;
	struct stat st;
	void *p;

	if (cfg->hugepages)
		return err_set(err, -EINVAL,
			       "a snapshot restores into ordinary pages, not huge pages");
	if (fstat(fd, &st) < 0)
		return err_set(err, -errno, "memory file: %s", strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
		return err_set(err, -EINVAL,
			       "memory file: %lld bytes, the snapshot's VM has %llu MiB of RAM",
			       (long long)st.st_size, (unsigned long long)cfg->mem_mib);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (p == MAP_FAILED)
		return err_set(err, -errno, "memory file: cannot map it: %s", strerror(errno));
	madvise(p, size, MADV_DONTDUMP);
	*out = (struct vm_ram){ .hva = p, .size = size };
	return 0;
}

int vm_ram_alloc(const struct vm_config *cfg, struct vm_ram *out, struct err *err)
{
	int flags = MAP_PRIVATE | MAP_ANONYMOUS;
	uint64_t size = cfg->mem_mib << 20;
	void *p;

	/*
	 * Huge pages are reserved at mmap time (no MAP_NORESERVE), so a shortage
	 * shows up here as an error rather than as SIGBUS while the guest runs.
	 */
	flags |= cfg->hugepages ? MAP_HUGETLB : MAP_NORESERVE;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (p == MAP_FAILED) {
		if (cfg->hugepages)
			return err_set(err, -errno,
				       "cannot allocate %llu MiB of 2 MiB huge pages: %s (see "
				       "/proc/sys/vm/nr_hugepages)",
				       (unsigned long long)cfg->mem_mib, strerror(errno));
		return err_set(err, -errno, "cannot reserve %llu MiB of guest memory: %s",
			       (unsigned long long)cfg->mem_mib, strerror(errno));
	}
	/* Guest memory is the guest's business: keep it out of ember's core dumps. */
	madvise(p, size, MADV_DONTDUMP);
	*out = (struct vm_ram){ .hva = p, .size = size };
	return 0;
}

void vm_ram_free(struct vm_ram *r)
{
	if (r->hva)
		munmap(r->hva, r->size);
	*r = (struct vm_ram){ 0 };
}

static int vm_take_ram(struct vm *vm, const struct vm_config *cfg, struct vm_ram *ram,
		       struct err *err)
{
	struct vm_ram own = { 0 };
	int ret = 0;

	if (ram) {
		own = *ram;
		*ram = (struct vm_ram){ 0 };
	} else {
		ret = vm_ram_alloc(cfg, &own, err);
	}
	vm->ram = own.hva;
	vm->ram_size = own.size;
	if (ret == 0 && own.size != cfg->mem_mib << 20)
		ret = err_set(err, -EINVAL, "guest RAM does not match the VM's size");
	return ret;
}

/* (Re)declares guest RAM to KVM: slot i is region i, at its offset in the one mapping. */
static int vm_set_memslots(struct vm *vm, uint32_t flags, struct err *err)
{
	struct ram_region regions[ARCH_MAX_RAM_REGIONS];
	unsigned int n = arch_ram_regions(vm->ram_size, regions);
	uint64_t offset = 0;
	int ret;

	for (unsigned int i = 0; i < n; i++) {
		struct kvm_userspace_memory_region mr = {
			.slot = i,
			.flags = flags,
			.guest_phys_addr = regions[i].gpa,
			.memory_size = regions[i].size,
			.userspace_addr = (uintptr_t)vm->ram + offset,
		};

		ret = kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &mr, err);
		if (ret < 0)
			return ret;
		offset += regions[i].size;
	}
	return 0;
}

static int vm_add_memslots(struct vm *vm, struct err *err)
{
	struct ram_region regions[ARCH_MAX_RAM_REGIONS];
	unsigned int n = arch_ram_regions(vm->ram_size, regions);
	uint64_t offset = 0;
	int ret = vm_set_memslots(vm, 0, err);

	for (unsigned int i = 0; ret == 0 && i < n; i++) {
		ret = gmem_add_region(&vm->gmem, regions[i].gpa, regions[i].size,
				      (uint8_t *)vm->ram + offset);
		if (ret < 0)
			return err_set(err, ret, "guest memory: bad region layout");
		offset += regions[i].size;
	}
	return ret;
}

static uint64_t vm_dirty_words(const struct vm *vm)
{
	return (vm->ram_size / 4096 + 63) / 64;
}

int vm_dirty_log_start(struct vm *vm, struct err *err)
{
	int ret;

	if (vm->dirty_logging)
		return 0; /* tracking for diff snapshots: on since the start */
	ret = gmem_dirty_start(&vm->gmem, vm->ram, vm->ram_size);
	if (ret < 0)
		return err_set(err, ret, "out of memory");
	ret = vm_set_memslots(vm, KVM_MEM_LOG_DIRTY_PAGES, err);
	if (ret < 0) {
		gmem_dirty_stop(&vm->gmem);
		return ret;
	}
	vm->dirty_logging = true;
	return 0;
}

int vm_track_dirty_pages(struct vm *vm, struct err *err)
{
	int ret;

	vm->since_snapshot = calloc(vm_dirty_words(vm), sizeof(uint64_t));
	if (!vm->since_snapshot)
		return err_set(err, -ENOMEM, "out of memory");
	ret = vm_dirty_log_start(vm, err);
	if (ret < 0) {
		free(vm->since_snapshot);
		vm->since_snapshot = NULL;
	}
	return ret;
}

void vm_dirty_log_stop(struct vm *vm)
{
	struct err ignored = { { 0 } };

	if (vm->since_snapshot || !vm->dirty_logging)
		return; /* diff snapshots keep it on */
	vm->dirty_logging = false;
	gmem_dirty_stop(&vm->gmem);
	if (vm_set_memslots(vm, 0, &ignored) < 0)
		log_warn("cannot turn KVM's dirty log off: %s", ignored.msg);
}

/* KVM's log of one slot, whose pages start at page `first` of the RAM mapping. */
static int vm_take_slot_log(struct vm *vm, uint32_t slot, uint64_t first, uint64_t pages,
			    uint64_t *bitmap, struct err *err)
{
	uint64_t words = (pages + 63) / 64;
	uint64_t *log = calloc(words ? words : 1, sizeof(*log));
	struct kvm_dirty_log dl = { .slot = slot, .dirty_bitmap = log };
	int ret;

	if (!log)
		return err_set(err, -ENOMEM, "out of memory");
	ret = kvm_ioctl(vm->fd, KVM_GET_DIRTY_LOG, &dl, err);
	for (uint64_t w = 0; ret == 0 && w < words; w++)
		for (uint64_t b = log[w]; b; b &= b - 1) {
			uint64_t page = first + w * 64 + (uint64_t)__builtin_ctzll(b);

			bitmap[page / 64] |= 1ULL << (page % 64);
		}
	free(log);
	return ret;
}

/* KVM's and the devices' logs since the last harvest, into `bitmap`. */
static int vm_harvest(struct vm *vm, uint64_t *bitmap, struct err *err)
{
	struct ram_region regions[ARCH_MAX_RAM_REGIONS];
	unsigned int n = arch_ram_regions(vm->ram_size, regions);
	uint64_t first = 0;
	int ret = 0;

	for (unsigned int i = 0; ret == 0 && i < n; i++) {
		ret = vm_take_slot_log(vm, i, first, regions[i].size >> 12, bitmap, err);
		first += regions[i].size >> 12;
	}
	gmem_dirty_take(&vm->gmem, bitmap);
	return ret;
}

/* A migration's harvest: what it takes is kept for the next diff snapshot too. */
int vm_dirty_log_take(struct vm *vm, uint64_t *bitmap, struct err *err)
{
	uint64_t words = vm_dirty_words(vm);
	uint64_t *got;
	int ret;

	if (!vm->since_snapshot)
		return vm_harvest(vm, bitmap, err);
	got = calloc(words, sizeof(*got));
	if (!got)
		return err_set(err, -ENOMEM, "out of memory");
	ret = vm_harvest(vm, got, err);
	for (uint64_t i = 0; ret == 0 && i < words; i++) {
		vm->since_snapshot[i] |= got[i];
		bitmap[i] |= got[i];
	}
	free(got);
	return ret;
}

int vm_dirty_since_snapshot(struct vm *vm, uint64_t *bitmap, struct err *err)
{
	uint64_t words = vm_dirty_words(vm);
	int ret;

	if (!vm->since_snapshot)
		return err_set(err, -EINVAL,
			       "diff snapshots need dirty page tracking (machine-config "
			       "track_dirty_pages)");
	ret = vm_harvest(vm, vm->since_snapshot, err);
	if (ret < 0)
		return ret;
	memcpy(bitmap, vm->since_snapshot, words * sizeof(*bitmap));
	memset(vm->since_snapshot, 0, words * sizeof(*bitmap));
	return 0;
}

static void vm_enable_optional_caps(struct vm *vm)
{
	struct kvm_enable_cap cap = { .cap = KVM_CAP_EXIT_ON_EMULATION_FAILURE, .args = { 1 } };

	if (kvm_check_cap(vm->fd, KVM_CAP_EXIT_ON_EMULATION_FAILURE) > 0 &&
	    ioctl(vm->fd, KVM_ENABLE_CAP, &cap) == 0)
		vm->emul_failure_insn = true;
}

static int vm_create_vcpus(struct vm *vm, unsigned int count, struct err *err)
{
	int ret;

	vm->vcpus = calloc(count, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (unsigned int i = 0; i < count; i++) {
		ret = vcpu_create(vm, i, &vm->vcpus[i], err);
		if (ret < 0)
			return ret;
		vm->nr_vcpus++;
		ret = arch_vcpu_init(vm->vcpus[i], err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int vm_init(struct vm *vm, const struct vm_config *cfg, struct vm_ram *ram, struct err *err)
{
	int ret;

	vm->fd = kvm_ioctl_val(vm->kvm->fd, KVM_CREATE_VM, 0, err);
	if (vm->fd < 0)
		return vm->fd;
	vm_enable_optional_caps(vm);
	ret = vm_take_ram(vm, cfg, ram, err);
	if (ret < 0)
		return ret;
	/*
	 * Memslots before the interrupt controllers: added afterwards, each
	 * KVM_SET_USER_MEMORY_REGION was seen to take about 4 ms (PVM host),
	 * most of ember's start-up time.
	 */
	ret = vm_add_memslots(vm, err);
	if (ret < 0)
		return ret;
	ret = arch_vm_init(vm, cfg, err);
	if (ret < 0)
		return ret;

	ret = vm_create_vcpus(vm, cfg->cpus, err);
	if (ret < 0)
		return ret;
	ret = arch_machine_create(vm, cfg, err);
	if (ret < 0 || vm->restored)
		return ret;
	return arch_load_guest(vm, cfg, err);
}

int vm_create(struct kvm_host *kvm, const struct vm_config *cfg, struct vm_ram *ram,
	      struct vm **out, struct err *err)
{
	struct vm *vm;
	int ret;

	vm = calloc(1, sizeof(*vm));
	if (!vm) {
		if (ram)
			vm_ram_free(ram);
		return -ENOMEM;
	}
	pthread_mutex_init(&vm->pause_lock, NULL);
	pthread_cond_init(&vm->pause_cond, NULL);
	vm->kvm = kvm;
	vm->fd = -1;
	vm->restored = ram != NULL;
	bus_init(&vm->pio_bus, "pio");
	bus_init(&vm->mmio_bus, "mmio");
	vm->stop_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->stop_efd < 0) {
		ret = err_set(err, -errno, "eventfd: %s", strerror(errno));
		goto fail;
	}
	ret = vm_init(vm, cfg, ram, err);
	if (ret < 0)
		goto fail;
	*out = vm;
	return 0;
fail:
	if (ret == -ENOMEM)
		err_set(err, ret, "out of memory while creating the VM");
	vm_destroy(vm);
	if (ram)
		vm_ram_free(ram); /* taken over whatever the outcome, even before vm_init took it */
	return ret;
}

int vm_start(struct vm *vm, struct err *err)
{
	int ret;

	bus_freeze(&vm->pio_bus);
	bus_freeze(&vm->mmio_bus);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		ret = vcpu_start(vm->vcpus[i], err);
		if (ret < 0) {
			vm_request_stop(vm, VM_STOP_ERROR, "%s", err->msg);
			vm_stop(vm);
			return ret;
		}
	}
	return 0;
}

void vm_stop(struct vm *vm)
{
	if (vm_stop_reason(vm) == VM_RUNNING)
		vm_request_stop(vm, VM_STOP_QUIT, NULL);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_join(vm->vcpus[i]);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	vm_stop(vm);
	arch_machine_destroy(vm);
	for (unsigned int i = vm->nr_vcpus; i-- > 0;)
		vcpu_destroy(vm->vcpus[i]);
	free(vm->vcpus);
	gmem_dirty_fini(&vm->gmem); /* no device thread is left to mark pages */
	free(vm->since_snapshot);
	/* The VM's memslots point into guest RAM: end the VM before unmapping it. */
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->stop_efd >= 0)
		close(vm->stop_efd);
	bus_fini(&vm->mmio_bus);
	bus_fini(&vm->pio_bus);
	pthread_cond_destroy(&vm->pause_cond);
	pthread_mutex_destroy(&vm->pause_lock);
	free(vm);
}

void vm_vcpu_park(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	vm->parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (atomic_load(&vm->pause_wanted) && vm_stop_reason(vm) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->parked--;
	pthread_mutex_unlock(&vm->pause_lock);
}

int vm_pause(struct vm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_wanted, true);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		vcpu_kick(vm->vcpus[i]);
	while (vm->parked < vm->nr_vcpus && vm_stop_reason(vm) == VM_RUNNING)
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	if (vm_stop_reason(vm) != VM_RUNNING)
		ret = -ESHUTDOWN;
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

void vm_resume(struct vm *vm)
{
	pthread_mutex_lock(&vm->pause_lock);
	atomic_store(&vm->pause_wanted, false);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
}

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/e820.h"
#include "arch/x86/layout.h"
#include "arch/x86/machine.h"
#include "config/vm_config.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "kvm/vm.h"
#include "virtio/mmio.h"

/*
 * The firmware tables describe at most 254 CPUs: xAPIC IDs are 8 bits, 255
 * is the broadcast ID, and the IOAPIC takes the ID after the last CPU.
 */
unsigned int arch_max_vcpus(void)
{
	return 254;
}

/*
 * Firmware leaves both 8259s masked; KVM's come up unmasked with vector base
 * 0, so a guest that never touches them (PVH guests, hardware-reduced ACPI)
 * would take ISA interrupts as exceptions through LINT0's ExtINT wiring.
 */
static int x86_mask_pics(struct vm *vm, struct err *err)
{
	for (uint32_t chip = KVM_IRQCHIP_PIC_MASTER; chip <= KVM_IRQCHIP_PIC_SLAVE; chip++) {
		struct kvm_irqchip ic = { .chip_id = chip };
		int ret = kvm_ioctl(vm->fd, KVM_GET_IRQCHIP, &ic, err);

		if (ret < 0)
			return ret;
		ic.chip.pic.imr = 0xff;
		ret = kvm_ioctl(vm->fd, KVM_SET_IRQCHIP, &ic, err);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static int x86_create_irqchip(struct vm *vm, struct err *err)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	uint64_t identity = LAYOUT_KVM_IDENTITY;
	int ret;

	/* VMX without unrestricted guest needs these pages; they lie in the MMIO hole. */
	ret = kvm_ioctl_val(vm->fd, KVM_SET_TSS_ADDR, LAYOUT_KVM_TSS, err);
	if (ret == 0)
		ret = kvm_ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR, &identity, err);
	if (ret == 0)
		ret = kvm_ioctl_val(vm->fd, KVM_CREATE_IRQCHIP, 0, err);
	if (ret == 0)
		ret = kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit, err);
	if (ret == 0)
		ret = x86_mask_pics(vm, err);
	return ret;
}

int arch_vm_init(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct x86_machine *m = calloc(1, sizeof(*m));
	int ret;

	if (!m)
		return -ENOMEM;
	m->serial_file_fd = -1;
	m->nr_cpus = cfg->cpus;
	m->tsc_deadline = kvm_check_cap(vm->kvm->fd, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	vm->machine = m;
	ret = cpuid_get_supported(vm->kvm->fd, &m->supported_cpuid, err);
	if (ret < 0)
		return ret;
	return x86_create_irqchip(vm, err);
}

static void sink_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	memset(data, 0xff, len);
}

static void sink_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len;
}

/* Port 0x80 takes POST codes and I/O delays; nothing listens. */
static const struct bus_ops sink_ops = {
	.read = sink_read,
	.write = sink_write,
};

static void x86_reset_line(void *ctx)
{
	vm_request_stop(ctx, VM_STOP_RESET, NULL);
}

/* Where guest serial output goes: *fd is -1 for --serial none. */
static int x86_serial_out_fd(struct x86_machine *m, const struct vm_config *cfg, int *fd,
			     struct err *err)
{
	*fd = -1;
	if (vm_config_serial_mode(cfg) == SERIAL_STDIO)
		*fd = STDOUT_FILENO;
	if (vm_config_serial_mode(cfg) != SERIAL_FILE)
		return 0;
	m->serial_file_fd =
		open(cfg->serial_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0644);
	if (m->serial_file_fd < 0)
		return err_set(err, -errno, "--serial: cannot open '%s': %s", cfg->serial_path,
			       strerror(errno));
	*fd = m->serial_file_fd;
	return 0;
}

static int x86_create_devices(struct vm *vm, struct x86_machine *m, int out_fd, bool boot_timer)
{
	struct serial_config sc = {
		.port = PORT_COM1,
		.irq = vm_irq_line(vm, IRQ_COM1),
		.out_fd = out_fd,
	};
	struct i8042_config kc = {
		.irq = vm_irq_line(vm, IRQ_KEYBOARD),
		.reset = x86_reset_line,
		.reset_ctx = vm,
	};
	struct rtc_config rc = {
		.low_ram_end = e820_low_ram_end(vm->ram_size),
		.high_ram_size = vm->ram_size - e820_low_ram_end(vm->ram_size),
	};
	int ret;

	ret = serial_create(&vm->pio_bus, &sc, &m->com1);
	if (ret == 0)
		ret = i8042_create(&vm->pio_bus, &kc, &m->i8042);
	if (ret == 0)
		ret = rtc_create(&vm->pio_bus, &rc, &m->rtc);
	if (ret == 0)
		ret = acpi_pm_create(vm, PORT_ACPI_PM, &m->acpi_pm);
	if (ret == 0)
		ret = bus_register(&vm->pio_bus, PORT_POST, 1, &sink_ops, NULL);
	if (ret == 0 && boot_timer) {
		boot_timer_init(&m->boot_timer);
		ret = bus_register(&vm->pio_bus, BOOT_TIMER_PORT, 1, &boot_timer_ops,
				   &m->boot_timer);
	}
	return ret;
}

static size_t x86_serial_push(void *dev, const uint8_t *data, size_t len)
{
	return serial_rx_push(dev, data, len);
}

static const uint32_t virtio_gsis[] = { IRQS_VIRTIO };

static const struct virtio_windows virtio_windows = {
	.base = LAYOUT_VIRTIO_MMIO,
	.stride = VIRTIO_MMIO_SIZE,
	.gsis = virtio_gsis,
	.max = ARRAY_SIZE(virtio_gsis),
};

int arch_machine_create(struct vm *vm, const struct vm_config *cfg, struct err *err)
{
	struct x86_machine *m = vm->machine;
	int out_fd, ret;

	ret = x86_serial_out_fd(m, cfg, &out_fd, err);
	if (ret < 0)
		return ret;
	ret = x86_create_devices(vm, m, out_fd, cfg->boot_timer);
	if (ret < 0)
		return err_set(err, ret, "cannot create the platform devices: %s", strerror(-ret));
	vm->console = (struct console_in){ .push = x86_serial_push,
					   .space_fd = serial_rx_space_fd(m->com1),
					   .dev = m->com1 };
	return virtio_devices_create(vm, cfg, &virtio_windows, &m->virtio, err);
}

void arch_pause_devices(struct vm *vm, bool pause)
{
	struct x86_machine *m = vm->machine;

	if (m)
		virtio_devices_pause(&m->virtio, pause);
}

int arch_handover_devices(struct vm *vm, bool release)
{
	struct x86_machine *m = vm->machine;

	return virtio_devices_handover(&m->virtio, release);
}

void arch_hold_device_writes(struct vm *vm, bool hold)
{
	struct x86_machine *m = vm->machine;

	virtio_devices_hold_writes(&m->virtio, hold);
}

void arch_power_button(struct vm *vm)
{
	struct irq_line line = vm_irq_line(vm, IRQ_GED);

	/* An edge on the GED's interrupt: its _EVT notifies PWRB (dsdt.asl). */
	irq_line_pulse(&line);
}

int arch_ctrl_alt_del(struct vm *vm)
{
	struct x86_machine *m = vm->machine;

	if (!m || !m->i8042)
		return -ENODEV;
	i8042_ctrl_alt_del(m->i8042);
	return 0;
}

void arch_machine_destroy(struct vm *vm)

{
	struct x86_machine *m = vm->machine;

	if (!m)
		return;
	virtio_devices_destroy(&m->virtio);
	vm->console = (struct console_in){ 0 };
	acpi_pm_destroy(m->acpi_pm);
	rtc_destroy(m->rtc);
	i8042_destroy(m->i8042);
	serial_destroy(m->com1);
	if (m->serial_file_fd >= 0)
		close(m->serial_file_fd);
	free(m->supported_cpuid);
	free(m);
	vm->machine = NULL;
}

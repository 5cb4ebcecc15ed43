#include <errno.h>
#include <stdlib.h>

#include "devices/acpi_pm.h"
#include "kvm/vm.h"
#include "util/log.h"

#define SLP_EN	   (1u << 5)
#define SLP_TYP(v) (((v) >> 2) & 7)

struct acpi_pm {
	struct vm *vm; /* borrowed */
};

static void acpi_pm_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	/* No wake events: the sleep status register reads as 0. */
	for (uint32_t i = 0; i < len; i++)
		((uint8_t *)data)[i] = 0;
}

static void acpi_pm_sleep(struct acpi_pm *pm, uint8_t val)
{
	if (!(val & SLP_EN))
		return;
	if (SLP_TYP(val) == ACPI_PM_S5_TYPE) {
		vm_request_stop(pm->vm, VM_STOP_POWEROFF, NULL);
		return;
	}
	/* Only S5 is declared in the DSDT; anything else is a confused guest. */
	LOG_RATELIMIT(LOG_WARN, 5, "acpi: guest asked for unsupported sleep type %u", SLP_TYP(val));
}

static void acpi_pm_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct acpi_pm *pm = opaque;
	uint8_t val = *(const uint8_t *)data;

	if (len != 1)
		return;
	switch (off) {
	case ACPI_PM_SLEEP_CONTROL:
		acpi_pm_sleep(pm, val);
		break;
	case ACPI_PM_RESET:
		if (val == ACPI_PM_RESET_VALUE)
			vm_request_stop(pm->vm, VM_STOP_RESET, NULL);
		break;
	default: /* sleep status: write-1-to-clear bits that are never set */
		break;
	}
}

static const struct bus_ops acpi_pm_ops = {
	.read = acpi_pm_read,
	.write = acpi_pm_write,
};

int acpi_pm_create(struct vm *vm, uint16_t port, struct acpi_pm **out)
{
	struct acpi_pm *pm = calloc(1, sizeof(*pm));
	int ret;

	if (!pm)
		return -ENOMEM;
	pm->vm = vm;
	ret = bus_register(&vm->pio_bus, port, ACPI_PM_SIZE, &acpi_pm_ops, pm);
	if (ret < 0) {
		free(pm);
		return ret;
	}
	*out = pm;
	return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
	free(pm);
}

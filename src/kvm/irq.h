/*
 * An interrupt line as devices see it: a GSI on some interrupt controller,
 * driven through a callback. Devices set the line's level and never touch
 * KVM themselves (the VM supplies the callback; unit tests supply a fake).
 * Safe from any thread when the callback is.
 */
#ifndef EMBER_KVM_IRQ_H
#define EMBER_KVM_IRQ_H

#include <stdint.h>

struct irq_line {
	void (*set_level)(void *ctx, uint32_t gsi, int level);
	void *ctx;
	uint32_t gsi;
};

static inline void irq_line_set(const struct irq_line *line, int level)
{
	if (line->set_level)
		line->set_level(line->ctx, line->gsi, level);
}

/* An edge: raise then lower, for edge-triggered inputs. */
static inline void irq_line_pulse(const struct irq_line *line)
{
	irq_line_set(line, 1);
	irq_line_set(line, 0);
}

#endif

/*
 * The descriptor tables filled in at run time (TSS descriptor, IDT) and the
 * C side of interrupt handling. Intel SDM vol. 3A, chapters 6 and 8.
 */
#include "guest.h"
#include "io.h"

/*
 * 64-bit TSS (SDM vol. 3A, 8.7, figure 8-11) followed by an I/O permission
 * bitmap (SDM vol. 1, 19.5.2) that allows ports 0-0xfff in ring 3: IOPL 3
 * alone is not enough where ring 3 runs under PVM, which does not honour
 * IOPL. Ports beyond the bitmap are denied; the 0xff byte ends it.
 */
#define IO_BITMAP_PORTS 0x1000

struct __attribute__((packed)) tss64 {
	uint32_t reserved0;
	uint64_t rsp[3];
	uint64_t reserved1;
	uint64_t ist[7];
	uint64_t reserved2;
	uint16_t reserved3;
	uint16_t iomap_base;
	uint8_t io_bitmap[IO_BITMAP_PORTS / 8];
	uint8_t io_bitmap_end;
};

/* 64-bit interrupt gate, SDM vol. 3A, 6.14.1 (figure 6-8). */
struct idt_gate {
	uint16_t offset_low;
	uint16_t selector;
	uint8_t ist;
	uint8_t type;
	uint16_t offset_mid;
	uint32_t offset_high;
	uint32_t reserved;
};

#define GATE_INTERRUPT 0x8e /* present, DPL 0, 64-bit interrupt gate */
#define GATE_DPL3      0x60

struct tss64 tss __attribute__((aligned(16)));
struct idt_gate idt[256] __attribute__((aligned(16)));

extern const uint64_t exception_stubs[32];
extern uint64_t gdt_tss[2];
extern uint8_t boot_stack_top[], ist_stack_top[];
extern void isr_timer(void), isr_serial(void), isr_virtio(void), isr_spurious(void);
extern void isr_pwrbtn(void);
extern void isr_user_ret(void);
extern const uint8_t user_return_int[], user_return_ud2[];
_Noreturn void user_return(void);

static void idt_set(unsigned int vec, uint64_t handler, uint8_t type, uint8_t ist)
{
	idt[vec] = (struct idt_gate){
		.offset_low = (uint16_t)handler,
		.selector = SEL_KCODE,
		.ist = ist,
		.type = type,
		.offset_mid = (uint16_t)(handler >> 16),
		.offset_high = (uint32_t)(handler >> 32),
	};
}

/* A 16-byte system-segment descriptor, SDM vol. 3A, 8.2.3 (figure 8-4). */
static void tss_install(void)
{
	uint64_t base = (uint64_t)(uintptr_t)&tss;
	uint64_t limit = sizeof(tss) - 1;

	tss.rsp[0] = (uint64_t)(uintptr_t)boot_stack_top;
	tss.ist[0] = (uint64_t)(uintptr_t)ist_stack_top;
	/* .bss is zero: every port of the bitmap is allowed. */
	tss.iomap_base = offsetof(struct tss64, io_bitmap);
	tss.io_bitmap_end = 0xff;
	gdt_tss[0] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ULL << 40) |
		     ((limit & 0xf0000) << 32) | ((base & 0xff000000) << 32);
	gdt_tss[1] = base >> 32;
	__asm__ __volatile__("ltr %w0" : : "r"(SEL_TSS));
}

void cpu_init(void)
{
	extern const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idt_ptr;

	tss_install();
	for (unsigned int v = 0; v < 32; v++)
		/* Double fault and NMI get a known-good stack (IST 1). */
		idt_set(v, exception_stubs[v], GATE_INTERRUPT, v == 8 || v == 2 ? 1 : 0);
	idt_set(VEC_TIMER, (uint64_t)(uintptr_t)isr_timer, GATE_INTERRUPT, 0);
	idt_set(VEC_SERIAL, (uint64_t)(uintptr_t)isr_serial, GATE_INTERRUPT, 0);
	idt_set(VEC_VIRTIO, (uint64_t)(uintptr_t)isr_virtio, GATE_INTERRUPT, 0);
	idt_set(VEC_PWRBTN, (uint64_t)(uintptr_t)isr_pwrbtn, GATE_INTERRUPT, 0);
	idt_set(VEC_SPURIOUS, (uint64_t)(uintptr_t)isr_spurious, GATE_INTERRUPT, 0);
	idt_set(VEC_USER_RET, (uint64_t)(uintptr_t)isr_user_ret, GATE_INTERRUPT | GATE_DPL3, 0);
	__asm__ __volatile__("lidt %0" : : "m"(idt_ptr));
}

static _Noreturn void exception(const struct regs *r)
{
	static volatile int nested;

	if (nested++)
		halt_forever();
	gprintf("FAIL exception %u rip=0x%llx err=0x%llx\n", (unsigned int)r->vector,
		(unsigned long long)r->rip, (unsigned long long)r->error);
	guest_exit();
}

void isr_dispatch(struct regs *r);
void isr_dispatch(struct regs *r)
{
	/* The fallback way back from ring 3 (see user_call in entry.S). */
	if (r->vector == 6 && (r->cs & 3) == 3 &&
	    (r->rip == (uintptr_t)user_return_int || r->rip == (uintptr_t)user_return_ud2))
		user_return();
	if (r->vector < 32)
		exception(r);
	else if (r->vector == VEC_TIMER)
		timer_irq();
	else if (r->vector == VEC_SERIAL)
		serial_irq();
	else if (r->vector == VEC_VIRTIO)
		virtio_irq();
	else if (r->vector == VEC_PWRBTN)
		pwrbtn_irq();
	/* Spurious interrupts need no EOI (SDM vol. 3A, 11.9). */
}

/*
 * With an empty IDT no exception can be delivered: #UD becomes #GP, then a
 * double fault, then a triple fault, which is a shutdown the VMM sees (SDM
 * vol. 3A, 6.15, interrupt 8). UD2 rather than INT3: where ring 0 is
 * emulated (PVM), KVM's emulator injects #UD for UD2 but cannot execute INT3
 * in protected mode at all, which would be an emulation failure instead.
 */
_Noreturn void triple_fault(void)
{
	static const struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) empty = { 0, 0 };

	__asm__ __volatile__("lidt %0; ud2" : : "m"(empty));
	halt_forever();
}

/* Declarations shared by the test guest's C files. */
#ifndef GUEST_H
#define GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "defs.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIB	      (1024ULL * 1024)
#define GIB	      (1024 * MIB)

/*
 * Storage the boot path does not zero (guest.ld.S): .bss is cleared with one
 * REP STOSQ, which KVM's emulator executes element by element, so buffers
 * that are always written before they are read stay out of it.
 */
#define __noinit __attribute__((section(".noinit")))

#define CMDLINE_SIZE   4096
#define MAX_MEM_RANGES 128 /* E820_MAX_ENTRIES_ZEROPAGE of the Linux boot protocol */
#define E820_RAM       1

/* What either boot protocol told us, copied into the guest's own memory. */
struct mem_range {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct boot_info {
	const char *protocol; /* "pvh" or "bootparams" */
	const char *error;    /* a problem with the boot structures, or NULL */
	char cmdline[CMDLINE_SIZE];
	unsigned int nr_mem;
	struct mem_range mem[MAX_MEM_RANGES];
	uint64_t rsdp;	      /* 0: unknown, scan the BIOS area */
	uint64_t initrd_addr; /* PVH module 0 or boot_params' ramdisk; size 0: none */
	uint64_t initrd_size;
};

/* The settings the command line gives (main.c). */
enum exit_method { EXIT_RESET, EXIT_POWEROFF, EXIT_TRIPLE, EXIT_HALT, EXIT_ACPI_RESET };

struct config {
	uint64_t iters;		  /* 0: the benchmark's default */
	unsigned int expect_cpus; /* 0: not given */
	const char *net_ip;	  /* virtio-net's address, NULL: not given */
	uint64_t net_pings;	  /* echo replies virtio-net must send, 0: not given */
	uint64_t net_wait_s;	  /* seconds virtio-net waits for them, 0: not given */
	uint64_t console_lines;	  /* lines virtio-console echoes, 0: not given */
	uint64_t ticks;		  /* TICK lines the ticker prints, 0: not given */
	uint64_t blk_ops;	  /* bench-blk's random reads, 0: not given */
	uint64_t blk_mib;	  /* bench-blk's MiB per sequential phase, 0: not given */
	uint64_t net_frames;	  /* bench-net's frames per size, 0: not given */
};

extern const struct boot_info *boot;
extern struct config config;

_Noreturn void guest_main(const struct boot_info *bi);
_Noreturn void guest_exit(void);

/* lib.c */
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
bool starts_with(const char *s, const char *prefix);
bool parse_u64(const char *s, uint64_t *out);

/* print.c: COM1 and a small printf (%s %c %d %u %x, l/ll/z, width, 0). */
void serial_init(void);
void serial_stash_input(void);
unsigned int serial_take_stash(uint8_t *buf, unsigned int max);
void serial_putc(char c);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void test_pass(const char *test);
void test_fail(const char *test, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cpu.c */
struct regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
};

void cpu_init(void);
void user_call(void (*fn)(void *), void *arg, void *stack_top);
_Noreturn void halt_forever(void);
_Noreturn void triple_fault(void);
extern uint8_t user_stack_top[];
extern uint8_t __image_start[], __image_end[];

/* apic.c */
void lapic_init(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_send_ipi(uint32_t apic_id, uint32_t icr_low);
void timer_start(void);
void timer_stop(void);
uint64_t timer_ticks(void);
void sleep_ms(unsigned int ms);
void ioapic_route(uint64_t ioapic_base, unsigned int pin, uint8_t vector, uint32_t apic_id);
void ioapic_mask(uint64_t ioapic_base, unsigned int pin);
void timer_irq(void);

/* acpi.c */
struct madt_info {
	unsigned int nr_cpus;
	uint32_t apic_ids[MAX_CPUS];
	uint64_t ioapic_base; /* 0: no IOAPIC entry */
};

const void *acpi_find_table(const char *sig);
bool acpi_read_madt(struct madt_info *out);
const char *acpi_poweroff(void);
const char *acpi_reset(void);

/* Tests, one function each; they print their own PASS/FAIL lines. */
void test_hello(void);
void test_serial(void);
void test_echo(void);
void test_smp(void);
void test_cmdline(void);
void test_initrd(void);
void test_memmap(void);
void test_rtc(void);
void test_cpuid(void);
void test_bench_pio(void);
void test_idle(void);
void test_emulation_failure(void);
void test_exception(void);
void test_unhandled(void);
void test_virtio_rng(void);
void test_virtio_blk(void);
void test_virtio_bad_chain(void);
void test_virtio_net(void);
void test_virtio_console(void);
void test_virtio_vsock(void);
void test_ticker(void);
void test_memhog(void);
void test_boot_timer(void);
void test_ctrl_alt_del(void);
void test_hostile(void);
void test_power_button(void);
void test_bench_blk(void);
void test_bench_net(void);

void serial_irq(void);
void virtio_irq(void);
void pwrbtn_irq(void);

#endif

/*
 * Kernel images (ELF vmlinux, bzImage): whatever the bytes, kernel_parse()
 * either refuses them or returns a plan whose every segment lies inside
 * the file and inside guest RAM.
 */
#include "arch/x86/loader.h"
#include "fuzz.h"

#define MiB (1ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct ram_region regions[] = { { 0, 3072 * MiB },
						     { 4096 * MiB, 1024 * MiB } };
	const struct guest_ram ram = { regions, 2 };
	struct kernel_plan plan;
	struct err err = { { 0 } };

	if (kernel_parse(data, size, &ram, &plan, &err) < 0) {
		FUZZ_CHECK(err.msg[0] != '\0'); /* a refusal always says why */
		return 0;
	}
	FUZZ_CHECK(plan.nr_segs >= 1 && plan.nr_segs <= LOADER_MAX_SEGMENTS);
	for (unsigned int i = 0; i < plan.nr_segs; i++) {
		const struct load_segment *s = &plan.segs[i];

		FUZZ_CHECK(s->file_size <= s->mem_size);
		FUZZ_CHECK(s->file_offset <= size && s->file_size <= size - s->file_offset);
		FUZZ_CHECK(guest_ram_contains(&ram, s->gpa, s->mem_size));
	}
	return 0;
}

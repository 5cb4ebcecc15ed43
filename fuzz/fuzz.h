/* What the fuzz targets share: a property check that libFuzzer reports as a crash. */
#ifndef EMBER_FUZZ_FUZZ_H
#define EMBER_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

/* Small helpers shared by every module: attributes, sizes, alignment. */
#ifndef EMBER_UTIL_COMPILER_H
#define EMBER_UTIL_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define __must_check   __attribute__((warn_unused_result))
#define __packed       __attribute__((packed))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define __unused       __attribute__((unused))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Built with AddressSanitizer (GCC says so one way, clang another): test builds only. */
#if defined(__SANITIZE_ADDRESS__)
#define EMBER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMBER_SANITIZER 1
#endif
#endif

/* The structure that embeds `member` at `p` (through uintptr_t: GCC 12 misreads char *). */
#define container_of(p, type, member) ((type *)((uintptr_t)(p)-offsetof(type, member)))

#define KIB(x) ((uint64_t)(x) << 10)
#define MIB(x) ((uint64_t)(x) << 20)
#define GIB(x) ((uint64_t)(x) << 30)

#define ALIGN_UP(x, a)	 (((x) + ((a)-1)) & ~((uint64_t)(a)-1))
#define ALIGN_DOWN(x, a) ((x) & ~((uint64_t)(a)-1))
#define IS_ALIGNED(x, a) (((x) & ((uint64_t)(a)-1)) == 0)

#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/* True when [base, base + len) wraps around the 64-bit address space. */
static inline int range_overflows(uint64_t base, uint64_t len)
{
	return len != 0 && base + len - 1 < base;
}

/* True when [a, a + alen) and [b, b + blen) share at least one byte. */
static inline int ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	if (alen == 0 || blen == 0)
		return 0;
	return a <= b + blen - 1 && b <= a + alen - 1;
}

#endif

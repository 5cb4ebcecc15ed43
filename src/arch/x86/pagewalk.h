/*
 * Translating a guest-virtual address the way the guest's MMU would, by
 * reading its page tables through the checked guest-memory helpers. Used to
 * show the instruction bytes at RIP when a vCPU fails; KVM_TRANSLATE is not
 * available on every KVM (PVM answers "not valid").
 */
#ifndef EMBER_ARCH_X86_PAGEWALK_H
#define EMBER_ARCH_X86_PAGEWALK_H

#include <stdint.h>

#include "util/compiler.h"

struct gmem;

struct paging_regs {
	uint64_t cr0, cr3, cr4, efer;
};

/* 0 and *gpa on success; -EFAULT for a page not present or tables outside RAM. */
int pagewalk(const struct gmem *gm, const struct paging_regs *r, uint64_t gva,
	     uint64_t *gpa) __must_check;

#endif

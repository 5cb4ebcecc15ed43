#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jailer/elfdeps.h"
#include "util/file.h"

#define ELF_MAX_SIZE (256u << 20)

static const char *const lib_dirs[] = {
	"/lib/x86_64-linux-gnu",
	"/usr/lib/x86_64-linux-gnu",
	"/lib64",
	"/usr/lib64",
	"/lib",
	"/usr/lib",
};

static bool elfdeps_has(const struct elfdeps *d, const char *path)
{
	for (unsigned int i = 0; i < d->count; i++)
		if (strcmp(d->paths[i], path) == 0)
			return true;
	return false;
}

static int elfdeps_add(struct elfdeps *d, const char *path, struct err *err)
{
	if (elfdeps_has(d, path))
		return 0;
	if (d->count == ELFDEPS_MAX)
		return err_set(err, -E2BIG, "more than %d shared libraries", ELFDEPS_MAX);
	d->paths[d->count] = strdup(path);
	if (!d->paths[d->count])
		return err_set(err, -ENOMEM, "out of memory");
	d->count++;
	return 0;
}

/* The checked view of one 64-bit ELF file. */
struct elf {
	const uint8_t *data;
	size_t size;
	const Elf64_Ehdr *eh;
};

static const Elf64_Phdr *elf_phdr(const struct elf *e, unsigned int i)
{
	uint64_t off = (uint64_t)i * sizeof(Elf64_Phdr);

	if (e->eh->e_phoff > e->size || off > e->size - e->eh->e_phoff ||
	    e->size - e->eh->e_phoff - off < sizeof(Elf64_Phdr))
		return NULL;
	return (const Elf64_Phdr *)(e->data + e->eh->e_phoff + off);
}

/* The file offset of virtual address `va`, through the PT_LOAD segments; 0 if none. */
static uint64_t elf_offset(const struct elf *e, uint64_t va)
{
	for (unsigned int i = 0; i < e->eh->e_phnum; i++) {
		const Elf64_Phdr *p = elf_phdr(e, i);

		if (p && p->p_type == PT_LOAD && va >= p->p_vaddr && va - p->p_vaddr < p->p_filesz)
			return p->p_offset + (va - p->p_vaddr);
	}
	return 0;
}

static const char *elf_string(const struct elf *e, uint64_t off)
{
	const char *s = (const char *)e->data + off;

	if (off >= e->size || !memchr(s, '\0', e->size - off))
		return NULL;
	return s;
}

static int elf_open(struct elf *e, const struct file_view *fv, const char *path, struct err *err)
{
	e->data = fv->data;
	e->size = fv->size;
	e->eh = (const Elf64_Ehdr *)fv->data;
	if (fv->size < sizeof(Elf64_Ehdr) || memcmp(fv->data, ELFMAG, SELFMAG) ||
	    e->eh->e_ident[EI_CLASS] != ELFCLASS64)
		return err_set(err, -ENOEXEC, "'%s' is not a 64-bit ELF program", path);
	return 0;
}

/* Finds a library the way the loader would, in the standard directories. */
static int find_lib(const char *name, char *out, size_t cap)
{
	if (strchr(name, '/'))
		return -EINVAL; /* a path in DT_NEEDED: not something ember links */
	for (size_t i = 0; i < ARRAY_SIZE(lib_dirs); i++) {
		snprintf(out, cap, "%s/%s", lib_dirs[i], name);
		if (access(out, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

static int elfdeps_walk(const char *path, struct elfdeps *d, unsigned int depth, struct err *err);

static int elf_needed(const struct elf *e, const Elf64_Phdr *dyn, struct elfdeps *d,
		      unsigned int depth, struct err *err)
{
	const Elf64_Dyn *tab = (const Elf64_Dyn *)(e->data + dyn->p_offset);
	size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
	uint64_t strtab = 0;
	char lib[PATH_MAX];
	int ret = 0;

	if (dyn->p_offset > e->size || dyn->p_filesz > e->size - dyn->p_offset)
		return err_set(err, -ENOEXEC, "a dynamic section outside the file");
	for (size_t i = 0; i < n && tab[i].d_tag != DT_NULL; i++)
		if (tab[i].d_tag == DT_STRTAB)
			strtab = elf_offset(e, tab[i].d_un.d_ptr);
	for (size_t i = 0; i < n && tab[i].d_tag != DT_NULL && ret == 0; i++) {
		const char *name;

		if (tab[i].d_tag != DT_NEEDED)
			continue;
		name = strtab ? elf_string(e, strtab + tab[i].d_un.d_val) : NULL;
		if (!name || find_lib(name, lib, sizeof(lib)) < 0)
			return err_set(err, -ENOENT, "shared library '%s' not found",
				       name ? name : "?");
		if (!elfdeps_has(d, lib))
			ret = elfdeps_walk(lib, d, depth + 1, err);
	}
	return ret;
}

static int elfdeps_walk(const char *path, struct elfdeps *d, unsigned int depth, struct err *err)
{
	struct file_view fv = { 0 };
	struct elf e;
	int ret;

	if (depth > 16)
		return err_set(err, -ELOOP, "libraries nested too deep");
	ret = file_view_load(&fv, path, "program", ELF_MAX_SIZE, err);
	if (ret == 0)
		ret = elf_open(&e, &fv, path, err);
	if (ret == 0 && depth > 0)
		ret = elfdeps_add(d, path, err);
	for (unsigned int i = 0; ret == 0 && i < e.eh->e_phnum; i++) {
		const Elf64_Phdr *p = elf_phdr(&e, i);
		const char *interp;

		if (!p)
			ret = err_set(err, -ENOEXEC, "program headers outside the file");
		else if (p->p_type == PT_INTERP && (interp = elf_string(&e, p->p_offset)))
			/* It is copied to <root><path>: an absolute path without "..". */
			ret = interp[0] != '/' || strstr(interp, "/..")
				      ? err_set(err, -ENOEXEC, "odd interpreter path '%s'", interp)
				      : elfdeps_add(d, interp, err);
		else if (p->p_type == PT_DYNAMIC)
			ret = elf_needed(&e, p, d, depth, err);
	}
	file_view_release(&fv);
	return ret;
}

int elfdeps_resolve(const char *path, struct elfdeps *out, struct err *err)
{
	int ret;

	memset(out, 0, sizeof(*out));
	ret = elfdeps_walk(path, out, 0, err);
	if (ret < 0)
		elfdeps_free(out);
	return ret;
}

void elfdeps_free(struct elfdeps *d)
{
	for (unsigned int i = 0; i < d->count; i++)
		free(d->paths[i]);
	memset(d, 0, sizeof(*d));
}

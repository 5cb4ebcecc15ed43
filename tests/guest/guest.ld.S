/*
 * The test guest is linked at 1 MiB and runs identity mapped (virtual ==
 * physical). Two loadable segments (code and read-only data; data, page
 * tables and .bss) and, with PVH defined (guest.elf, which links pvh.S), a
 * PT_NOTE segment holding the Xen PVH entry note. The ELF and program headers
 * are not loaded. Preprocessed with the C preprocessor (-P -DPVH or not).
 */
OUTPUT_FORMAT("elf64-x86-64")
OUTPUT_ARCH(i386:x86-64)
ENTRY(startup_64)

PHDRS
{
	text PT_LOAD FLAGS(5);	/* R X */
	data PT_LOAD FLAGS(6);	/* R W */
#ifdef PVH
	note PT_NOTE FLAGS(4);
#endif
}

SECTIONS
{
	. = 0x100000;
	__image_start = .;

	/* 0x200 bytes of padding, then the 64-bit entry at 0x100200 (head.S). */
	.head : { KEEP(*(.head)) } :text
	.text : { *(.text .text.*) } :text
	.rodata : { *(.rodata .rodata.*) } :text
#ifdef PVH
	.note.Xen : { KEEP(*(.note.Xen)) } :text :note
#endif

	. = ALIGN(4096);
	.data : {
		*(.data.pagetables)
		*(.data .data.*)
	} :data

	/* Zeroed by zero_bss at boot: keep it 8-byte aligned and small. */
	.bss (NOLOAD) : {
		. = ALIGN(8);
		__bss_start = .;
		*(.bss .bss.*)
		*(COMMON)
		. = ALIGN(8);
		__bss_end = .;
	} :data

	/* Stacks: not zeroed, not in the file. */
	.noinit (NOLOAD) : { *(.noinit .noinit.*) } :data

	. = ALIGN(4096);
	__image_end = .;

	/DISCARD/ : {
		*(.comment)
		*(.eh_frame)
		*(.note.GNU-stack)
		*(.note.gnu.property)
	}
}

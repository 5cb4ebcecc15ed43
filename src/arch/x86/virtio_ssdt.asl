/*
 * One virtio-mmio device as ACPI describes it (the "LNRO0005" id Linux's
 * virtio_mmio driver matches), for kernels built without
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES, Debian's among them. ember copies this
 * table once per device and replaces the placeholders: the name VRXX, the
 * _UID, the window base and the interrupt (src/arch/x86/acpi.c).
 */
DefinitionBlock ("virtio_ssdt.aml", "SSDT", 2, "EMBER ", "EMBERVIO", 1)
{
    Scope (\_SB)
    {
        Device (VRXX)
        {
            Name (_HID, "LNRO0005")
            Name (_UID, 0x5A5A5A5A)
            Name (_CRS, ResourceTemplate ()
            {
                Memory32Fixed (ReadWrite, 0xE7E7E000, 0x00001000)
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) {0x00ABCDEF}
            })
        }
    }
}

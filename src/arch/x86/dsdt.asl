/*
 * ember's DSDT: the legacy devices a Linux guest finds through ACPI, the S5
 * (soft-off) sleep state, and a power button signalled through the Generic
 * Event Device of hardware-reduced ACPI (ACPI 6.5, 5.6.9). Port and IRQ
 * numbers must match src/arch/x86/layout.h; a unit test checks that they do.
 */
DefinitionBlock ("dsdt.aml", "DSDT", 2, "EMBER ", "EMBERVMM", 1)
{
    /* SLP_TYPa 5: what the sleep control register receives for S5. */
    Name (\_S5, Package (0x04) { 0x05, 0x05, Zero, Zero })

    Scope (\_SB)
    {
        Device (COM1)
        {
            Name (_HID, EisaId ("PNP0501"))
            Name (_UID, One)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08)
                IRQNoFlags () {4}
            })
        }

        Device (PS2K)
        {
            Name (_HID, EisaId ("PNP0303"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0060, 0x0060, 0x01, 0x01)
                IO (Decode16, 0x0064, 0x0064, 0x01, 0x01)
                IRQNoFlags () {1}
            })
        }

        /* No IRQ: ember's RTC raises no alarm or update interrupts. */
        Device (RTC)
        {
            Name (_HID, EisaId ("PNP0B00"))
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x0070, 0x0070, 0x01, 0x02)
            })
        }

        Device (PWRB)
        {
            Name (_HID, EisaId ("PNP0C0C"))
            Name (_UID, Zero)
        }

        /* The VMM pulses GSI 9 for a power-button press; _EVT gets the GSI. */
        Device (GED)
        {
            Name (_HID, "ACPI0013")
            Name (_UID, Zero)
            Name (_CRS, ResourceTemplate ()
            {
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive, ,, ) {9}
            })
            Method (_EVT, 1, Serialized)
            {
                If ((Arg0 == 9))
                {
                    Notify (PWRB, 0x80)
                }
            }
        }
    }
}

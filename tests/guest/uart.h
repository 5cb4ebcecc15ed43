/* 16550A registers and bits (National Semiconductor PC16550D data sheet). */
#ifndef GUEST_UART_H
#define GUEST_UART_H

#define COM1 0x3f8

#define UART_RBR 0 /* read, DLAB 0 */
#define UART_THR 0 /* write, DLAB 0 */
#define UART_DLL 0 /* DLAB 1 */
#define UART_IER 1 /* DLAB 0 */
#define UART_DLM 1 /* DLAB 1 */
#define UART_IIR 2 /* read */
#define UART_FCR 2 /* write */
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_SCR 7

#define UART_IER_RDI	   0x01
#define UART_IIR_FIFO_MASK 0xc0 /* both set: FIFOs enabled */
#define UART_FCR_ENABLE	   0x01
#define UART_FCR_CLEAR_RX  0x02
#define UART_FCR_CLEAR_TX  0x04
#define UART_LCR_8N1	   0x03
#define UART_LCR_DLAB	   0x80
#define UART_MCR_DTR	   0x01
#define UART_MCR_RTS	   0x02
#define UART_MCR_OUT2	   0x08 /* gates the interrupt line on PCs */
#define UART_MCR_LOOP	   0x10
#define UART_LSR_DR	   0x01
#define UART_LSR_THRE	   0x20
#define UART_LSR_TEMT	   0x40

#endif

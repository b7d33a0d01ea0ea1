// Console output on a polled UART, chosen at run time from four slots:
//   slot_console_kind  (u32)  0 none, 1 PL011 (also arm,sbsa-uart), 2 8250
//                             (16550 family), 3 Cadence (cdns,uart-r1p12,
//                             xlnx,xuartps)
//   slot_console_base  (u64)  MMIO base of the UART
//   slot_console_shift (u32)  8250 only: register n is at base + (n << shift),
//                             0..3 (device tree reg-shift)
//   slot_console_width (u32)  8250 only: 1 = byte accesses, 4 = 32-bit
//                             accesses (device tree reg-io-width)
// The UART is taken as set up (clock, baud rate, enabled) by firmware or the
// previous kernel; only the transmit path is used, and every character waits
// for room in the FIFO instead of being written blindly. The registers:
//   PL011 (Arm PL011 TRM): UARTDR at 0x00, UARTFR at 0x18, TXFF = FR bit 5.
//   8250 (Linux include/uapi/linux/serial_reg.h): THR is register 0, LSR
//     register 5, THRE = LSR bit 5.
//   Cadence (Linux drivers/tty/serial/xilinx_uartps.c, QEMU
//     hw/char/cadence_uart.c): channel status CDNS_UART_SR at 0x2c with
//     TXFULL = bit 4, the TX/RX FIFO CDNS_UART_FIFO at 0x30; 32-bit registers.
//
// Every wait is bounded: CONSOLE_POLLS status reads per character (16384; at
// 60 to 200 ns per device read, 1 to 3 ms, more than a character takes at
// 9600 baud). A UART still not ready then is taken as broken: console_off is
// set and nothing more is written to it, so a dead UART costs one bounded
// delay, never a hang. console_off is also set by vectors.S when the console
// itself faulted.
//
// All routines follow AAPCS64 and need a stack. console_putc clobbers only
// x9-x12 and the flags, so callers may keep values in x0-x8 and x13-x17.

// console_putc: writes the character in w0 (bits 7:0).
console_putc:
	ldr	w9, console_off
	cbnz	w9, console_putc_done
	ldr	w9, slot_console_kind
	ldr	x10, slot_console_base
	mov	w12, #0x4000			// CONSOLE_POLLS
	cmp	w9, #1
	b.eq	console_pl011
	cmp	w9, #2
	b.eq	console_8250
	cmp	w9, #3
	b.eq	console_cadence
console_putc_done:
	ret					// none, off, or a kind this build does not know
console_pl011:
	ldr	w11, [x10, #0x18]		// UARTFR
	tbz	w11, #5, console_pl011_put	// TXFF clear: room in the FIFO
	subs	w12, w12, #1
	b.ne	console_pl011
	b	console_timeout
console_pl011_put:
	str	w0, [x10]			// UARTDR
	ret
console_8250:
	ldr	w9, slot_console_shift
	mov	x11, #5				// LSR is register 5
	lsl	x11, x11, x9
	add	x11, x10, x11
	ldr	w9, slot_console_width
	cmp	w9, #4
	b.eq	console_8250_wide
console_8250_byte:
	ldrb	w9, [x11]
	tbnz	w9, #5, console_8250_byte_put	// LSR.THRE: transmit holding register empty
	subs	w12, w12, #1
	b.ne	console_8250_byte
	b	console_timeout
console_8250_byte_put:
	strb	w0, [x10]			// THR is register 0
	ret
console_8250_wide:				// reg-io-width 4: 32-bit accesses
	ldr	w9, [x11]
	tbnz	w9, #5, console_8250_wide_put
	subs	w12, w12, #1
	b.ne	console_8250_wide
	b	console_timeout
console_8250_wide_put:
	str	w0, [x10]
	ret
console_cadence:
	ldr	w11, [x10, #0x2c]		// CDNS_UART_SR
	tbz	w11, #4, console_cadence_put	// TXFULL clear
	subs	w12, w12, #1
	b.ne	console_cadence
	b	console_timeout
console_cadence_put:
	str	w0, [x10, #0x30]		// CDNS_UART_FIFO
	ret
console_timeout:				// the character is dropped, and every later one
	mov	w9, #1
	adr	x10, console_off
	str	w9, [x10]
	ret

// console_drain: waits until the UART has sent everything it holds, so that
// a reset right after a message does not cut it off (a reset discards the
// FIFO; QEMU's Cadence model drops what its host side had not taken yet).
// Bounded like console_putc, by CONSOLE_POLLS status reads per FIFO entry
// (64: the deepest of these FIFOs); a UART that never empties is only waited
// for, not taken as broken. Transmitter idle:
//   PL011: UARTFR.BUSY (bit 3) clear; 8250: LSR.TEMT (bit 6) set;
//   Cadence: CDNS_UART_SR.TXEMPTY (bit 3) set.
// Clobbers only x9-x12 and the flags, like console_putc.
console_drain:
	ldr	w9, console_off
	cbnz	w9, console_drain_done
	ldr	w9, slot_console_kind
	ldr	x10, slot_console_base
	mov	w12, #0x100000			// CONSOLE_POLLS x 64
	cmp	w9, #1
	b.eq	console_drain_pl011
	cmp	w9, #2
	b.eq	console_drain_8250
	cmp	w9, #3
	b.eq	console_drain_cadence
console_drain_done:
	ret
console_drain_pl011:
	ldr	w11, [x10, #0x18]		// UARTFR
	tbz	w11, #3, console_drain_done	// BUSY clear
	subs	w12, w12, #1
	b.ne	console_drain_pl011
	ret
console_drain_8250:
	ldr	w9, slot_console_shift
	mov	x11, #5				// LSR
	lsl	x11, x11, x9
	add	x10, x10, x11
	ldr	w9, slot_console_width
console_drain_8250_poll:
	cmp	w9, #4
	b.eq	console_drain_8250_wide
	ldrb	w11, [x10]
	b	console_drain_8250_test
console_drain_8250_wide:
	ldr	w11, [x10]
console_drain_8250_test:
	tbnz	w11, #6, console_drain_done	// TEMT: nothing left to send
	subs	w12, w12, #1
	b.ne	console_drain_8250_poll
	ret
console_drain_cadence:
	ldr	w11, [x10, #0x2c]		// CDNS_UART_SR
	tbnz	w11, #3, console_drain_done	// TXEMPTY
	subs	w12, w12, #1
	b.ne	console_drain_cadence
	ret

// console_puts: writes the NUL-terminated string at x0.
console_puts:
	stp	x29, x30, [sp, #-32]!
	mov	x29, sp
	str	x19, [sp, #16]
	mov	x19, x0
console_puts_next:
	ldrb	w0, [x19], #1
	cbz	w0, console_puts_done
	bl	console_putc
	b	console_puts_next
console_puts_done:
	ldr	x19, [sp, #16]
	ldp	x29, x30, [sp], #32
	ret

// console_hex: writes the low x1 hex digits (1..16) of x0, lower case, no prefix.
console_hex:
	stp	x29, x30, [sp, #-32]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	mov	x19, x0
	lsl	x20, x1, #2			// bit position just above the next digit
console_hex_next:
	sub	x20, x20, #4
	lsr	x0, x19, x20
	and	x0, x0, #0xf
	add	x9, x0, #0x30			// '0' + digit
	add	x0, x0, #0x57			// 'a' + digit - 10
	cmp	x9, #0x3a
	csel	x0, x9, x0, lo
	bl	console_putc
	cbnz	x20, console_hex_next
	ldp	x19, x20, [sp, #16]
	ldp	x29, x30, [sp], #32
	ret

// console_hexbytes: writes the x1 bytes at x0 as hex, two digits per byte.
console_hexbytes:
	stp	x29, x30, [sp, #-32]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	mov	x19, x0
	mov	x20, x1
console_hexbytes_next:
	cbz	x20, console_hexbytes_done
	ldrb	w0, [x19], #1
	mov	x1, #2
	bl	console_hex
	sub	x20, x20, #1
	b	console_hexbytes_next
console_hexbytes_done:
	ldp	x19, x20, [sp, #16]
	ldp	x29, x30, [sp], #32
	ret

// console_dec: writes x0 in decimal. The digits are built backwards in the
// frame at [sp, #32..64), enough for the 20 digits of a u64.
console_dec:
	stp	x29, x30, [sp, #-64]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	add	x19, sp, #64
	add	x20, sp, #64
	mov	x10, #10
console_dec_digit:
	udiv	x9, x0, x10
	msub	x11, x9, x10, x0		// x0 mod 10
	add	w11, w11, #0x30
	strb	w11, [x19, #-1]!
	mov	x0, x9
	cbnz	x0, console_dec_digit
console_dec_write:
	ldrb	w0, [x19], #1
	bl	console_putc
	cmp	x19, x20
	b.lo	console_dec_write
	ldp	x19, x20, [sp, #16]
	ldp	x29, x30, [sp], #64
	ret

// Console output on a polled UART, chosen at run time from three slots:
//   slot_console_kind  (u32)  0 none, 1 PL011, 2 8250/16550
//   slot_console_base  (u64)  MMIO base of the UART
//   slot_console_shift (u32)  8250 register shift: 0 = byte registers at
//                             stride 1, 2 = 32-bit registers at stride 4
//                             (device tree reg-shift = 2, reg-io-width = 4)
// The UART is taken as set up (clock, baud rate, enabled) by firmware or the
// previous kernel; only the transmit path is used, and every character waits
// for room in the FIFO instead of being written blindly.
//
// All routines follow AAPCS64 and need a stack. console_putc clobbers only
// x9-x11 and the flags, so callers may keep values in x0-x8 and x12-x17.

// console_putc: writes the character in w0 (bits 7:0).
console_putc:
	ldr	w9, slot_console_kind
	cmp	w9, #1
	b.eq	console_pl011
	cmp	w9, #2
	b.eq	console_8250
	ret					// none, or a kind this build does not know
console_pl011:
	ldr	x10, slot_console_base
console_pl011_wait:
	ldr	w11, [x10, #0x18]		// UARTFR (PL011 TRM, register summary)
	tbnz	w11, #5, console_pl011_wait	// TXFF: transmit FIFO full
	str	w0, [x10]			// UARTDR
	ret
console_8250:
	ldr	x10, slot_console_base
	ldr	w9, slot_console_shift
	mov	x11, #5				// LSR is register 5
	lsl	x11, x11, x9
	add	x11, x10, x11
	cbnz	w9, console_8250_wide
console_8250_wait:
	ldrb	w9, [x11]
	tbz	w9, #5, console_8250_wait	// LSR.THRE: transmit holding register empty
	strb	w0, [x10]			// THR is register 0
	ret
console_8250_wide:				// shifted registers take 32-bit accesses
	ldr	w9, [x11]
	tbz	w9, #5, console_8250_wide
	str	w0, [x10]
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

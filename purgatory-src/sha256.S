// SHA-256 (FIPS 180-4), plain scalar A64.
//
// Written for code that runs with the MMU and caches off: every data access
// is then Device memory, where an unaligned access faults (Arm ARM, "Alignment
// of data accesses"). So every load and store here is naturally aligned: a
// block that starts on a 4-byte boundary is read one word at a time, any other
// block one byte at a time, and the last partial block is copied byte by byte
// into an aligned buffer on the stack.
//
// sha256: hashes x1 bytes at x0 (any alignment, any length) and stores the
//   32-byte digest at x2 (4-byte aligned), in the usual big-endian byte order.
//   AAPCS64: preserves x19-x28, x29, sp; clobbers x0-x17 and the flags.
//   Stack: 480 bytes. Needs sha256_iv and sha256_k (sha256-constants.S).
//
// Registers inside sha256 and sha256_compress:
//   w0-w7    working variables a..h; ROUND renames them instead of moving values
//   w19-w26  hash state H0..H7
//   x12 data cursor, x13 bytes left, x14 digest out, x15 total length in bytes
//   x9  block pointer for sha256_compress (advanced by 64)
//   x27 cursor into sha256_k, x28 cursor into W, x8 loop counter
//   w10, w11, w16, w17 temporaries
// Frame (from sp): W[0..63] at 0..255, final-block buffer at 256..383, then
// the saved x29, x30, x19..x28.

// One round t (FIPS 180-4 §6.2.2 step 3):
//   T1 = h + Σ1(e) + Ch(e,f,g) + K[t] + W[t];  T2 = Σ0(a) + Maj(a,b,c)
//   d = d + T1;  h = T1 + T2
// after which the caller names the registers (h, a, b, c, d, e, f, g).
.macro ROUND a, b, c, d, e, f, g, h
	ldr	w16, [x27], #4			// K[t]
	ldr	w17, [x28], #4			// W[t]
	add	\h, \h, w16
	add	\h, \h, w17
	ror	w10, \e, #6
	eor	w10, w10, \e, ror #11
	eor	w10, w10, \e, ror #25		// Σ1(e)
	add	\h, \h, w10
	bic	w10, \g, \e			// ~e & g
	and	w11, \e, \f			// e & f
	orr	w10, w10, w11			// Ch(e,f,g): the two terms share no bits
	add	\h, \h, w10			// h = T1
	add	\d, \d, \h			// d = d + T1
	ror	w10, \a, #2
	eor	w10, w10, \a, ror #13
	eor	w10, w10, \a, ror #22		// Σ0(a)
	add	\h, \h, w10
	orr	w10, \a, \b
	and	w10, w10, \c			// (a | b) & c
	and	w11, \a, \b			// a & b
	orr	w10, w10, w11			// Maj(a,b,c)
	add	\h, \h, w10			// h = T1 + T2
.endm

sha256:
	stp	x29, x30, [sp, #-96]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	sub	sp, sp, #384			// W[64] and the final-block buffer
	mov	x12, x0
	mov	x13, x1
	mov	x14, x2
	mov	x15, x1
	adr	x9, sha256_iv			// H(0), FIPS 180-4 §5.3.3
	ldp	w19, w20, [x9]
	ldp	w21, w22, [x9, #8]
	ldp	w23, w24, [x9, #16]
	ldp	w25, w26, [x9, #24]

sha256_blocks:					// every whole 64-byte block, read in place
	cmp	x13, #64
	b.lo	sha256_tail
	mov	x9, x12
	bl	sha256_compress
	add	x12, x12, #64
	sub	x13, x13, #64
	b	sha256_blocks

sha256_tail:					// padding, FIPS 180-4 §5.1.1
	add	x9, sp, #256			// 128-byte buffer: room for two blocks
	mov	x10, x9
	mov	x8, #8
sha256_tail_zero:
	stp	xzr, xzr, [x10], #16
	subs	x8, x8, #1
	b.ne	sha256_tail_zero
	mov	x10, x9
	mov	x8, x13
sha256_tail_copy:				// the last 0..63 bytes, one byte at a time
	cbz	x8, sha256_tail_mark
	ldrb	w11, [x12], #1
	strb	w11, [x10], #1
	sub	x8, x8, #1
	b	sha256_tail_copy
sha256_tail_mark:
	mov	w11, #0x80			// the 1 bit after the message
	strb	w11, [x10]
	cmp	x13, #56			// 56 or more bytes left: the length goes in a second block
	mov	x10, #64
	mov	x11, #128
	csel	x10, x11, x10, hs
	add	x10, x9, x10
	lsl	x11, x15, #3			// message length in bits,
	rev	x11, x11			// big-endian, in the last 8 bytes
	stur	x11, [x10, #-8]
	bl	sha256_compress
	cmp	x13, #56
	b.lo	sha256_digest
	bl	sha256_compress			// x9 already points at the second block

sha256_digest:					// H0..H7 as big-endian words
	rev	w19, w19
	rev	w20, w20
	rev	w21, w21
	rev	w22, w22
	rev	w23, w23
	rev	w24, w24
	rev	w25, w25
	rev	w26, w26
	stp	w19, w20, [x14]
	stp	w21, w22, [x14, #8]
	stp	w23, w24, [x14, #16]
	stp	w25, w26, [x14, #24]
	add	sp, sp, #384
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret

// sha256_compress: one 64-byte block at x9 (any alignment) into w19-w26;
// x9 advances by 64. Called only from sha256 (uses its frame at sp for W).
// Clobbers w0-w7, x8, x10, x11, x16, x17, x27, x28 and the flags.
sha256_compress:
	mov	x28, sp
	mov	x8, #16
	tst	x9, #3
	b.ne	sha256_load_bytes
sha256_load_words:				// aligned block: W[t] = big-endian word t
	ldr	w10, [x9], #4
	rev	w10, w10
	str	w10, [x28], #4
	subs	x8, x8, #1
	b.ne	sha256_load_words
	b	sha256_schedule
sha256_load_bytes:				// unaligned block: four byte loads per word
	ldrb	w10, [x9], #1
	ldrb	w11, [x9], #1
	orr	w10, w11, w10, lsl #8
	ldrb	w11, [x9], #1
	orr	w10, w11, w10, lsl #8
	ldrb	w11, [x9], #1
	orr	w10, w11, w10, lsl #8
	str	w10, [x28], #4
	subs	x8, x8, #1
	b.ne	sha256_load_bytes

sha256_schedule:				// W[16..63], FIPS 180-4 §6.2.2 step 1; x28 = &W[t]
	mov	x8, #48
sha256_schedule_next:
	ldur	w10, [x28, #-8]			// W[t-2]
	ror	w16, w10, #17
	eor	w16, w16, w10, ror #19
	eor	w16, w16, w10, lsr #10		// σ1(W[t-2])
	ldur	w11, [x28, #-60]		// W[t-15]
	ror	w17, w11, #7
	eor	w17, w17, w11, ror #18
	eor	w17, w17, w11, lsr #3		// σ0(W[t-15])
	add	w16, w16, w17
	ldur	w10, [x28, #-28]		// W[t-7]
	add	w16, w16, w10
	ldur	w11, [x28, #-64]		// W[t-16]
	add	w16, w16, w11
	str	w16, [x28], #4
	subs	x8, x8, #1
	b.ne	sha256_schedule_next

	mov	w0, w19				// a..h = H0..H7
	mov	w1, w20
	mov	w2, w21
	mov	w3, w22
	mov	w4, w23
	mov	w5, w24
	mov	w6, w25
	mov	w7, w26
	adr	x27, sha256_k
	mov	x28, sp
	mov	x8, #8
sha256_rounds:					// 8 × 8 rounds
	ROUND	w0, w1, w2, w3, w4, w5, w6, w7
	ROUND	w7, w0, w1, w2, w3, w4, w5, w6
	ROUND	w6, w7, w0, w1, w2, w3, w4, w5
	ROUND	w5, w6, w7, w0, w1, w2, w3, w4
	ROUND	w4, w5, w6, w7, w0, w1, w2, w3
	ROUND	w3, w4, w5, w6, w7, w0, w1, w2
	ROUND	w2, w3, w4, w5, w6, w7, w0, w1
	ROUND	w1, w2, w3, w4, w5, w6, w7, w0
	subs	x8, x8, #1
	b.ne	sha256_rounds

	add	w19, w19, w0			// H(i) = H(i-1) + a..h
	add	w20, w20, w1
	add	w21, w21, w2
	add	w22, w22, w3
	add	w23, w23, w4
	add	w24, w24, w5
	add	w25, w25, w6
	add	w26, w26, w7
	ret

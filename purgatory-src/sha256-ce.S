// SHA-256 (FIPS 180-4) with the ARMv8 SHA-256 instructions (FEAT_SHA256:
// sha256h, sha256h2, sha256su0, sha256su1). The caller checks that the CPU
// has them (ID_AA64ISAR0_EL1.SHA2, bits [15:12], non-zero) and that FP/SIMD
// is not trapped at its exception level (entry.S, purgatory_fpsimd_on).
//
// Every load is naturally aligned, as with the MMU off (Device memory) it
// must be: whole blocks are read with ld1 from 16-byte aligned addresses. A
// message that does not start on a 16-byte boundary is read as the aligned
// 16-byte chunks that hold it, and tbl shifts each pair of chunks into place
// (the chunks lie in the pages that hold the message, so nothing else is
// touched). The last partial block is copied byte by byte into an aligned
// buffer on the stack, as in sha256.S.
//
// sha256_ce: hashes x1 bytes at x0 (any alignment, any length) and stores the
//   32-byte digest at x2 (8-byte aligned), in the usual big-endian byte order.
//   Preserves x18-x30 and sp; clobbers x0-x17, v0-v31 and the flags (the
//   purgatory keeps nothing in vector registers, so d8-d15 are not saved).
//   Stack: 128 bytes. Needs sha256_iv, sha256_k and sha256_ce_iota.
//
// Registers:
//   v0 = abcd, v1 = efgh (the hash state, one 32-bit word per lane)
//   v2 copy of abcd for sha256h2; v3 W[t..t+3] + K[t..t+3]
//   v4-v7 message schedule, four words each; v8, v9 the state at block start
//   v10 tbl indices k..k+15 and v11-v15 aligned chunks (unaligned messages)
//   v16-v31 the 64 round constants K, loaded once per call
//   x0 data cursor, x10 whole blocks left, x11 start offset mod 16,
//   x12 aligned chunk cursor, x13 bytes in the last partial block,
//   x14 set once the padding blocks are being hashed, x15 total length

// Four rounds t..t+3 (Arm ARM, SHA256H/SHA256H2): \k holds K[t..t+3], \w0
// holds W[t..t+3]. With \w1..\w3 given, \w0 then becomes W[t+16..t+19]
// (SHA256SU0/SHA256SU1, FIPS 180-4 §6.2.2 step 1).
.macro QUAD_SCHED k, w0, w1, w2, w3
	add	v3.4s, \w0\().4s, \k\().4s
	sha256su0	\w0\().4s, \w1\().4s
	mov	v2.16b, v0.16b
	sha256h	q0, q1, v3.4s
	sha256h2	q1, q2, v3.4s
	sha256su1	\w0\().4s, \w2\().4s, \w3\().4s
.endm

.macro QUAD k, w0
	add	v3.4s, \w0\().4s, \k\().4s
	mov	v2.16b, v0.16b
	sha256h	q0, q1, v3.4s
	sha256h2	q1, q2, v3.4s
.endm

// One 64-byte block, its bytes in v4-v7 in memory order, into v0/v1.
.macro BLOCK
	rev32	v4.16b, v4.16b				// message words are big-endian
	rev32	v5.16b, v5.16b
	rev32	v6.16b, v6.16b
	rev32	v7.16b, v7.16b
	mov	v8.16b, v0.16b
	mov	v9.16b, v1.16b
	QUAD_SCHED	v16, v4, v5, v6, v7
	QUAD_SCHED	v17, v5, v6, v7, v4
	QUAD_SCHED	v18, v6, v7, v4, v5
	QUAD_SCHED	v19, v7, v4, v5, v6
	QUAD_SCHED	v20, v4, v5, v6, v7
	QUAD_SCHED	v21, v5, v6, v7, v4
	QUAD_SCHED	v22, v6, v7, v4, v5
	QUAD_SCHED	v23, v7, v4, v5, v6
	QUAD_SCHED	v24, v4, v5, v6, v7
	QUAD_SCHED	v25, v5, v6, v7, v4
	QUAD_SCHED	v26, v6, v7, v4, v5
	QUAD_SCHED	v27, v7, v4, v5, v6
	QUAD	v28, v4
	QUAD	v29, v5
	QUAD	v30, v6
	QUAD	v31, v7
	add	v0.4s, v0.4s, v8.4s			// H(i) = H(i-1) + a..h
	add	v1.4s, v1.4s, v9.4s
.endm

sha256_ce:
	sub	sp, sp, #128				// the final-block buffer: room for two blocks
	adr	x9, sha256_k
	ld1	{v16.4s, v17.4s, v18.4s, v19.4s}, [x9], #64
	ld1	{v20.4s, v21.4s, v22.4s, v23.4s}, [x9], #64
	ld1	{v24.4s, v25.4s, v26.4s, v27.4s}, [x9], #64
	ld1	{v28.4s, v29.4s, v30.4s, v31.4s}, [x9]
	adr	x9, sha256_iv				// H(0), FIPS 180-4 §5.3.3
	ld1	{v0.4s, v1.4s}, [x9]
	mov	x15, x1
	lsr	x10, x1, #6
	and	x13, x1, #63
	mov	x14, #0
	ands	x11, x0, #15
	cbz	x10, sha256_ce_tail			// no whole block: read nothing but the message's bytes
	b.ne	sha256_ce_shifted_start

sha256_ce_aligned:				// the hot loop: 16-byte aligned whole blocks
	ld1	{v4.16b, v5.16b, v6.16b, v7.16b}, [x0], #64
	BLOCK
	subs	x10, x10, #1
	b.ne	sha256_ce_aligned
	b	sha256_ce_tail

sha256_ce_shifted_start:			// x11 = start mod 16, 1..15
	and	x12, x0, #0xfffffffffffffff0
	ld1	{v11.16b}, [x12], #16			// the chunk holding the first byte
	adr	x9, sha256_ce_iota
	ld1	{v10.16b}, [x9]
	dup	v3.16b, w11
	add	v10.16b, v10.16b, v3.16b		// byte k..k+15 of two chunks
sha256_ce_blocks:				// shifted whole blocks, then the padding blocks
	cbz	x10, sha256_ce_tail
	cbnz	x11, sha256_ce_shifted
	ld1	{v4.16b, v5.16b, v6.16b, v7.16b}, [x0], #64
	b	sha256_ce_block
sha256_ce_shifted:
	ld1	{v12.16b, v13.16b, v14.16b, v15.16b}, [x12], #64
	tbl	v4.16b, {v11.16b, v12.16b}, v10.16b
	tbl	v5.16b, {v12.16b, v13.16b}, v10.16b
	tbl	v6.16b, {v13.16b, v14.16b}, v10.16b
	tbl	v7.16b, {v14.16b, v15.16b}, v10.16b
	mov	v11.16b, v15.16b
	add	x0, x0, #64
sha256_ce_block:
	BLOCK
	sub	x10, x10, #1
	b	sha256_ce_blocks

sha256_ce_tail:					// padding, FIPS 180-4 §5.1.1
	cbnz	x14, sha256_ce_digest
	mov	x9, sp
	stp	xzr, xzr, [x9]
	stp	xzr, xzr, [x9, #16]
	stp	xzr, xzr, [x9, #32]
	stp	xzr, xzr, [x9, #48]
	stp	xzr, xzr, [x9, #64]
	stp	xzr, xzr, [x9, #80]
	stp	xzr, xzr, [x9, #96]
	stp	xzr, xzr, [x9, #112]
	mov	x8, x13
sha256_ce_tail_copy:				// the last 0..63 bytes, one byte at a time
	cbz	x8, sha256_ce_tail_mark
	ldrb	w16, [x0], #1
	strb	w16, [x9], #1
	sub	x8, x8, #1
	b	sha256_ce_tail_copy
sha256_ce_tail_mark:
	mov	w16, #0x80				// the 1 bit after the message
	strb	w16, [x9]
	cmp	x13, #56				// 56 or more bytes left: the length goes in a second block
	mov	x10, #1
	mov	x16, #2
	csel	x10, x16, x10, hs
	mov	x9, sp
	add	x16, x9, x10, lsl #6
	lsl	x17, x15, #3				// message length in bits,
	rev	x17, x17				// big-endian, in the last 8 bytes
	stur	x17, [x16, #-8]
	mov	x0, sp					// hash the buffer: aligned, so no shifting
	mov	x11, #0
	mov	x14, #1
	b	sha256_ce_blocks

sha256_ce_digest:				// a..h as big-endian words
	rev32	v0.16b, v0.16b
	rev32	v1.16b, v1.16b
	st1	{v0.16b, v1.16b}, [x2]
	add	sp, sp, #128
	ret

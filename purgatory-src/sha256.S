// SHA-256 (FIPS 180-4), plain scalar A64, for CPUs without the SHA-256
// instructions (sha256-ce.S). Every instruction counts here: this is the
// purgatory's slowest step on such a CPU.
//
// Written for code that runs with the MMU and caches off: every data access
// is then Device memory, where an unaligned access faults (Arm ARM, "Alignment
// of data accesses"). So every load and store here is naturally aligned. A
// message that starts on an 8-byte boundary is read eight bytes at a time
// (ldp); any other start is read as the aligned 8-byte chunks that hold it,
// and extr shifts each pair of chunks into place (the chunks lie in the pages
// that hold the message, so nothing else is touched). The last partial block
// is copied byte by byte into an aligned buffer on the stack.
//
// sha256: hashes x1 bytes at x0 (any alignment, any length) and stores the
//   32-byte digest at x2 (4-byte aligned), in the usual big-endian byte order.
//   Preserves x18-x30 and sp; clobbers x0-x17 and the flags.
//   Stack: 336 bytes. Needs sha256_iv and sha256_k (sha256-constants.S).
//
// How a block is hashed (sha256_compress, all 64 rounds written out):
// - the working variables a..h live in w0-w7, and each round renames them
//   instead of moving values (ROUND);
// - the message schedule W lives in sixteen registers, x9-x16 and x19-x26:
//   the block is loaded as eight pairs of words (x9-x16, W[2k] in the low
//   half, W[2k+1] in the high half, rev32 makes them big-endian); W[2k+1] is
//   copied into both halves once W[2k] is used up, W14 goes to x26, and each
//   new W[t] takes the register of W[t-16] (W16, W18 .. W28 take x19-x25);
// - σ0 and σ1 of a word are three instructions when the word sits in both
//   halves of a register: then ror32(x, n) is the low half of x >> n (64-bit),
//   and x >> 3, x >> 10 come from the high half. The one instruction that puts
//   a word in both halves (bfi or bfxil) pays off for the words that get both
//   σ0 and σ1 (W14..W48), and for W1, W3 .. W13, which sit in a high half;
// - the round constants are loaded four at a time (ldp of K[t..t+3] into x29,
//   x30), and added from either half of the register;
// - the working variables are only ever read 32 bits wide, so adds into them
//   may be 64-bit (leaving junk in the high half) to use a shifted operand;
// - Maj(a,b,c) = b ^ ((a ^ b) & (b ^ c)) reuses a ^ b from the round before
//   as b ^ c (w27, w28 alternate);
// - h starts each block with K0 already added: the stored H7 is H7 + K0.
//
// Registers: x0-x7 a..h; x8 data cursor; x9-x16, x19-x26 the schedule;
//   x17 temporary; x18 sha256_k; x27, x28 a ^ b of this and the last round;
//   x29, x30 four round constants.
// Frame (from sp): 0 H0..H7 (H7 + K0), 32 end of the aligned blocks (0 when
//   the start is not 8-byte aligned), 40 end of the shifted blocks (else 0),
//   48 the shifted loader, 56 digest out, 64 where the tail starts, 72 total
//   length in bytes, 80 1 once the padding is queued, 96 the padding buffer
//   (128 bytes); the saved x18-x30 above.

// One round t without "+ K[t] + W[t]" (the caller adds those to h first,
// each from the half of a register it sits in). FIPS 180-4 §6.2.2 step 3:
//   T1 = h + Σ1(e) + Ch(e,f,g) + K[t] + W[t];  T2 = Σ0(a) + Maj(a,b,c)
//   d = d + T1;  h = T1 + T2
// after which the caller names the registers (h, a, b, c, d, e, f, g).
// Arguments are register numbers; \x receives a ^ b, \y holds b ^ c.
.macro ROUND a, b, c, d, e, f, g, h, x, y
	ror	w17, w\e, #6
	eor	w17, w17, w\e, ror #11
	eor	w17, w17, w\e, ror #25
	add	w\h, w\h, w17			// + Σ1(e)
	and	w17, w\e, w\f
	add	w\h, w\h, w17
	bic	w17, w\g, w\e
	add	w\h, w\h, w17			// + Ch(e,f,g): the two terms share no bits
	add	w\d, w\d, w\h			// d = d + T1
	ror	w17, w\a, #2
	eor	w17, w17, w\a, ror #13
	eor	w17, w17, w\a, ror #22
	add	w\h, w\h, w17			// + Σ0(a)
	eor	w\x, w\a, w\b
	and	w\y, w\y, w\x
	eor	w\y, w\y, w\b
	add	w\h, w\h, w\y			// + Maj(a,b,c)
.endm

// x\r += σ0(W), FIPS 180-4 §4.1.2 (4.6): SIG0D when W is in both halves of
// x\s (x = W:W, so the low half of (x ^ x >> 11 ^ x >> 28) >> 7 is
// ror(W,7) ^ ror(W,18) ^ W >> 3), SIG0 when W is only in the low half.
.macro SIG0D r, s
	eor	x17, x\s, x\s, lsr #11
	eor	x17, x17, x\s, lsr #28
	add	x\r, x\r, x17, lsr #7
.endm

.macro SIG0 r, s
	ror	w17, w\s, #7
	eor	w17, w17, w\s, ror #18
	eor	w17, w17, w\s, lsr #3
	add	x\r, x\r, x17
.endm

// x\r += σ1(W), (4.7): ror(W,17) ^ ror(W,19) ^ W >> 10, the same two ways.
.macro SIG1D r, s
	eor	x17, x\s, x\s, lsr #2
	eor	x17, x17, x\s, lsr #25
	add	x\r, x\r, x17, lsr #17
.endm

.macro SIG1 r, s
	ror	w17, w\s, #17
	eor	w17, w17, w\s, ror #19
	eor	w17, w17, w\s, lsr #10
	add	x\r, x\r, x17
.endm

// The low half of x\r into its high half (COPY_LOW), or the high half into its
// low half (COPY_HIGH).
.macro COPY_LOW r
	bfi	x\r, x\r, #32, #32
.endm

.macro COPY_HIGH r
	bfxil	x\r, x\r, #32, #32
.endm

// Loads the next 64 bytes of a message that starts \lsb / 8 bytes past an
// 8-byte boundary into x9-x16: x8 walks the aligned chunks, and each pair of
// chunks shifted right by \lsb bits gives the eight bytes between them. The
// ninth chunk is read again as the first one of the next block. 14
// instructions, so that sha256 can compute where each copy starts.
.macro LOAD_SHIFTED lsb
	ldp	x9, x10, [x8], #16
	ldp	x11, x12, [x8], #16
	ldp	x13, x14, [x8], #16
	ldp	x15, x16, [x8], #16
	ldr	x17, [x8]
	extr	x9, x10, x9, #\lsb
	extr	x10, x11, x10, #\lsb
	extr	x11, x12, x11, #\lsb
	extr	x12, x13, x12, #\lsb
	extr	x13, x14, x13, #\lsb
	extr	x14, x15, x14, #\lsb
	extr	x15, x16, x15, #\lsb
	extr	x16, x17, x16, #\lsb
	b	sha256_compress
.endm

sha256:
	stp	x29, x30, [sp, #-112]!
	stp	x27, x28, [sp, #16]
	stp	x25, x26, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x21, x22, [sp, #64]
	stp	x19, x20, [sp, #80]
	str	x18, [sp, #96]
	sub	sp, sp, #224			// H, the loop's bounds, the padding buffer
	mov	x8, x0
	and	x9, x1, #0xffffffffffffffc0	// bytes in whole blocks
	add	x10, x0, x9			// the tail starts here
	stp	x2, x10, [sp, #56]
	stp	x1, xzr, [sp, #72]
	ands	x11, x0, #7
	b.ne	sha256_start_shifted
	stp	x10, xzr, [sp, #32]		// aligned: whole blocks end at the tail
	b	sha256_start
sha256_start_shifted:				// x11 = start mod 8, 1..7
	sub	x8, x0, x11			// the aligned chunk that holds the first byte
	add	x9, x8, x9
	stp	xzr, x9, [sp, #32]
	sub	x11, x11, #1			// sha256_load_shifted_1 + 56 * (x11 - 1)
	lsl	x12, x11, #6
	sub	x12, x12, x11, lsl #3
	adr	x10, sha256_load_shifted_1
	add	x10, x10, x12
	str	x10, [sp, #48]
sha256_start:
	adr	x18, sha256_k
	adr	x9, sha256_iv			// H(0), FIPS 180-4 §5.3.3
	ldp	w0, w1, [x9]
	ldp	w2, w3, [x9, #8]
	ldp	w4, w5, [x9, #16]
	ldp	w6, w7, [x9, #24]
	ldr	w10, [x18]
	add	w7, w7, w10			// H7 + K0
	stp	w0, w1, [sp]
	stp	w2, w3, [sp, #8]
	stp	w4, w5, [sp, #16]
	stp	w6, w7, [sp, #24]
	b	sha256_next

sha256_load_shifted_1:
	LOAD_SHIFTED	8
	LOAD_SHIFTED	16
	LOAD_SHIFTED	24
	LOAD_SHIFTED	32
	LOAD_SHIFTED	40
	LOAD_SHIFTED	48
	LOAD_SHIFTED	56

sha256_load_aligned:				// the next 64 bytes, eight at a time
	ldp	x9, x10, [x8], #16
	ldp	x11, x12, [x8], #16
	ldp	x13, x14, [x8], #16
	ldp	x15, x16, [x8], #16

// sha256_compress: the 64 bytes in x9-x16 (in memory order) into a..h and H.
sha256_compress:
	rev32	x9, x9				// W[2k] low, W[2k+1] high: big-endian words
	rev32	x10, x10
	rev32	x11, x11
	rev32	x12, x12
	rev32	x13, x13
	rev32	x14, x14
	rev32	x15, x15
	rev32	x16, x16
	lsl	x26, x16, #32			// W14 in both halves of x26,
	orr	x26, x26, x26, lsr #32
	COPY_HIGH	16			// W15 in both halves of x16: both get σ0 and σ1
	eor	w28, w1, w2			// b ^ c, for Maj in round 0
	// Round 0
	ldp	x29, x30, [x18]			// K0..K3
	add	x7, x7, x9			// h (H7 + K0) + W0
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 1
	add	x6, x6, x29, lsr #32		// h + K1
	add	x6, x6, x9, lsr #32		// + W1
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 2
	add	x5, x5, x30			// h + K2
	add	x5, x5, x10			// + W2
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 3
	add	x4, x4, x30, lsr #32		// h + K3
	add	x4, x4, x10, lsr #32		// + W3
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 4
	ldp	x29, x30, [x18, #16]		// K4..K7
	add	x3, x3, x29			// h + K4
	add	x3, x3, x11			// + W4
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 5
	add	x2, x2, x29, lsr #32		// h + K5
	add	x2, x2, x11, lsr #32		// + W5
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 6
	add	x1, x1, x30			// h + K6
	add	x1, x1, x12			// + W6
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 7
	add	x0, x0, x30, lsr #32		// h + K7
	add	x0, x0, x12, lsr #32		// + W7
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 8
	ldp	x29, x30, [x18, #32]		// K8..K11
	add	x7, x7, x29			// h + K8
	add	x7, x7, x13			// + W8
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 9
	add	x6, x6, x29, lsr #32		// h + K9
	add	x6, x6, x13, lsr #32		// + W9
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 10
	add	x5, x5, x30			// h + K10
	add	x5, x5, x14			// + W10
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 11
	add	x4, x4, x30, lsr #32		// h + K11
	add	x4, x4, x14, lsr #32		// + W11
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 12
	ldp	x29, x30, [x18, #48]		// K12..K15
	add	x3, x3, x29			// h + K12
	add	x3, x3, x15			// + W12
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 13
	add	x2, x2, x29, lsr #32		// h + K13
	add	x2, x2, x15, lsr #32		// + W13
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 14
	add	x1, x1, x30			// h + K14
	add	x1, x1, x26			// + W14
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 15
	add	x0, x0, x30, lsr #32		// h + K15
	add	x0, x0, x16			// + W15
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 16, W16 = W0 + σ0(W1) + W9 + σ1(W14)
	add	x19, x9, x13, lsr #32
	COPY_HIGH	9			// W0 is used up
	SIG0D	19, 9
	SIG1D	19, 26
	COPY_LOW	19			// for σ1 in round 18, σ0 in 31
	ldp	x29, x30, [x18, #64]		// K16..K19
	add	x7, x7, x29			// h + K16
	add	x7, x7, x19			// + W16
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 17, W17 = W1 + σ0(W2) + W10 + σ1(W15)
	add	x9, x9, x14
	SIG0	9, 10
	SIG1D	9, 16
	COPY_LOW	9			// for σ1 in round 19, σ0 in 32
	add	x6, x6, x29, lsr #32		// h + K17
	add	x6, x6, x9			// + W17
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 18, W18 = W2 + σ0(W3) + W11 + σ1(W16)
	add	x20, x10, x14, lsr #32
	COPY_HIGH	10			// W2 is used up
	SIG0D	20, 10
	SIG1D	20, 19
	COPY_LOW	20			// for σ1 in round 20, σ0 in 33
	add	x5, x5, x30			// h + K18
	add	x5, x5, x20			// + W18
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 19, W19 = W3 + σ0(W4) + W12 + σ1(W17)
	add	x10, x10, x15
	SIG0	10, 11
	SIG1D	10, 9
	COPY_LOW	10			// for σ1 in round 21, σ0 in 34
	add	x4, x4, x30, lsr #32		// h + K19
	add	x4, x4, x10			// + W19
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 20, W20 = W4 + σ0(W5) + W13 + σ1(W18)
	add	x21, x11, x15, lsr #32
	COPY_HIGH	11			// W4 is used up
	SIG0D	21, 11
	SIG1D	21, 20
	COPY_LOW	21			// for σ1 in round 22, σ0 in 35
	ldp	x29, x30, [x18, #80]		// K20..K23
	add	x3, x3, x29			// h + K20
	add	x3, x3, x21			// + W20
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 21, W21 = W5 + σ0(W6) + W14 + σ1(W19)
	add	x11, x11, x26
	SIG0	11, 12
	SIG1D	11, 10
	COPY_LOW	11			// for σ1 in round 23, σ0 in 36
	add	x2, x2, x29, lsr #32		// h + K21
	add	x2, x2, x11			// + W21
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 22, W22 = W6 + σ0(W7) + W15 + σ1(W20)
	add	x22, x12, x16
	COPY_HIGH	12			// W6 is used up
	SIG0D	22, 12
	SIG1D	22, 21
	COPY_LOW	22			// for σ1 in round 24, σ0 in 37
	add	x1, x1, x30			// h + K22
	add	x1, x1, x22			// + W22
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 23, W23 = W7 + σ0(W8) + W16 + σ1(W21)
	add	x12, x12, x19
	SIG0	12, 13
	SIG1D	12, 11
	COPY_LOW	12			// for σ1 in round 25, σ0 in 38
	add	x0, x0, x30, lsr #32		// h + K23
	add	x0, x0, x12			// + W23
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 24, W24 = W8 + σ0(W9) + W17 + σ1(W22)
	add	x23, x13, x9
	COPY_HIGH	13			// W8 is used up
	SIG0D	23, 13
	SIG1D	23, 22
	COPY_LOW	23			// for σ1 in round 26, σ0 in 39
	ldp	x29, x30, [x18, #96]		// K24..K27
	add	x7, x7, x29			// h + K24
	add	x7, x7, x23			// + W24
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 25, W25 = W9 + σ0(W10) + W18 + σ1(W23)
	add	x13, x13, x20
	SIG0	13, 14
	SIG1D	13, 12
	COPY_LOW	13			// for σ1 in round 27, σ0 in 40
	add	x6, x6, x29, lsr #32		// h + K25
	add	x6, x6, x13			// + W25
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 26, W26 = W10 + σ0(W11) + W19 + σ1(W24)
	add	x24, x14, x10
	COPY_HIGH	14			// W10 is used up
	SIG0D	24, 14
	SIG1D	24, 23
	COPY_LOW	24			// for σ1 in round 28, σ0 in 41
	add	x5, x5, x30			// h + K26
	add	x5, x5, x24			// + W26
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 27, W27 = W11 + σ0(W12) + W20 + σ1(W25)
	add	x14, x14, x21
	SIG0	14, 15
	SIG1D	14, 13
	COPY_LOW	14			// for σ1 in round 29, σ0 in 42
	add	x4, x4, x30, lsr #32		// h + K27
	add	x4, x4, x14			// + W27
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 28, W28 = W12 + σ0(W13) + W21 + σ1(W26)
	add	x25, x15, x11
	COPY_HIGH	15			// W12 is used up
	SIG0D	25, 15
	SIG1D	25, 24
	COPY_LOW	25			// for σ1 in round 30, σ0 in 43
	ldp	x29, x30, [x18, #112]		// K28..K31
	add	x3, x3, x29			// h + K28
	add	x3, x3, x25			// + W28
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 29, W29 = W13 + σ0(W14) + W22 + σ1(W27)
	add	x15, x15, x22
	SIG0D	15, 26
	SIG1D	15, 14
	COPY_LOW	15			// for σ1 in round 31, σ0 in 44
	add	x2, x2, x29, lsr #32		// h + K29
	add	x2, x2, x15			// + W29
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 30, W30 = W14 + σ0(W15) + W23 + σ1(W28)
	add	x26, x26, x12
	SIG0D	26, 16
	SIG1D	26, 25
	COPY_LOW	26			// for σ1 in round 32, σ0 in 45
	add	x1, x1, x30			// h + K30
	add	x1, x1, x26			// + W30
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 31, W31 = W15 + σ0(W16) + W24 + σ1(W29)
	add	x16, x16, x23
	SIG0D	16, 19
	SIG1D	16, 15
	COPY_LOW	16			// for σ1 in round 33, σ0 in 46
	add	x0, x0, x30, lsr #32		// h + K31
	add	x0, x0, x16			// + W31
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 32, W32 = W16 + σ0(W17) + W25 + σ1(W30)
	add	x19, x19, x13
	SIG0D	19, 9
	SIG1D	19, 26
	COPY_LOW	19			// for σ1 in round 34, σ0 in 47
	ldp	x29, x30, [x18, #128]		// K32..K35
	add	x7, x7, x29			// h + K32
	add	x7, x7, x19			// + W32
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 33, W33 = W17 + σ0(W18) + W26 + σ1(W31)
	add	x9, x9, x24
	SIG0D	9, 20
	SIG1D	9, 16
	COPY_LOW	9			// for σ1 in round 35, σ0 in 48
	add	x6, x6, x29, lsr #32		// h + K33
	add	x6, x6, x9			// + W33
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 34, W34 = W18 + σ0(W19) + W27 + σ1(W32)
	add	x20, x20, x14
	SIG0D	20, 10
	SIG1D	20, 19
	COPY_LOW	20			// for σ1 in round 36, σ0 in 49
	add	x5, x5, x30			// h + K34
	add	x5, x5, x20			// + W34
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 35, W35 = W19 + σ0(W20) + W28 + σ1(W33)
	add	x10, x10, x25
	SIG0D	10, 21
	SIG1D	10, 9
	COPY_LOW	10			// for σ1 in round 37, σ0 in 50
	add	x4, x4, x30, lsr #32		// h + K35
	add	x4, x4, x10			// + W35
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 36, W36 = W20 + σ0(W21) + W29 + σ1(W34)
	add	x21, x21, x15
	SIG0D	21, 11
	SIG1D	21, 20
	COPY_LOW	21			// for σ1 in round 38, σ0 in 51
	ldp	x29, x30, [x18, #144]		// K36..K39
	add	x3, x3, x29			// h + K36
	add	x3, x3, x21			// + W36
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 37, W37 = W21 + σ0(W22) + W30 + σ1(W35)
	add	x11, x11, x26
	SIG0D	11, 22
	SIG1D	11, 10
	COPY_LOW	11			// for σ1 in round 39, σ0 in 52
	add	x2, x2, x29, lsr #32		// h + K37
	add	x2, x2, x11			// + W37
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 38, W38 = W22 + σ0(W23) + W31 + σ1(W36)
	add	x22, x22, x16
	SIG0D	22, 12
	SIG1D	22, 21
	COPY_LOW	22			// for σ1 in round 40, σ0 in 53
	add	x1, x1, x30			// h + K38
	add	x1, x1, x22			// + W38
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 39, W39 = W23 + σ0(W24) + W32 + σ1(W37)
	add	x12, x12, x19
	SIG0D	12, 23
	SIG1D	12, 11
	COPY_LOW	12			// for σ1 in round 41, σ0 in 54
	add	x0, x0, x30, lsr #32		// h + K39
	add	x0, x0, x12			// + W39
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 40, W40 = W24 + σ0(W25) + W33 + σ1(W38)
	add	x23, x23, x9
	SIG0D	23, 13
	SIG1D	23, 22
	COPY_LOW	23			// for σ1 in round 42, σ0 in 55
	ldp	x29, x30, [x18, #160]		// K40..K43
	add	x7, x7, x29			// h + K40
	add	x7, x7, x23			// + W40
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 41, W41 = W25 + σ0(W26) + W34 + σ1(W39)
	add	x13, x13, x20
	SIG0D	13, 24
	SIG1D	13, 12
	COPY_LOW	13			// for σ1 in round 43, σ0 in 56
	add	x6, x6, x29, lsr #32		// h + K41
	add	x6, x6, x13			// + W41
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 42, W42 = W26 + σ0(W27) + W35 + σ1(W40)
	add	x24, x24, x10
	SIG0D	24, 14
	SIG1D	24, 23
	COPY_LOW	24			// for σ1 in round 44, σ0 in 57
	add	x5, x5, x30			// h + K42
	add	x5, x5, x24			// + W42
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 43, W43 = W27 + σ0(W28) + W36 + σ1(W41)
	add	x14, x14, x21
	SIG0D	14, 25
	SIG1D	14, 13
	COPY_LOW	14			// for σ1 in round 45, σ0 in 58
	add	x4, x4, x30, lsr #32		// h + K43
	add	x4, x4, x14			// + W43
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 44, W44 = W28 + σ0(W29) + W37 + σ1(W42)
	add	x25, x25, x11
	SIG0D	25, 15
	SIG1D	25, 24
	COPY_LOW	25			// for σ1 in round 46, σ0 in 59
	ldp	x29, x30, [x18, #176]		// K44..K47
	add	x3, x3, x29			// h + K44
	add	x3, x3, x25			// + W44
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 45, W45 = W29 + σ0(W30) + W38 + σ1(W43)
	add	x15, x15, x22
	SIG0D	15, 26
	SIG1D	15, 14
	COPY_LOW	15			// for σ1 in round 47, σ0 in 60
	add	x2, x2, x29, lsr #32		// h + K45
	add	x2, x2, x15			// + W45
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 46, W46 = W30 + σ0(W31) + W39 + σ1(W44)
	add	x26, x26, x12
	SIG0D	26, 16
	SIG1D	26, 25
	COPY_LOW	26			// for σ1 in round 48, σ0 in 61
	add	x1, x1, x30			// h + K46
	add	x1, x1, x26			// + W46
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 47, W47 = W31 + σ0(W32) + W40 + σ1(W45)
	add	x16, x16, x23
	SIG0D	16, 19
	SIG1D	16, 15
	COPY_LOW	16			// for σ1 in round 49
	add	x0, x0, x30, lsr #32		// h + K47
	add	x0, x0, x16			// + W47
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 48, W48 = W32 + σ0(W33) + W41 + σ1(W46)
	add	x19, x19, x13
	SIG0D	19, 9
	SIG1D	19, 26
	COPY_LOW	19			// for σ1 in round 50
	ldp	x29, x30, [x18, #192]		// K48..K51
	add	x7, x7, x29			// h + K48
	add	x7, x7, x19			// + W48
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 49, W49 = W33 + σ0(W34) + W42 + σ1(W47)
	add	x9, x9, x24
	SIG0D	9, 20
	SIG1D	9, 16
	add	x6, x6, x29, lsr #32		// h + K49
	add	x6, x6, x9			// + W49
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 50, W50 = W34 + σ0(W35) + W43 + σ1(W48)
	add	x20, x20, x14
	SIG0D	20, 10
	SIG1D	20, 19
	add	x5, x5, x30			// h + K50
	add	x5, x5, x20			// + W50
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 51, W51 = W35 + σ0(W36) + W44 + σ1(W49)
	add	x10, x10, x25
	SIG0D	10, 21
	SIG1	10, 9
	add	x4, x4, x30, lsr #32		// h + K51
	add	x4, x4, x10			// + W51
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 52, W52 = W36 + σ0(W37) + W45 + σ1(W50)
	add	x21, x21, x15
	SIG0D	21, 11
	SIG1	21, 20
	ldp	x29, x30, [x18, #208]		// K52..K55
	add	x3, x3, x29			// h + K52
	add	x3, x3, x21			// + W52
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 53, W53 = W37 + σ0(W38) + W46 + σ1(W51)
	add	x11, x11, x26
	SIG0D	11, 22
	SIG1	11, 10
	add	x2, x2, x29, lsr #32		// h + K53
	add	x2, x2, x11			// + W53
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 54, W54 = W38 + σ0(W39) + W47 + σ1(W52)
	add	x22, x22, x16
	SIG0D	22, 12
	SIG1	22, 21
	add	x1, x1, x30			// h + K54
	add	x1, x1, x22			// + W54
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 55, W55 = W39 + σ0(W40) + W48 + σ1(W53)
	add	x12, x12, x19
	SIG0D	12, 23
	SIG1	12, 11
	add	x0, x0, x30, lsr #32		// h + K55
	add	x0, x0, x12			// + W55
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	// Round 56, W56 = W40 + σ0(W41) + W49 + σ1(W54)
	add	x23, x23, x9
	SIG0D	23, 13
	SIG1	23, 22
	ldp	x29, x30, [x18, #224]		// K56..K59
	add	x7, x7, x29			// h + K56
	add	x7, x7, x23			// + W56
	ROUND	0, 1, 2, 3, 4, 5, 6, 7, 27, 28
	// Round 57, W57 = W41 + σ0(W42) + W50 + σ1(W55)
	add	x13, x13, x20
	SIG0D	13, 24
	SIG1	13, 12
	add	x6, x6, x29, lsr #32		// h + K57
	add	x6, x6, x13			// + W57
	ROUND	7, 0, 1, 2, 3, 4, 5, 6, 28, 27
	// Round 58, W58 = W42 + σ0(W43) + W51 + σ1(W56)
	add	x24, x24, x10
	SIG0D	24, 14
	SIG1	24, 23
	add	x5, x5, x30			// h + K58
	add	x5, x5, x24			// + W58
	ROUND	6, 7, 0, 1, 2, 3, 4, 5, 27, 28
	// Round 59, W59 = W43 + σ0(W44) + W52 + σ1(W57)
	add	x14, x14, x21
	SIG0D	14, 25
	SIG1	14, 13
	add	x4, x4, x30, lsr #32		// h + K59
	add	x4, x4, x14			// + W59
	ROUND	5, 6, 7, 0, 1, 2, 3, 4, 28, 27
	// Round 60, W60 = W44 + σ0(W45) + W53 + σ1(W58)
	add	x25, x25, x11
	SIG0D	25, 15
	SIG1	25, 24
	ldp	x29, x30, [x18, #240]		// K60..K63
	add	x3, x3, x29			// h + K60
	add	x3, x3, x25			// + W60
	ROUND	4, 5, 6, 7, 0, 1, 2, 3, 27, 28
	// Round 61, W61 = W45 + σ0(W46) + W54 + σ1(W59)
	add	x15, x15, x22
	SIG0D	15, 26
	SIG1	15, 14
	add	x2, x2, x29, lsr #32		// h + K61
	add	x2, x2, x15			// + W61
	ROUND	3, 4, 5, 6, 7, 0, 1, 2, 28, 27
	// Round 62, W62 = W46 + σ0(W47) + W55 + σ1(W60)
	add	x26, x26, x12
	SIG0D	26, 16
	SIG1	26, 25
	add	x1, x1, x30			// h + K62
	add	x1, x1, x26			// + W62
	ROUND	2, 3, 4, 5, 6, 7, 0, 1, 27, 28
	// Round 63, W63 = W47 + σ0(W48) + W56 + σ1(W61)
	add	x16, x16, x23
	SIG0D	16, 19
	SIG1	16, 15
	add	x0, x0, x30, lsr #32		// h + K63
	add	x0, x0, x16			// + W63
	ROUND	1, 2, 3, 4, 5, 6, 7, 0, 28, 27
	ldp	x9, x10, [sp]			// H(i) = H(i-1) + a..h
	ldp	x11, x12, [sp, #16]
	add	w0, w0, w9
	add	x1, x1, x9, lsr #32
	add	w2, w2, w10
	add	x3, x3, x10, lsr #32
	add	w4, w4, w11
	add	x5, x5, x11, lsr #32
	add	w6, w6, w12
	add	x7, x7, x12, lsr #32
	stp	w0, w1, [sp]
	stp	w2, w3, [sp, #8]
	stp	w4, w5, [sp, #16]
	stp	w6, w7, [sp, #24]

sha256_next:					// the next block: aligned, shifted, or none left
	ldr	x9, [sp, #32]
	cmp	x8, x9
	b.lo	sha256_load_aligned
	ldp	x9, x10, [sp, #40]
	cmp	x8, x9
	b.hs	sha256_blocks_done
	br	x10

sha256_blocks_done:
	ldr	x9, [sp, #80]
	cbnz	x9, sha256_digest
	add	x9, sp, #96			// padding, FIPS 180-4 §5.1.1, in a buffer
	stp	xzr, xzr, [x9]			// with room for two blocks
	stp	xzr, xzr, [x9, #16]
	stp	xzr, xzr, [x9, #32]
	stp	xzr, xzr, [x9, #48]
	stp	xzr, xzr, [x9, #64]
	stp	xzr, xzr, [x9, #80]
	stp	xzr, xzr, [x9, #96]
	stp	xzr, xzr, [x9, #112]
	ldp	x10, x11, [sp, #64]		// where the tail starts, total length
	and	x12, x11, #63
	mov	x13, x9
sha256_tail_copy:				// the last 0..63 bytes, one byte at a time
	cbz	x12, sha256_tail_mark
	ldrb	w14, [x10], #1
	strb	w14, [x13], #1
	sub	x12, x12, #1
	b	sha256_tail_copy
sha256_tail_mark:
	mov	w14, #0x80			// the 1 bit after the message
	strb	w14, [x13]
	and	x12, x11, #63
	cmp	x12, #56			// 56 or more bytes left: the length goes in a second block
	mov	x13, #64
	mov	x14, #128
	csel	x13, x14, x13, hs
	add	x13, x9, x13
	lsl	x14, x11, #3			// message length in bits,
	rev	x14, x14			// big-endian, in the last 8 bytes
	stur	x14, [x13, #-8]
	mov	x8, x9				// hash the buffer: aligned, so read in place
	stp	x13, xzr, [sp, #32]
	mov	x14, #1
	str	x14, [sp, #80]
	b	sha256_next

sha256_digest:					// H0..H7 as big-endian words
	ldr	w9, [x18]
	sub	w7, w7, w9			// H7, without K0
	rev	w0, w0
	rev	w1, w1
	rev	w2, w2
	rev	w3, w3
	rev	w4, w4
	rev	w5, w5
	rev	w6, w6
	rev	w7, w7
	ldr	x9, [sp, #56]
	stp	w0, w1, [x9]
	stp	w2, w3, [x9, #8]
	stp	w4, w5, [x9, #16]
	stp	w6, w7, [x9, #24]
	add	sp, sp, #224
	ldr	x18, [sp, #96]
	ldp	x19, x20, [sp, #80]
	ldp	x21, x22, [sp, #64]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #32]
	ldp	x27, x28, [sp, #16]
	ldp	x29, x30, [sp], #112
	ret

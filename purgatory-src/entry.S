// Purgatory entry: verify every region, then enter the kernel.
//
// In (the kexec contract, docs/kexec-contract.md §2): MMU and caches off,
// at EL2 or EL1, registers unknown. Nothing is assumed about x0..x30, sp or
// VBAR. Out: x0 = slot_dtb_addr, x1 = x2 = x3 = 0, a branch to
// slot_kernel_entry at the same exception level, MMU and caches off
// (booting.rst), DAIF masked, and every system register the purgatory changed
// (VBAR included) as it was on entry.
//
// First the purgatory's own exception vectors go in (vectors.S), so that a
// fault anywhere after is reported instead of jumping through whatever VBAR
// the previous kernel left. Then it refuses to run unless a loader patched it
// (docs/purgatory-abi.md, "Run time"): slot_patched holds "PATCHED!" and
// region_count is not 0; an unpatched blob would otherwise "verify" nothing
// and jump to address 0. A kernel_entry of 0 is a real entry on a board whose
// RAM starts at 0; patch() only writes it with a verified region there.
//
// The fast path, chosen at run time: SHA-256 with the SHA-256 instructions
// (sha256-ce.S) when ID_AA64ISAR0_EL1.SHA2 says the CPU has them, and hashing
// with the MMU and caches on (mmu.S). slot_flags turns either off: bit 0
// (FLAG_NO_MMU) keeps the MMU off, bit 1 (FLAG_NO_CRYPTO) keeps the scalar
// sha256.S. When the map cannot be built, the console says why and the
// purgatory hashes with the MMU off. SError is unmasked while regions are
// hashed (when the vectors are in), so an asynchronous abort from a read is
// reported; it is masked again before the kernel runs.
//
// The code is position-independent: slots, strings and the stack are reached
// with PC-relative adr/ldr-literal only, so the same bytes run at any
// 16-byte-aligned load address (the vectors need 2 KiB, see vectors.S).
//
// Registers kept across calls: x19 region count, x20 current region entry,
// x21 its index, x22 the SHA-256 routine, x23 1 while the MMU is on, x24 1
// while FP/SIMD is enabled for sha256_ce, x25 1 while the purgatory's vectors
// are installed. Region entries are 48 bytes: start u64, length u64,
// sha256[32].

purgatory_entry:
	msr	daifset, #0xf
	adr	x9, purgatory_stack_top		// our own stack, inside the blob
	mov	sp, x9
	mov	x23, #0
	mov	x24, #0
	adr	x9, purgatory_exceptions	// the run-time state starts clear
	str	wzr, [x9]
	adr	x9, console_off
	str	wzr, [x9]
	adr	x9, purgatory_reset_tried
	str	wzr, [x9]
	bl	purgatory_vectors_on		// x25
	ldr	w19, slot_region_count
	ldr	w9, header_region_capacity	// a count past the table would hash garbage
	cmp	w19, w9
	b.hi	purgatory_bad_count
	ldr	x9, slot_patched
	movz	x10, #0x4150			// "PATCHED!" as a little-endian u64
	movk	x10, #0x4354, lsl #16
	movk	x10, #0x4548, lsl #32
	movk	x10, #0x2144, lsl #48
	cmp	x9, x10
	b.ne	purgatory_unpatched
	cbz	w19, purgatory_unpatched	// (an entry of 0 is real where RAM starts at 0: patch() checks it)

	adr	x22, sha256			// the scalar routine, unless the CPU has better
	ldr	w9, slot_flags
	tbnz	w9, #1, purgatory_choose_mmu	// FLAG_NO_CRYPTO
	mrs	x9, id_aa64isar0_el1
	ubfx	x9, x9, #12, #4			// SHA2: 1 = SHA256H and friends, 2 = SHA-512 too
	cbz	x9, purgatory_choose_mmu
	bl	purgatory_fpsimd_on
	mov	x24, #1
	adr	x22, sha256_ce

purgatory_choose_mmu:
	ldr	w9, slot_flags
	tbnz	w9, #0, purgatory_announce	// FLAG_NO_MMU
	bl	purgatory_mmu_build
	cbz	x0, purgatory_mmu_ready
	mov	x20, x0
	adr	x0, msg_caches_off
	bl	console_puts
	mov	x0, x20
	bl	console_puts
	adr	x0, msg_newline
	bl	console_puts
	b	purgatory_announce
purgatory_mmu_ready:
	mov	x23, #1

purgatory_announce:				// "verifying N regions with <routine>, caches <on|off>"
	adr	x0, msg_verifying
	bl	console_puts
	mov	x0, x19
	bl	console_dec
	adr	x0, msg_with_scalar
	adr	x9, msg_with_ce
	cmp	x24, #0
	csel	x0, x9, x0, ne
	bl	console_puts
	adr	x0, msg_caches_off_line
	adr	x9, msg_caches_on_line
	cmp	x23, #0
	csel	x0, x9, x0, ne
	bl	console_puts
	cbz	x23, purgatory_verify_start
	bl	purgatory_mmu_on
purgatory_verify_start:
	adr	x20, slot_regions
	mov	x21, #0
	cbz	x25, purgatory_verify
	msr	daifclr, #4			// SError reaches our vectors while hashing

purgatory_verify:				// the table is sorted by start address (patch sorts it)
	cmp	x21, x19
	b.hs	purgatory_verified
	ldp	x0, x1, [x20]			// start, length
	adr	x2, purgatory_digest
	blr	x22
	adr	x9, purgatory_digest		// compare with the region's sha256, 16 bytes at a time
	ldp	x10, x11, [x9]
	ldp	x12, x13, [x20, #16]
	cmp	x10, x12
	ccmp	x11, x13, #0, eq
	b.ne	purgatory_mismatch
	ldp	x10, x11, [x9, #16]
	ldp	x12, x13, [x20, #32]
	cmp	x10, x12
	ccmp	x11, x13, #0, eq
	b.ne	purgatory_mismatch
	add	x20, x20, #48
	add	x21, x21, #1
	b	purgatory_verify

purgatory_verified:
	msr	daifset, #4			// booting.rst: DAIF masked at kernel entry
	bl	purgatory_restore
	adr	x0, msg_ok
	bl	console_puts
	ldr	x0, slot_kernel_entry
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_with_dtb
	bl	console_puts
	ldr	x0, slot_dtb_addr
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_newline
	bl	console_puts
	bl	purgatory_vectors_off		// the last change undone: VBAR as found
	ldr	x17, slot_kernel_entry
	ldr	x0, slot_dtb_addr		// booting.rst: x0 = physical address of the DTB
	mov	x1, xzr				// x1..x3 = 0 (reserved for future use)
	mov	x2, xzr
	mov	x3, xzr
	br	x17

// purgatory_restore: undoes the fast path's CPU changes (MMU and caches off,
//   FP/SIMD trap control as found). Called before the kernel runs and before
//   a mismatch is reported. Preserves x19-x22; clears x23 and x24.
purgatory_restore:
	stp	x29, x30, [sp, #-16]!
	mov	x29, sp
	cbz	x23, purgatory_restore_fp
	bl	purgatory_mmu_off
	mov	x23, #0
purgatory_restore_fp:
	cbz	x24, purgatory_restore_done
	bl	purgatory_fpsimd_off
	mov	x24, #0
purgatory_restore_done:
	ldp	x29, x30, [sp], #16
	ret

// purgatory_fpsimd_on: lets this EL use FP/SIMD (sha256_ce needs it), saving
//   the trap control as found in purgatory_saved. EL1: CPACR_EL1.FPEN = 0b11.
//   EL2: CPTR_EL2.TFP = 0, or CPTR_EL2.FPEN = 0b11 when HCR_EL2.E2H gives it
//   the CPACR layout. EL3: CPTR_EL3.TFP = 0. Leaf; clobbers x9-x11.
// purgatory_fpsimd_off: writes the saved value back. Leaf; clobbers x9-x10.
purgatory_fpsimd_on:
	adr	x10, purgatory_saved
	mrs	x9, CurrentEL
	cmp	x9, #8
	b.eq	purgatory_fpsimd_on_el2
	b.hi	purgatory_fpsimd_on_el3
	mrs	x11, cpacr_el1
	str	x11, [x10]
	orr	x11, x11, #0x300000
	msr	cpacr_el1, x11
	isb
	ret
purgatory_fpsimd_on_el2:
	mrs	x11, cptr_el2
	str	x11, [x10]
	mrs	x9, hcr_el2
	tbnz	x9, #34, purgatory_fpsimd_on_vhe
	and	x11, x11, #0xfffffffffffffbff	// TFP, bit 10
	b	purgatory_fpsimd_on_el2_write
purgatory_fpsimd_on_vhe:
	orr	x11, x11, #0x300000
purgatory_fpsimd_on_el2_write:
	msr	cptr_el2, x11
	isb
	ret
purgatory_fpsimd_on_el3:
	mrs	x11, cptr_el3
	str	x11, [x10]
	and	x11, x11, #0xfffffffffffffbff	// TFP, bit 10
	msr	cptr_el3, x11
	isb
	ret

purgatory_fpsimd_off:
	ldr	x10, purgatory_saved
	mrs	x9, CurrentEL
	cmp	x9, #8
	b.eq	purgatory_fpsimd_off_el2
	b.hi	purgatory_fpsimd_off_el3
	msr	cpacr_el1, x10
	isb
	ret
purgatory_fpsimd_off_el2:
	msr	cptr_el2, x10
	isb
	ret
purgatory_fpsimd_off_el3:
	msr	cptr_el3, x10
	isb
	ret

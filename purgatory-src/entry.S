// Purgatory entry: verify every region, then enter the kernel.
//
// In (the kexec contract, reference/kexec-arm64.md §6.2): MMU and caches off,
// at EL2 or EL1, registers unknown. Nothing is assumed about x0..x30 or sp.
// Out: x0 = slot_dtb_addr, x1 = x2 = x3 = 0, a branch to slot_kernel_entry at
// the same exception level, MMU and caches still off (booting.rst). DAIF is
// masked first, as booting.rst wants it at kernel entry.
//
// The code is position-independent: slots, strings and the stack are reached
// with PC-relative adr/ldr-literal only, so the same bytes run at any
// 16-byte-aligned load address.
//
// Registers kept across calls: x19 region count, x20 current region entry,
// x21 its index. Region entries are 48 bytes: start u64, length u64, sha256[32].
purgatory_entry:
	msr	daifset, #0xf
	adr	x9, purgatory_stack_top		// our own stack, inside the blob
	mov	sp, x9
	ldr	w19, slot_region_count
	adr	x0, msg_verifying
	bl	console_puts
	mov	x0, x19
	bl	console_dec
	adr	x0, msg_regions
	bl	console_puts
	ldr	w9, header_region_capacity	// a count past the table would hash garbage
	cmp	w19, w9
	b.hi	purgatory_bad_count
	adr	x20, slot_regions
	mov	x21, #0

purgatory_verify:				// the table is sorted by start address (patch sorts it)
	cmp	x21, x19
	b.hs	purgatory_verified
	ldp	x0, x1, [x20]			// start, length
	adr	x2, purgatory_digest
	bl	sha256
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
	ldr	x17, slot_kernel_entry
	ldr	x0, slot_dtb_addr		// booting.rst: x0 = physical address of the DTB
	mov	x1, xzr				// x1..x3 = 0 (reserved for future use)
	mov	x2, xzr
	mov	x3, xzr
	br	x17

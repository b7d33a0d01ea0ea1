// Failure handling: report on the console, then apply slot_policy.
//
// purgatory_mismatch: x20 = the failing region entry, x21 its index,
//   purgatory_digest = the digest computed. Turns the MMU and caches off
//   first (the console and the PSCI call then run as on the slow path),
//   prints which region failed and both digests, then fails.
// purgatory_bad_count: x19 = the region count that exceeds the table.
// purgatory_unpatched: no loader filled the slots (slot_patched is not
//   "PATCHED!", or kernel_entry or region_count is 0): there is nothing to
//   verify and nowhere to go, so the purgatory refuses instead of entering
//   address 0.
// purgatory_fail: applies the policy; never returns, never enters the kernel.
//   Also the end of every exception vectors.S reports.
//   0 spin:  a wfi loop forever (DAIF is masked, so nothing runs).
//   1 reset: PSCI SYSTEM_RESET (0x84000009, PSCI 1.1 DEN0022 §5.1.9) through
//            the conduit in slot_psci, as the device tree's /psci `method`
//            names it (Documentation/devicetree/bindings/arm/psci.yaml):
//            1 HVC, 2 SMC, 3 by exception level (SMC at EL2, where an HVC
//            would trap to EL2 itself; HVC at EL1: QEMU virt without and with
//            virtualization=on, and KVM guests). A conduit that cannot leave
//            the current EL (none, HVC at EL2 or above, SMC at EL3) cannot
//            reset: the purgatory says so and spins. So it does if the call
//            returns, or faults (the exception report comes first; a second
//            attempt is never made: purgatory_reset_tried).
purgatory_mismatch:
	bl	purgatory_restore
	adr	x0, msg_region
	bl	console_puts
	mov	x0, x21
	bl	console_dec
	adr	x0, msg_at
	bl	console_puts
	ldr	x0, [x20]
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_length
	bl	console_puts
	ldr	x0, [x20, #8]
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_mismatch
	bl	console_puts
	add	x0, x20, #16
	mov	x1, #32
	bl	console_hexbytes
	adr	x0, msg_actual
	bl	console_puts
	adr	x0, purgatory_digest
	mov	x1, #32
	bl	console_hexbytes
	adr	x0, msg_newline
	bl	console_puts
	b	purgatory_fail

purgatory_bad_count:
	adr	x0, msg_bad_count
	bl	console_puts
	mov	x0, x19
	bl	console_dec
	adr	x0, msg_newline
	bl	console_puts
	b	purgatory_fail

purgatory_unpatched:
	adr	x0, msg_unpatched
	bl	console_puts

purgatory_fail:
	ldr	w9, slot_policy
	cmp	w9, #1
	b.ne	purgatory_spin
	ldr	w9, purgatory_reset_tried
	cbnz	w9, purgatory_spin
	mrs	x10, CurrentEL
	ubfx	x10, x10, #2, #2
	ldr	w13, slot_psci			// w13: the conduit (console_puts keeps x13)
	cmp	w13, #3				// by EL: SMC at EL2 and up, HVC below
	b.ne	purgatory_reset_conduit
	mov	w13, #1
	cmp	x10, #2
	cinc	w13, w13, hs
purgatory_reset_conduit:
	cmp	w13, #1
	ccmp	x10, #1, #0, eq			// HVC leaves EL1 only
	b.eq	purgatory_reset_call
	cmp	w13, #2
	ccmp	x10, #2, #2, eq			// SMC leaves EL1 and EL2 (ls: EL <= 2)
	b.ls	purgatory_reset_call
	adr	x0, msg_no_psci
	bl	console_puts
	b	purgatory_spin
purgatory_reset_call:
	adr	x0, msg_reset
	bl	console_puts
	bl	console_drain			// the whole message out before the reset
	mov	w9, #1				// after the message: a console fault in it
	adr	x10, purgatory_reset_tried	// still ends in a reset (vectors.S)
	str	w9, [x10]
	movz	w0, #0x8400, lsl #16
	movk	w0, #0x0009			// PSCI SYSTEM_RESET
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	cmp	w13, #2
	b.eq	purgatory_reset_smc
	hvc	#0
	b	purgatory_spin
purgatory_reset_smc:
	smc	#0
purgatory_spin:
	adr	x0, msg_halt
	bl	console_puts
purgatory_spin_wait:
	wfi
	b	purgatory_spin_wait

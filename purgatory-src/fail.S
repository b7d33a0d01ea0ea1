// Failure handling: report on the console, then apply slot_policy.
//
// purgatory_mismatch: x20 = the failing region entry, x21 its index,
//   purgatory_digest = the digest computed. Turns the MMU and caches off
//   first (the console and the PSCI call then run as on the slow path),
//   prints which region failed and both digests, then fails.
// purgatory_bad_count: x19 = the region count that exceeds the table.
// purgatory_fail: applies the policy; never returns, never enters the kernel.
//   0 spin:  a wfi loop forever (DAIF is masked, so nothing runs).
//   1 reset: PSCI SYSTEM_RESET (0x84000009, PSCI 1.1 DEN0022 §5.1.9). The
//            conduit follows CurrentEL: SMC at EL2 (an HVC there would trap to
//            EL2 itself), HVC at EL1. This is what QEMU virt uses (HVC without
//            virtualization, SMC with virtualization=on) and what a KVM guest
//            uses; a board whose DT /psci says otherwise at EL1 needs spin.
//            If the call returns, the purgatory spins.
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

purgatory_fail:
	ldr	w9, slot_policy
	cmp	w9, #1
	b.ne	purgatory_spin
	adr	x0, msg_reset
	bl	console_puts
	movz	w0, #0x8400, lsl #16
	movk	w0, #0x0009			// PSCI SYSTEM_RESET
	mov	x1, xzr
	mov	x2, xzr
	mov	x3, xzr
	mrs	x9, CurrentEL
	cmp	x9, #8				// CurrentEL.EL (bits 3:2) >= 2
	b.hs	purgatory_reset_smc
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

// Exception vectors: while the purgatory runs, VBAR of its exception level
// points here, so that any exception is reported on the console and ends in
// the failure policy (fail.S) instead of running whatever the previous
// kernel's VBAR pointed at (its vectors may be gone, and with the MMU off
// they are not even at their virtual addresses).
//
// The table (Arm ARM D1.10.2, "Exception vectors"): 16 entries of 128 bytes,
// 2 KiB aligned (VBAR_ELx bits [10:0] are RES0). The blob is assembled at a
// page-aligned address, so the table is 2 KiB aligned at run time whenever
// the load address is; kexec segments are page-aligned
// (kernel/kexec_core.c sanity_check_segment_list). Loaded elsewhere, the
// purgatory says so and runs without its vectors.
//
// purgatory_vectors_on: saves VBAR of the current EL (1, 2 or 3) in
//   purgatory_vbar and points it at the table; x25 = 1, or 0 when the table
//   is not 2 KiB aligned here. Clobbers x0-x12.
// purgatory_vectors_off: puts the saved VBAR back when x25 = 1; x25 = 0.
//   Leaf; clobbers x9-x10.
purgatory_vectors_on:
	mov	x25, #0
	adr	x9, purgatory_vectors
	tst	x9, #0x7ff
	b.ne	purgatory_vectors_misplaced
	adr	x10, purgatory_vbar
	mrs	x11, CurrentEL
	cmp	x11, #8
	b.eq	purgatory_vectors_on_el2
	b.hi	purgatory_vectors_on_el3
	mrs	x12, vbar_el1
	str	x12, [x10]
	msr	vbar_el1, x9
	b	purgatory_vectors_on_done
purgatory_vectors_on_el2:
	mrs	x12, vbar_el2
	str	x12, [x10]
	msr	vbar_el2, x9
	b	purgatory_vectors_on_done
purgatory_vectors_on_el3:
	mrs	x12, vbar_el3
	str	x12, [x10]
	msr	vbar_el3, x9
purgatory_vectors_on_done:
	isb
	mov	x25, #1
	ret
purgatory_vectors_misplaced:
	adr	x0, msg_no_vectors
	b	console_puts			// a tail call: returns to our caller

purgatory_vectors_off:
	cbz	x25, purgatory_vectors_off_done
	ldr	x10, purgatory_vbar
	mrs	x9, CurrentEL
	cmp	x9, #8
	b.eq	purgatory_vectors_off_el2
	b.hi	purgatory_vectors_off_el3
	msr	vbar_el1, x10
	b	purgatory_vectors_off_isb
purgatory_vectors_off_el2:
	msr	vbar_el2, x10
	b	purgatory_vectors_off_isb
purgatory_vectors_off_el3:
	msr	vbar_el3, x10
purgatory_vectors_off_isb:
	isb
	mov	x25, #0
purgatory_vectors_off_done:
	ret

// purgatory_exception: every entry comes here with x0 = 0 synchronous,
//   1 IRQ, 2 FIQ, 3 SError (nothing runs below the purgatory's EL, so only
//   the "current EL" entries are ever taken; IRQ and FIQ stay masked). The
//   registers of the code that faulted are not needed: ESR, FAR and ELR say
//   what happened, and nothing returns there. The stack is taken afresh (the
//   faulting code's sp may be what went wrong). DAIF is masked by the
//   exception itself.
//   The first exception turns the MMU and caches off if the purgatory turned
//   them on (SCTLR_ELx.M; kexec enters with it clear), prints
//     purgatory: <kind> exception at EL<n>: EC 0x<ec>, ESR 0x<esr>,
//       FAR 0x<far>, ELR 0x<elr> [(purgatory+0x<offset>)]
//   on one line, and applies the policy. A second exception means the report
//   or the reset itself faulted: the console is taken as broken (console_off)
//   and the policy applied again without it (a reset already tried ends in
//   a spin). A third spins at once, silently.
purgatory_exception:
	adr	x9, purgatory_stack_top
	mov	sp, x9
	mov	x19, x0
	adr	x9, purgatory_exceptions
	ldr	w10, [x9]
	add	w10, w10, #1
	str	w10, [x9]
	cmp	w10, #2
	b.hi	purgatory_spin_wait
	b.lo	purgatory_exception_first
	mov	w10, #1
	adr	x9, console_off
	str	w10, [x9]
	b	purgatory_fail
purgatory_exception_first:
	bl	purgatory_caches_off_if_on
	mrs	x20, CurrentEL
	ubfx	x20, x20, #2, #2
	cmp	x20, #2
	b.eq	purgatory_exception_el2
	b.hi	purgatory_exception_el3
	mrs	x21, esr_el1
	mrs	x22, far_el1
	mrs	x23, elr_el1
	b	purgatory_exception_report
purgatory_exception_el2:
	mrs	x21, esr_el2
	mrs	x22, far_el2
	mrs	x23, elr_el2
	b	purgatory_exception_report
purgatory_exception_el3:
	mrs	x21, esr_el3
	mrs	x22, far_el3
	mrs	x23, elr_el3
purgatory_exception_report:
	adr	x0, msg_exception
	bl	console_puts
	adr	x0, msg_kind_sync		// the kind names are 16 bytes apart (messages.S)
	add	x0, x0, x19, lsl #4
	bl	console_puts
	adr	x0, msg_exception_at
	bl	console_puts
	mov	x0, x20
	bl	console_dec
	adr	x0, msg_exception_ec
	bl	console_puts
	ubfx	x0, x21, #26, #6		// ESR_ELx.EC, bits [31:26]
	mov	x1, #2
	bl	console_hex
	adr	x0, msg_exception_esr
	bl	console_puts
	mov	x0, x21
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_exception_far
	bl	console_puts
	mov	x0, x22
	mov	x1, #16
	bl	console_hex
	adr	x0, msg_exception_elr
	bl	console_puts
	mov	x0, x23
	mov	x1, #16
	bl	console_hex
	adr	x9, purgatory_start		// inside the purgatory: its offset too
	sub	x24, x23, x9
	ldr	w10, header_mem_size
	cmp	x24, x10
	b.hs	purgatory_exception_done
	adr	x0, msg_exception_offset
	bl	console_puts
	mov	x0, x24
	clz	x9, x24				// as many hex digits as the offset needs
	mov	x10, #67
	sub	x1, x10, x9
	lsr	x1, x1, #2
	cmp	x1, #0
	csinc	x1, x1, xzr, ne
	bl	console_hex
	adr	x0, msg_exception_offset_end
	bl	console_puts
purgatory_exception_done:
	adr	x0, msg_newline
	bl	console_puts
	b	purgatory_fail

// purgatory_caches_off_if_on: purgatory_mmu_off when SCTLR_ELx.M is set at
//   EL1 or EL2 (the purgatory's map is then in use), else nothing.
//   Clobbers x0-x17.
purgatory_caches_off_if_on:
	mrs	x9, CurrentEL
	cmp	x9, #4
	b.eq	purgatory_caches_off_el1
	cmp	x9, #8
	b.ne	purgatory_caches_off_none
	mrs	x10, sctlr_el2
	tbnz	w10, #0, purgatory_mmu_off	// a tail call: mmu_off returns to our caller
	ret
purgatory_caches_off_el1:
	mrs	x10, sctlr_el1
	tbnz	w10, #0, purgatory_mmu_off
purgatory_caches_off_none:
	ret

	.balign	2048
purgatory_vectors:
	mov	x0, #0				// current EL with SP_EL0: synchronous
	b	purgatory_exception
	.balign	128
	mov	x0, #1				// IRQ
	b	purgatory_exception
	.balign	128
	mov	x0, #2				// FIQ
	b	purgatory_exception
	.balign	128
	mov	x0, #3				// SError
	b	purgatory_exception
	.balign	128
	mov	x0, #0				// current EL with SP_ELx
	b	purgatory_exception
	.balign	128
	mov	x0, #1
	b	purgatory_exception
	.balign	128
	mov	x0, #2
	b	purgatory_exception
	.balign	128
	mov	x0, #3
	b	purgatory_exception
	.balign	128
	mov	x0, #0				// lower EL, AArch64 (nothing runs there)
	b	purgatory_exception
	.balign	128
	mov	x0, #1
	b	purgatory_exception
	.balign	128
	mov	x0, #2
	b	purgatory_exception
	.balign	128
	mov	x0, #3
	b	purgatory_exception
	.balign	128
	mov	x0, #0				// lower EL, AArch32
	b	purgatory_exception
	.balign	128
	mov	x0, #1
	b	purgatory_exception
	.balign	128
	mov	x0, #2
	b	purgatory_exception
	.balign	128
	mov	x0, #3
	b	purgatory_exception
	.balign	128

// Caches on while hashing: an identity map in the purgatory's own memory,
// the MMU and caches turned on with the registers of the current exception
// level, and everything put back before the kernel runs.
//
// The map (Arm ARM D8, VMSAv8-64; 4 KiB granule, 48-bit addresses, walks
// from level 0): the purgatory's memory (the blob and its page-table pool,
// header mem_size bytes from purgatory_start) is Normal write-back and
// executable; every region of the table is Normal write-back and
// execute-never; the rest of each 512 GiB span they touch is Device-nGnRnE,
// execute-never, in 1 GiB blocks; other spans are not mapped. Ranges are
// rounded out to 4 KiB pages; whole 2 MiB and 1 GiB blocks inside a range are
// block mappings, only its ragged ends take page tables. Nothing of another
// kind shares a page with a region: kexec segments are page-aligned
// (kernel/kexec_core.c sanity_check_segment_list), and so a neighbour that is
// not RAM (firmware, secure memory) never becomes cacheable.
//
// At EL2 with HCR_EL2.E2H = 1 (VHE, as a kernel that runs its host at EL2
// leaves it: arch/arm64/kernel/hyp-stub.S, HCR_HOST_VHE_FLAGS in
// arch/arm64/include/asm/kvm_arm.h) the EL2 translation regime is EL2&0: it
// has two VA ranges, TCR_EL2 takes TCR_EL1's layout (T1SZ, EPD1, IPS at bit
// 32) and descriptors take the EL1 permission bits (AP[1], PXN and UXN) (Arm
// ARM D8.2, "The VMSAv8-64 translation regimes"). The map is then built
// exactly as at EL1, and loaded through the EL2 registers (SCTLR_EL2,
// TCR_EL2, MAIR_EL2, TTBR0_EL2; TTBR1_EL2 is left alone, EPD1 stops walks
// through it); TLBI ALLE2 covers the EL2&0 regime.
//
// The pool must lie inside the purgatory's segment: when slot_segment_memsz
// (the memsz the loader gave the segment) is smaller than header mem_size,
// the tables would be written over memory nobody gave us, so the MMU stays
// off and the console says why.
//
// The tables come from the pool: whole 4 KiB pages from the first page
// boundary after the blob to purgatory_start + mem_size. Every table is
// written in full, so nothing relies on the loader zeroing memory. When the
// map cannot be built, the purgatory hashes with the MMU off and says why.
//
// MAIR: Attr0 = 0x00 Device-nGnRnE, Attr1 = 0xff Normal, inner and outer
// write-back, read- and write-allocate. Leaf attributes: Normal = 0x704 (AF,
// SH inner shareable, AttrIndx 1), Device = 0x400 (AF, AttrIndx 0), plus the
// regime's AP and execute-never bits. SCTLR_ELx bits set: 0x1005 = M (MMU),
// C (data cache), I (instruction cache).

// purgatory_mmu_build: builds the map in the pool and records the TCR and
//   TTBR0 values in purgatory_mmu. Returns x0 = 0, or the address of a
//   message saying why the MMU stays off. Runs with the MMU off.
//   AAPCS64; clobbers x0-x17.
//
// Registers: x19 level-0 table, x20 next free pool page, x21 pool end,
//   x22 AP bits and x23 execute-never bits of the current regime, x24 first
//   address past the physical address range, x25 region entry, x26 regions
//   left, x27 purgatory_start, x28 its memory end.
purgatory_mmu_build:
	stp	x29, x30, [sp, #-96]!
	mov	x29, sp
	stp	x19, x20, [sp, #16]
	stp	x21, x22, [sp, #32]
	stp	x23, x24, [sp, #48]
	stp	x25, x26, [sp, #64]
	stp	x27, x28, [sp, #80]
	adr	x0, msg_mmu_memsz		// the pool must lie in memory the loader gave us
	ldr	x9, slot_segment_memsz
	ldr	w10, header_mem_size
	cmp	x9, x10
	b.lo	mmu_build_done
	mrs	x9, CurrentEL
	ubfx	x9, x9, #2, #2
	cmp	x9, #1
	b.eq	mmu_build_el1
	adr	x0, msg_mmu_el
	cmp	x9, #2
	b.ne	mmu_build_done
	mrs	x10, hcr_el2
	tbnz	x10, #34, mmu_build_el1		// HCR_EL2.E2H: the EL2&0 regime, built as EL1's
	mov	x22, #0x40			// AP[1] is RES1 in a one-EL regime (Arm ARM D8.4)
	movz	x23, #0x40, lsl #48		// XN, bit 54 (bit 53 is RES0 at EL2)
	movz	x13, #0x8080, lsl #16		// TCR_EL2: RES1 bits 31 and 23,
	movk	x13, #0x3510			// T0SZ 16, walks inner/outer WB, inner shareable, TG0 4 KiB
	mov	x14, #16			// PS at bit 16
	b	mmu_build_granule
mmu_build_el1:					// EL1, or EL2 with E2H (VHE): the two-range layout
	mov	x22, #0				// AP[2:1] = 00: EL1 read/write; EL0-writable would imply PXN
	movz	x23, #0x60, lsl #48		// UXN and PXN, bits 54 and 53
	movz	x13, #0x80, lsl #16		// TCR_EL1 (or TCR_EL2 with E2H): EPD1 (no TTBR1 walks),
	movk	x13, #0x3510			// T0SZ 16, walks inner/outer WB, inner shareable, TG0 4 KiB
	mov	x14, #32			// IPS at bit 32

mmu_build_granule:
	mrs	x10, id_aa64mmfr0_el1
	ubfx	x11, x10, #28, #4		// TGran4: 0b1111 means no 4 KiB granule
	adr	x0, msg_mmu_granule
	cmp	x11, #0xf
	b.eq	mmu_build_done
	and	x11, x10, #0xf			// PARange, capped at 48 bits (0b0101): 52-bit
	mov	x12, #5				// output addresses would need FEAT_LPA2
	cmp	x11, x12
	csel	x11, x11, x12, ls
	lsl	x12, x11, x14
	orr	x13, x13, x12			// TCR.IPS / TCR.PS
	adr	x12, mmu_pa_bits
	ldrb	w12, [x12, x11]
	mov	x24, #1
	lsl	x24, x24, x12
	adr	x9, purgatory_mmu
	str	x13, [x9]			// the TCR for purgatory_mmu_on

	adr	x27, purgatory_start
	ldr	w9, header_mem_size
	add	x28, x27, x9
	adr	x0, msg_mmu_range
	cmp	x28, x24
	b.hi	mmu_build_done
	ldr	w26, slot_region_count		// every region inside the physical range and
	adr	x25, slot_regions		// apart from the purgatory's memory
mmu_build_check:
	cbz	x26, mmu_build_pool
	ldp	x9, x10, [x25], #48
	sub	x26, x26, #1
	cbz	x10, mmu_build_check
	add	x10, x9, x10
	adr	x0, msg_mmu_range
	cmp	x10, x24
	b.hi	mmu_build_done
	cmp	x9, x28
	ccmp	x27, x10, #2, lo		// start < memory end and purgatory_start < end: overlap
	adr	x0, msg_mmu_overlap
	b.lo	mmu_build_done
	b	mmu_build_check

mmu_build_pool:
	adr	x20, purgatory_end
	add	x20, x20, #0xfff
	and	x20, x20, #0xfffffffffffff000
	and	x21, x28, #0xfffffffffffff000
	adr	x0, msg_mmu_pool
	add	x19, x20, #1, lsl #12		// the level-0 table: all entries invalid
	cmp	x19, x21
	b.hi	mmu_build_done
	mov	x9, x20
	mov	x20, x19
	mov	x19, x9
	mov	x10, #256
mmu_build_l0:
	stp	xzr, xzr, [x9], #16
	subs	x10, x10, #1
	b.ne	mmu_build_l0

	ldr	w26, slot_region_count		// regions first, so the purgatory's own
	adr	x25, slot_regions		// executable pages win any page they share
mmu_build_regions:
	cbz	x26, mmu_build_self
	ldp	x0, x1, [x25], #48
	sub	x26, x26, #1
	cbz	x1, mmu_build_regions
	add	x1, x0, x1
	and	x0, x0, #0xfffffffffffff000
	add	x1, x1, #0xfff
	and	x1, x1, #0xfffffffffffff000
	mov	x2, #0x704			// Normal
	orr	x2, x2, x22
	orr	x2, x2, x23
	bl	mmu_map
	cbnz	x0, mmu_build_full
	b	mmu_build_regions
mmu_build_self:
	and	x0, x27, #0xfffffffffffff000
	add	x1, x28, #0xfff
	and	x1, x1, #0xfffffffffffff000
	mov	x2, #0x704			// Normal
	orr	x2, x2, x22
	bl	mmu_map
	cbnz	x0, mmu_build_full
	adr	x9, purgatory_mmu
	str	x19, [x9, #8]			// the TTBR0 for purgatory_mmu_on
	mov	x0, #0
	b	mmu_build_done
mmu_build_full:
	adr	x0, msg_mmu_pool
mmu_build_done:
	ldp	x19, x20, [sp, #16]
	ldp	x21, x22, [sp, #32]
	ldp	x23, x24, [sp, #48]
	ldp	x25, x26, [sp, #64]
	ldp	x27, x28, [sp, #80]
	ldp	x29, x30, [sp], #96
	ret

// mmu_map: maps [x0, x1) (4 KiB aligned) with the leaf attributes x2, using
//   the tables from x19 and the pool x20..x21 (advancing x20), with x22/x23
//   the regime's AP and execute-never bits. Each step takes the largest
//   block that starts at x0 and fits: a 1 GiB block at level 1, 2 MiB at
//   level 2, a page at level 3. An entry on the way that is still a block
//   becomes a table of 512 entries with the block's attributes, so what it
//   mapped stays mapped; an empty level-0 entry becomes a table of Device
//   1 GiB blocks. Returns x0 = 0, or 1 when the pool is used up.
//   Leaf; clobbers x0-x12.
mmu_map:
	cmp	x0, x1
	b.hs	mmu_map_done
	mov	x3, x19				// the table walked
	mov	x4, #39				// its index shift: level 0
mmu_map_walk:
	lsr	x5, x0, x4
	and	x5, x5, #511
	add	x5, x3, x5, lsl #3		// the entry for x0
	mov	x6, #1
	lsl	x6, x6, x4			// bytes one entry maps
	cmp	x4, #30
	b.hi	mmu_map_down			// level 0 holds tables only
	sub	x7, x6, #1
	tst	x0, x7
	b.ne	mmu_map_down
	sub	x7, x1, x0
	cmp	x7, x6
	b.lo	mmu_map_down
	orr	x7, x2, x0			// a leaf for the whole entry
	orr	x7, x7, #1			// bits[1:0] = 01: block
	cmp	x4, #12
	b.ne	mmu_map_leaf
	orr	x7, x7, #2			// = 11: page, at level 3
mmu_map_leaf:
	str	x7, [x5]
	add	x0, x0, x6
	b	mmu_map
mmu_map_down:
	ldr	x7, [x5]
	and	x8, x7, #3
	cmp	x8, #3
	b.ne	mmu_map_split
	and	x3, x7, #0xfffffffff000		// a table already: its address, bits [47:12]
	sub	x4, x4, #9
	b	mmu_map_walk
mmu_map_split:
	add	x8, x20, #1, lsl #12
	cmp	x8, x21
	b.hi	mmu_map_full
	mov	x9, x20				// the new table
	mov	x20, x8
	tbnz	w7, #0, mmu_map_parts
	and	x7, x0, #0xffffff8000000000	// an empty level-0 entry: as if a Device
	mov	x8, #0x400			// block covered its 512 GiB
	orr	x7, x7, x8
	orr	x7, x7, x22
	orr	x7, x7, x23
mmu_map_parts:
	sub	x4, x4, #9			// the new table's level
	mov	x6, #1
	lsl	x6, x6, x4			// bytes per entry
	and	x8, x7, #0xfffffffff000		// the block's address
	and	x10, x7, #0xffff000000000fff	// its attributes
	and	x10, x10, #0xfffffffffffffffc
	orr	x10, x10, x8
	orr	x10, x10, #1
	cmp	x4, #12
	b.ne	mmu_map_fill
	orr	x10, x10, #2
mmu_map_fill:
	mov	x11, x9
	mov	x12, #512
mmu_map_fill_next:
	str	x10, [x11], #8
	add	x10, x10, x6
	subs	x12, x12, #1
	b.ne	mmu_map_fill_next
	orr	x7, x9, #3			// the table descriptor
	str	x7, [x5]
	mov	x3, x9
	b	mmu_map_walk
mmu_map_done:
	mov	x0, #0
	ret
mmu_map_full:
	mov	x0, #1
	ret

// purgatory_mmu_on: saves SCTLR, TCR, MAIR and TTBR0 of the current EL in
//   purgatory_saved, then turns the MMU and caches on with the map from
//   purgatory_mmu_build. Before that it invalidates the purgatory's memory
//   in the data cache: the tables and the stack were written with the
//   caches off, and a stale line must not hide them (as arm64 head.S does
//   for its early page tables). Clobbers x0-x17.
purgatory_mmu_on:
	mov	x8, x30
	adr	x9, purgatory_saved
	adr	x10, purgatory_mmu
	ldp	x4, x5, [x10]			// the new TCR and TTBR0
	mov	x6, #0xff00			// MAIR
	mrs	x7, CurrentEL
	cmp	x7, #8
	b.eq	mmu_on_el2
	mrs	x0, sctlr_el1
	mrs	x1, tcr_el1
	mrs	x2, mair_el1
	mrs	x3, ttbr0_el1
	stp	x0, x1, [x9, #8]
	stp	x2, x3, [x9, #24]
	bl	mmu_purgatory_ivac
	msr	mair_el1, x6
	msr	tcr_el1, x4
	msr	ttbr0_el1, x5
	isb
	tlbi	vmalle1				// nothing cached from the previous kernel's tables
	dsb	nsh
	isb
	ldr	x0, [x9, #8]
	mov	x1, #0x1005			// M, C, I
	orr	x0, x0, x1
	and	x0, x0, #0xfffffffffff7ffff	// WXN off: the purgatory's pages are writable and executable
	msr	sctlr_el1, x0
	isb
	ret	x8
mmu_on_el2:
	mrs	x0, sctlr_el2
	mrs	x1, tcr_el2
	mrs	x2, mair_el2
	mrs	x3, ttbr0_el2
	stp	x0, x1, [x9, #8]
	stp	x2, x3, [x9, #24]
	bl	mmu_purgatory_ivac
	msr	mair_el2, x6
	msr	tcr_el2, x4
	msr	ttbr0_el2, x5
	isb
	tlbi	alle2
	dsb	nsh
	isb
	ldr	x0, [x9, #8]
	mov	x1, #0x1005			// M, C, I
	orr	x0, x0, x1
	and	x0, x0, #0xfffffffffff7ffff
	msr	sctlr_el2, x0
	isb
	ret	x8

// purgatory_mmu_off: the MMU and caches off again, as booting.rst wants them
//   for the kernel, and SCTLR, TCR, MAIR and TTBR0 as they were found. The
//   purgatory wrote only its own memory with the caches on (stack, digest),
//   so that is what is cleaned and invalidated to the point of coherency:
//   once before the caches go off, so the stack reads back right, and once
//   after, to drop lines fetched in between. Regions were only read, so they
//   hold no dirty line of ours; the kernel image is as clean as it was on
//   entry. Then the TLB and the instruction cache are invalidated. Makes no
//   memory write between the two cleans. Clobbers x0-x17.
purgatory_mmu_off:
	mov	x8, x30
	adr	x9, purgatory_saved
	ldp	x4, x5, [x9, #8]		// SCTLR, TCR
	ldp	x6, x7, [x9, #24]		// MAIR, TTBR0
	bl	mmu_purgatory_civac
	mrs	x9, CurrentEL
	cmp	x9, #8
	b.eq	mmu_off_el2
	msr	sctlr_el1, x4
	isb
	bl	mmu_purgatory_civac
	tlbi	vmalle1
	dsb	nsh
	ic	iallu
	dsb	nsh
	msr	tcr_el1, x5
	msr	mair_el1, x6
	msr	ttbr0_el1, x7
	isb
	ret	x8
mmu_off_el2:
	msr	sctlr_el2, x4
	isb
	bl	mmu_purgatory_civac
	tlbi	alle2
	dsb	nsh
	ic	iallu
	dsb	nsh
	msr	tcr_el2, x5
	msr	mair_el2, x6
	msr	ttbr0_el2, x7
	isb
	ret	x8

// mmu_purgatory_ivac / mmu_purgatory_civac: invalidate, or clean and
//   invalidate, the data cache to the point of coherency over the purgatory's
//   memory (purgatory_start + header mem_size), by line (CTR_EL0.DminLine).
//   Leaf; clobbers x0-x3, x10-x12.
mmu_purgatory_ivac:
	mov	x3, #0
	b	mmu_purgatory_dcache
mmu_purgatory_civac:
	mov	x3, #1
mmu_purgatory_dcache:
	adr	x0, purgatory_start
	ldr	w1, header_mem_size
	add	x1, x0, x1
	mrs	x10, ctr_el0
	ubfx	x10, x10, #16, #4
	mov	x11, #4
	lsl	x11, x11, x10			// smallest data cache line, bytes
	sub	x12, x11, #1
	bic	x0, x0, x12
	dsb	sy				// earlier accesses first
mmu_dcache_next:
	cbnz	x3, mmu_dcache_civac
	dc	ivac, x0
	b	mmu_dcache_step
mmu_dcache_civac:
	dc	civac, x0
mmu_dcache_step:
	add	x0, x0, x11
	cmp	x0, x1
	b.lo	mmu_dcache_next
	dsb	sy
	ret

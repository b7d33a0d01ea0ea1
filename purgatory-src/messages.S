// Console messages of entry.S, fail.S, mmu.S and vectors.S, NUL-terminated.
msg_verifying:
	.asciz	"purgatory: verifying "
msg_with_ce:
	.asciz	" regions with the SHA-256 instructions"
msg_with_scalar:
	.asciz	" regions with scalar SHA-256"
msg_caches_on_line:
	.asciz	", caches on\r\n"
msg_caches_off_line:
	.asciz	", caches off\r\n"
msg_caches_off:
	.asciz	"purgatory: caches stay off: "
msg_mmu_el:
	.asciz	"not at EL1 or EL2"
msg_mmu_memsz:
	.asciz	"the segment's memsz (slot segment_memsz) is smaller than mem_size"
msg_mmu_granule:
	.asciz	"the CPU has no 4 KiB translation granule"
msg_mmu_range:
	.asciz	"a region or the purgatory lies past the physical address range"
msg_mmu_overlap:
	.asciz	"a region overlaps the purgatory's memory (is the segment's memsz the header's mem_size?)"
msg_mmu_pool:
	.asciz	"the page-table pool is too small (build with more page tables)"
msg_ok:
	.asciz	"purgatory: ok, entering kernel at 0x"
msg_with_dtb:
	.asciz	" with dtb at 0x"
msg_region:
	.asciz	"purgatory: region "
msg_at:
	.asciz	" at 0x"
msg_length:
	.asciz	", length 0x"
msg_mismatch:
	.asciz	": sha256 mismatch\r\n  expected "
msg_actual:
	.asciz	"\r\n  actual   "
msg_bad_count:
	.asciz	"purgatory: region count exceeds the region table: "
msg_unpatched:
	.asciz	"purgatory: refusing to run: not patched by a loader (slot patched, region_count)\r\n"
msg_reset:
	.asciz	"purgatory: resetting (PSCI SYSTEM_RESET)\r\n"
msg_no_psci:
	.asciz	"purgatory: cannot reset: no PSCI conduit that leaves this exception level (slot psci)\r\n"
msg_no_vectors:
	.asciz	"purgatory: no exception vectors: the load address is not 2 KiB aligned\r\n"
msg_exception:
	.asciz	"purgatory: "
msg_kind_sync:					// four names 16 bytes apart, by vector kind
	.asciz	"synchronous"
	.space	4
	.asciz	"IRQ"
	.space	12
	.asciz	"FIQ"
	.space	12
	.asciz	"SError"
	.space	9
msg_exception_at:
	.asciz	" exception at EL"
msg_exception_ec:
	.asciz	": EC 0x"
msg_exception_esr:
	.asciz	", ESR 0x"
msg_exception_far:
	.asciz	", FAR 0x"
msg_exception_elr:
	.asciz	", ELR 0x"
msg_exception_offset:
	.asciz	" (purgatory+0x"
msg_exception_offset_end:
	.asciz	")"
msg_halt:
	.asciz	"purgatory: halted\r\n"
msg_newline:
	.asciz	"\r\n"

// Data of mmu.S: address bits for each ID_AA64MMFR0_EL1.PARange value 0..5.
mmu_pa_bits:
	.byte	32, 36, 40, 42, 44, 48

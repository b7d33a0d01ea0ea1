// Console messages of entry.S, fail.S and mmu.S, NUL-terminated.
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
msg_mmu_vhe:
	.asciz	"EL2 with HCR_EL2.E2H set (VHE) is not handled"
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
msg_reset:
	.asciz	"purgatory: resetting (PSCI SYSTEM_RESET)\r\n"
msg_halt:
	.asciz	"purgatory: halted\r\n"
msg_newline:
	.asciz	"\r\n"

// Data of mmu.S: address bits for each ID_AA64MMFR0_EL1.PARange value 0..5.
mmu_pa_bits:
	.byte	32, 36, 40, 42, 44, 48

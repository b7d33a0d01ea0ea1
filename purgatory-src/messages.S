// Console messages of entry.S and fail.S, NUL-terminated.
msg_verifying:
	.asciz	"purgatory: verifying "
msg_regions:
	.asciz	" regions\r\n"
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

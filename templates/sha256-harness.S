// SHA-256 harness for QEMU virt at EL1 (tests and bench): hashes every
// message listed in a table in RAM with {{routine}} (purgatory-src/sha256.S
// or sha256-ce.S) and prints each digest in hex on the PL011, one line per
// message, then "done" and PSCI SYSTEM_OFF (HVC at EL1). Table at {{table}}:
// u64 count, then count × { u64 address, u64 length }. The MMU stays off, so
// every message is read from Device memory, where only aligned accesses work.
harness_start:
	adr	x9, harness_stack_top
	mov	sp, x9
	mrs	x9, cpacr_el1			// FP/SIMD on at EL1 (CPACR_EL1.FPEN), for sha256_ce
	orr	x9, x9, #0x300000
	msr	cpacr_el1, x9
	isb
	ldr	x19, harness_table
	ldr	x20, [x19], #8
harness_next:
	cbz	x20, harness_done
	ldp	x0, x1, [x19], #16
	adr	x2, harness_digest
	bl	{{routine}}
	adr	x0, harness_digest
	mov	x1, #32
	bl	console_hexbytes
	adr	x0, harness_newline
	bl	console_puts
	sub	x20, x20, #1
	b	harness_next
harness_done:
	adr	x0, harness_done_text
	bl	console_puts
	movz	w0, #0x8400, lsl #16
	movk	w0, #0x0008			// PSCI SYSTEM_OFF
	hvc	#0
harness_hang:
	wfi
	b	harness_hang

{{include "console.S"}}
{{include "sha256.S"}}
{{include "sha256-ce.S"}}
harness_code_end:
{{include "sha256-constants.S"}}

	.balign	8
harness_table:
	.quad	{{table}}
slot_console_base:
	.quad	0x09000000
slot_console_kind:
	.word	1
slot_console_shift:
	.word	0
slot_console_width:
	.word	4
harness_newline:
	.asciz	"\r\n"
harness_done_text:
	.asciz	"done\r\n"
	.balign	4096				// writes on a page apart from the code (see purgatory.S)
harness_digest:
	.space	32
console_off:
	.word	0				// console.S: set if the UART times out
	.balign	16
	.space	2048
harness_stack_top:

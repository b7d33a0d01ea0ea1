// The purgatory, ABI version 3: header, slots, code, data, stack.
// toolchain/purgatory/abi.ts declares the header and slot layout this file
// lays out; a test checks that the two agree. docs/purgatory-abi.md describes
// the ABI; the template syntax is described in toolchain/purgatory/template.ts.
//
// Parameters (set by toolchain/purgatory/build.ts):
//   {{regions}}          capacity of the region table (entries)
//   {{region_bytes}}     its size: 48 bytes per entry
//   {{console_kind}}     initial console slot: 0 none, 1 PL011, 2 8250, 3 Cadence
//   {{console_base}}     initial UART MMIO base
//   {{console_shift}}    initial 8250 register shift (0..3)
//   {{console_width}}    initial 8250 register access width in bytes (1 or 4)
//   {{policy}}           initial failure policy: 0 spin, 1 reset
//   {{psci}}             initial PSCI conduit: 0 none, 1 HVC, 2 SMC, 3 by exception level
//   {{flags}}            initial flags: bit 0 no MMU, bit 1 no SHA-256 instructions
//   {{pool_bytes}}       size of the page-table pool past the blob (4 KiB per table)
// All slots are little-endian and naturally aligned. The blob runs at any
// 16-byte aligned address; kexec segments are page-aligned, which also keeps
// the exception vectors 2 KiB aligned (vectors.S) and the run-time writes on
// a page apart from the code (see the end). The purgatory uses mem_size bytes
// from its start: the blob, then the pool that mmu.S builds its page tables
// in (the loader gives the segment that memsz and says so in
// slot_segment_memsz).

purgatory_start:
	b	purgatory_entry				// 0x00: a loader may jump to offset 0
	.word	3					// 0x04: ABI version
	.ascii	"PURGATRY"				// 0x08: magic
	.word	purgatory_end - purgatory_start		// 0x10: blob size (bytes)
	.word	header_end - purgatory_start		// 0x14: header size
	.word	purgatory_entry - purgatory_start	// 0x18: code start
	.word	code_end - purgatory_start		// 0x1c: code end
	.word	slot_kernel_entry - purgatory_start	// 0x20: slot offsets
	.word	slot_dtb_addr - purgatory_start		// 0x24
	.word	slot_console_base - purgatory_start	// 0x28
	.word	slot_console_kind - purgatory_start	// 0x2c
	.word	slot_console_shift - purgatory_start	// 0x30
	.word	slot_policy - purgatory_start		// 0x34
	.word	slot_flags - purgatory_start		// 0x38
	.word	slot_region_count - purgatory_start	// 0x3c
	.word	slot_regions - purgatory_start		// 0x40
header_region_capacity:
	.word	{{regions}}				// 0x44: region table entries
	.word	48					// 0x48: region entry size
header_mem_size:
	.word	purgatory_end - purgatory_start + {{pool_bytes}}	// 0x4c: memory used, pool included
	.word	slot_console_width - purgatory_start	// 0x50: slots added in ABI 3
	.word	slot_psci - purgatory_start		// 0x54
	.word	slot_segment_memsz - purgatory_start	// 0x58
	.word	slot_patched - purgatory_start		// 0x5c
header_end:

slot_kernel_entry:
	.quad	0					// u64: where the kernel image starts executing
slot_dtb_addr:
	.quad	0					// u64: passed in x0
slot_console_base:
	.quad	{{console_base}}			// u64: UART MMIO base
slot_segment_memsz:
	.quad	0					// u64: memsz the loader gave this segment
slot_patched:
	.quad	0					// u64: "PATCHED!" once a loader filled the slots
slot_console_kind:
	.word	{{console_kind}}			// u32: 0 none, 1 PL011, 2 8250, 3 Cadence
slot_console_shift:
	.word	{{console_shift}}			// u32: 8250 register shift
slot_console_width:
	.word	{{console_width}}			// u32: 8250 register access width, bytes
slot_policy:
	.word	{{policy}}				// u32: on a failure, 0 spin, 1 reset
slot_psci:
	.word	{{psci}}				// u32: PSCI conduit, 0 none, 1 HVC, 2 SMC, 3 by EL
slot_flags:
	.word	{{flags}}				// u32: bit 0 no MMU, bit 1 no SHA-256 instructions
slot_region_count:
	.word	0					// u32: used entries of slot_regions
	.word	0					// pad to 8
slot_regions:
	.space	{{region_bytes}}			// {start u64, length u64, sha256[32]} per entry

{{include "entry.S"}}
{{include "fail.S"}}
{{include "console.S"}}
{{include "sha256.S"}}
{{include "sha256-ce.S"}}
{{include "mmu.S"}}
{{include "vectors.S"}}
code_end:

{{include "sha256-constants.S"}}
{{include "messages.S"}}

// What the purgatory writes at run time gets pages of its own: QEMU's TCG
// re-checks translated code on every store to a page that holds code, which
// made hashing ten times slower there. The blob ends on a page boundary, so
// the page-table pool starts right after it. entry.S zeroes the state words
// itself: nothing relies on the loader having copied these zeros.
	.balign	4096
purgatory_digest:
	.space	32					// the digest just computed
purgatory_saved:
	.space	40					// FP/SIMD trap control, SCTLR, TCR, MAIR, TTBR0 as found
purgatory_mmu:
	.space	16					// TCR and TTBR0 for the map (mmu.S)
purgatory_vbar:
	.quad	0					// VBAR as found (vectors.S)
purgatory_exceptions:
	.word	0					// exceptions taken so far (vectors.S)
console_off:
	.word	0					// 1 once the console timed out or faulted (console.S)
purgatory_reset_tried:
	.word	0					// 1 once fail.S has called PSCI SYSTEM_RESET
	.balign	16
	.space	2048
purgatory_stack_top:
	.balign	4096
purgatory_end:

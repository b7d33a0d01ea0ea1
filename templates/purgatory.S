// The purgatory, ABI version 2: header, slots, code, data, stack.
// toolchain/purgatory/abi.ts declares the header and slot layout this file
// lays out; a test checks that the two agree. The template syntax is described
// in toolchain/purgatory/template.ts.
//
// Parameters (set by toolchain/purgatory/build.ts):
//   {{regions}}          capacity of the region table (entries)
//   {{region_bytes}}     its size: 48 bytes per entry
//   {{console_kind}}     initial console slot: 0 none, 1 PL011, 2 8250
//   {{console_base}}     initial UART MMIO base
//   {{console_shift}}    initial 8250 register shift (0 or 2)
//   {{policy}}           initial failure policy: 0 spin, 1 reset
//   {{flags}}            initial flags: bit 0 no MMU, bit 1 no SHA-256 instructions
//   {{pool_bytes}}       size of the page-table pool past the blob (4 KiB per table)
// All slots are little-endian and naturally aligned. The blob runs at any
// 16-byte aligned address; kexec segments are page-aligned, which also keeps
// the run-time writes on a page apart from the code (see the end). The
// purgatory uses mem_size bytes from its start: the blob, then the pool that
// mmu.S builds its page tables in (the loader gives the segment that memsz).

purgatory_start:
	b	purgatory_entry				// 0x00: a loader may jump to offset 0
	.word	2					// 0x04: ABI version
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
header_end:

slot_kernel_entry:
	.quad	0					// u64: where the kernel image starts executing
slot_dtb_addr:
	.quad	0					// u64: passed in x0
slot_console_base:
	.quad	{{console_base}}			// u64: UART MMIO base
slot_console_kind:
	.word	{{console_kind}}			// u32: 0 none, 1 PL011, 2 8250
slot_console_shift:
	.word	{{console_shift}}			// u32: 8250 register shift
slot_policy:
	.word	{{policy}}				// u32: on mismatch, 0 spin, 1 reset
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
code_end:

{{include "sha256-constants.S"}}
{{include "messages.S"}}

// What the purgatory writes at run time gets pages of its own: QEMU's TCG
// re-checks translated code on every store to a page that holds code, which
// made hashing ten times slower there. The blob ends on a page boundary, so
// the page-table pool starts right after it.
	.balign	4096
purgatory_digest:
	.space	32					// the digest just computed
purgatory_saved:
	.space	40					// FP/SIMD trap control, SCTLR, TCR, MAIR, TTBR0 as found
purgatory_mmu:
	.space	16					// TCR and TTBR0 for the map (mmu.S)
	.balign	16
	.space	2048
purgatory_stack_top:
	.balign	4096
purgatory_end:

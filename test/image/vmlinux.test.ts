import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { loadKernelImage } from "../../toolchain/image/index.js";
import { flattenVmlinux } from "../../toolchain/image/vmlinux.js";
import { FUZZ_RUNS, mutated, onlyInputError } from "./_fuzz.js";
import { KIMAGE_VADDR, makeImage, makeVmlinux } from "./_make.js";

/**
 * The oracle: a stand-in kernel linked by GNU ld (aarch64) and flattened by
 * `objcopy -O binary`, the way arch/arm64/boot/Makefile makes Image from
 * vmlinux. Our flat image must equal objcopy's byte for byte.
 */
const HEAD_S = `
	.section ".head.text", "ax"
	.globl _text
_text:
	b	primary
	.long	0
	.quad	0			// text_offset
	.quad	_end - _text		// image_size
	.quad	0xa			// LE, 4K pages, placement anywhere
	.quad	0, 0, 0
	.ascii	"ARM\\x64"
	.long	0
primary:
	adr	x0, message
1:	wfe
	b	1b
	.section ".rodata", "a"
message:
	.asciz	"a stand-in kernel"
	.section ".data", "aw"
	.fill	0x300, 1, 0x5a
	.section ".bss", "aw", %nobits
	.space	0x5000
`;
const LDS = `
ENTRY(_text)
SECTIONS {
	. = 0xffff800080000000;
	.head.text : { *(.head.text) }
	.text : { *(.text) }
	.rodata : { *(.rodata) }
	. = ALIGN(0x10000);
	.data : { *(.data) }
	.bss : { *(.bss) }
	_end = .;
}
`;

let dir = "";
let vmlinux = new Uint8Array();
let objcopyImage = new Uint8Array();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "purgatory-vmlinux-"));
  writeFileSync(join(dir, "head.S"), HEAD_S);
  writeFileSync(join(dir, "kernel.lds"), LDS);
  const run = (tool: string, args: string[]): void => void execFileSync(`aarch64-linux-gnu-${tool}`, args, { cwd: dir });
  run("as", ["head.S", "-o", "head.o"]);
  run("ld", ["-T", "kernel.lds", "-z", "max-page-size=0x10000", "head.o", "-o", "vmlinux"]);
  run("objcopy", ["-O", "binary", "-R", ".note", "-R", ".note.gnu.build-id", "-R", ".comment", "-S", "vmlinux", "Image"]);
  vmlinux = new Uint8Array(readFileSync(join(dir, "vmlinux")));
  objcopyImage = new Uint8Array(readFileSync(join(dir, "Image")));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function patch(b: Uint8Array, at: number, bytes: number[]): Uint8Array {
  const out = b.slice();
  out.set(bytes, at);
  return out;
}
const u64 = (v: bigint): number[] => [...new Uint8Array(new BigUint64Array([v]).buffer)];
const IMAGE = makeImage({ fileSize: 0x4000 });
const SYNTH = makeVmlinux(IMAGE);
/** Program headers of SYNTH start at 64: [0] second PT_LOAD, [1] PT_NOTE, [2] first PT_LOAD. */
const PH = (i: number, field: number): number => 64 + i * 56 + field;

describe("flattenVmlinux lays PT_LOADs out as objcopy -O binary does", () => {
  it("matches objcopy's Image for a GNU ld link", async () => {
    const v = flattenVmlinux(vmlinux);
    expect(v.image).toEqual(objcopyImage);
    expect([v.entry, v.memSize, v.segments.length]).toEqual([0xffff800080000000n, 0x15300n, 2]);
    const k = await loadKernelImage(vmlinux);
    expect(k.formatChain).toEqual(["vmlinux", "Image"]);
    expect(k.imageSize).toBe(0x15300n);
  });

  it("zero-fills gaps, sorts segments and ignores other program headers", () => {
    const v = flattenVmlinux(SYNTH);
    const expected = IMAGE.slice();
    expected.fill(0, 0x2000, 0x3000);
    expect(v.image).toEqual(expected);
    expect(v.segments.map((s) => s.vaddr - KIMAGE_VADDR)).toEqual([0n, 0x3000n]);
    expect(v.memSize).toBe(0x10000n);
    expect(flattenVmlinux(makeVmlinux(IMAGE, { type: 3 })).image).toEqual(expected); // ET_DYN (CONFIG_RELOCATABLE)
    // The PT_NOTE turned into a BSS-only PT_LOAD beyond the last file byte.
    const bss = patch(patch(patch(patch(SYNTH, PH(1, 0), [1]), PH(1, 16), u64(KIMAGE_VADDR + 0x20000n)), PH(1, 32), u64(0n)), PH(1, 40), u64(0x1000n));
    expect([flattenVmlinux(bss).image, flattenVmlinux(bss).memSize]).toEqual([expected, 0x21000n]);
  });

  it("refuses what is not a little-endian ELF64 arm64 executable, by name", () => {
    const be = patch(SYNTH, 5, [2]);
    be[18] = 0;
    be[19] = 183;
    expect(() => flattenVmlinux(be)).toThrow(/big-endian \(ELFDATA2MSB\) arm64 kernel/);
    expect(() => flattenVmlinux(be)).toThrow(expect.objectContaining({ code: "UNSUPPORTED_BIG_ENDIAN" }) as InputError);
    expect(() => flattenVmlinux(patch(SYNTH, 4, [1]))).toThrow(/ELF class 1 and data encoding 1 are not ELFCLASS64/);
    expect(() => flattenVmlinux(makeVmlinux(IMAGE, { machine: 62 }))).toThrow(/e_machine is 62 \(x86-64\), not EM_AARCH64 \(183\) \(at offset 0x12\)/);
    expect(() => flattenVmlinux(makeVmlinux(IMAGE, { type: 1 }))).toThrow(/e_type is 1 \(ET_REL \(an object file\)\)/);
    expect(() => flattenVmlinux(makeVmlinux(IMAGE, { type: 4 }))).toThrow(/ET_CORE/);
    expect(() => flattenVmlinux(makeVmlinux(IMAGE, { type: 4 }))).toThrow(expect.objectContaining({ code: "BAD_ELF" }) as InputError);
    expect(() => flattenVmlinux(patch(SYNTH, 54, [55, 0]))).toThrow(/e_phentsize 55/);
  });

  it("refuses segments outside the file, inconsistent or overlapping, and a misplaced entry", () => {
    expect(() => flattenVmlinux(SYNTH.subarray(0, SYNTH.length - 1))).toThrow(/PT_LOAD 0 data .* lies past the end/);
    expect(() => flattenVmlinux(patch(SYNTH, 32, u64(0x10000n)))).toThrow(/program header table .* lies past the end/);
    expect(() => flattenVmlinux(patch(SYNTH, PH(2, 40), u64(0x10n)))).toThrow(/PT_LOAD 2 has p_filesz 0x2000 > p_memsz 0x10/);
    expect(() => flattenVmlinux(patch(SYNTH, PH(2, 40), u64(0x3001n)))).toThrow(/PT_LOAD segments at 0xffff800080000000\+0x3001 and 0xffff800080003000 overlap/);
    expect(() => flattenVmlinux(patch(SYNTH, 24, u64(KIMAGE_VADDR + 0x3000n)))).toThrow(/e_entry 0xffff800080003000 is not the lowest PT_LOAD address/);
    expect(() => flattenVmlinux(patch(SYNTH, PH(2, 16), u64(0xfffffffffffff000n)))).toThrow(/wraps past 2\^64/);
    const noLoad = patch(patch(SYNTH, PH(0, 0), [4]), PH(2, 0), [4]);
    expect(() => flattenVmlinux(noLoad)).toThrow(/no PT_LOAD segment/);
  });

  it("refuses segments spanning past the limit before allocating, 512 MiB by default", () => {
    const sparse = patch(SYNTH, PH(0, 16), u64(KIMAGE_VADDR + 0x30000000n)); // second segment 768 MiB up
    expect(() => flattenVmlinux(sparse)).toThrow(/vmlinux PT_LOAD segments span past the limit of 0x20000000 bytes \(512 MiB\)/);
    expect(() => flattenVmlinux(SYNTH, 0x1000)).toThrow(/past the limit of 0x1000/);
  });

  it("throws only InputError on mutated ELF files", () => {
    fc.assert(
      fc.property(mutated([SYNTH, vmlinux.subarray(0, 0x400)]), (b) => {
        onlyInputError(() => flattenVmlinux(b, 1 << 20));
      }),
      { numRuns: FUZZ_RUNS },
    );
  });
});

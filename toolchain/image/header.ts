import { InputError, decodeLayout, defineLayout, hex } from "../bytes/index.js";
import { readPeHeader } from "./pe.js";

/**
 * The arm64 Image header: 64 bytes at the start of every raw `Image`, all
 * fields little-endian (Documentation/arch/arm64/booting.rst, "Call the kernel
 * image"; arch/arm64/include/asm/image.h).
 */

/** "ARM\x64" read as a little-endian u32 (ARM64_IMAGE_MAGIC). */
export const ARM64_IMAGE_MAGIC = 0x644d5241;
export const ARM64_IMAGE_HEADER_SIZE = 64;
/**
 * How much of an Image's start `checkImage` needs when it does not get the
 * whole file: the 64-byte header and, with the EFI stub, the PE/COFF headers
 * and section table, which arch/arm64/kernel/efi-header.S puts right after it.
 */
export const IMAGE_HEAD_SIZE = 4096;

/** flags bit 0: kernel endianness, 1 = big-endian (ARM64_IMAGE_FLAG_BE). */
const FLAG_BE = 1n;
/** flags bits 1-2: page size, 0 unspecified, 1 = 4K, 2 = 16K, 3 = 64K. */
const FLAG_PAGE_SIZE_SHIFT = 1n;
/** flags bit 3: 1 = the 2 MiB base may sit anywhere in physical memory. */
const FLAG_PHYS_BASE = 8n;
const PAGE_SIZES = [0, 4096, 16384, 65536] as const;

/**
 * booting.rst: "image_size == 0 ... a kernel older than v3.17"; kexec-tools
 * (arm64_process_image_header) then assumes text_offset 0x80000 and 16 MiB.
 */
export const LEGACY_TEXT_OFFSET = 0x80000n;
export const LEGACY_IMAGE_SIZE = 16n << 20n;

export const IMAGE_HEADER = defineLayout("arm64 Image header", ARM64_IMAGE_HEADER_SIZE, [
  { name: "code0", offset: 0, kind: "u32LE", note: "executable code; \"MZ\" in the low half with the EFI stub" },
  { name: "code1", offset: 4, kind: "u32LE", note: "executable code" },
  { name: "textOffset", offset: 8, kind: "u64LE", note: "image load offset from a 2 MiB aligned base" },
  { name: "imageSize", offset: 16, kind: "u64LE", note: "effective image size including BSS; 0 before v3.17" },
  { name: "flags", offset: 24, kind: "u64LE", note: "bit 0 BE, bits 1-2 page size, bit 3 physical placement" },
  { name: "res2", offset: 32, kind: "u64LE", note: "reserved" },
  { name: "res3", offset: 40, kind: "u64LE", note: "reserved" },
  { name: "res4", offset: 48, kind: "u64LE", note: "reserved" },
  { name: "magic", offset: 56, kind: "u32LE", note: "0x644d5241, \"ARM\\x64\"" },
  { name: "res5", offset: 60, kind: "u32LE", note: "offset of the PE header (EFI stub), else reserved" },
] as const);

export type PageSizeFlag = 0 | 4096 | 16384 | 65536;

export interface ImageFlags {
  readonly bigEndian: boolean;
  /** Page size the kernel was built for, in bytes; 0 when the header leaves it unspecified. */
  readonly pageSize: PageSizeFlag;
  /** Bit 3: the kernel may be placed anywhere in physical memory, not only near the start of DRAM. */
  readonly physPlacementAnywhere: boolean;
}

/** The header as stored, plus its decoded flags. */
export interface ImageHeader {
  readonly code0: number;
  readonly code1: number;
  readonly textOffset: bigint;
  readonly imageSize: bigint;
  readonly rawFlags: bigint;
  readonly flags: ImageFlags;
  readonly magic: number;
  /** res5: the PE header offset when the Image carries the EFI stub. */
  readonly res5: number;
  /** True when code0 starts with "MZ" (the EFI stub's PE/COFF image). */
  readonly efiStub: boolean;
}

/** True when `bytes` is long enough and carries the Image magic at offset 56. */
export function hasImageMagic(bytes: Uint8Array): boolean {
  return (
    bytes.length >= ARM64_IMAGE_HEADER_SIZE &&
    bytes[56] === 0x41 && bytes[57] === 0x52 && bytes[58] === 0x4d && bytes[59] === 0x64
  );
}

/**
 * Decodes the 64-byte Image header at the start of `bytes`.
 * @throws InputError `TRUNCATED` (fewer than 64 bytes) or `BAD_MAGIC` (no "ARM\x64" at offset 56).
 */
export function parseImageHeader(bytes: Uint8Array): ImageHeader {
  const h = decodeLayout(IMAGE_HEADER, bytes);
  if (h.magic !== ARM64_IMAGE_MAGIC) {
    throw new InputError(
      "BAD_MAGIC",
      `Cannot parse the arm64 Image header: magic is ${hex(h.magic)}, expected ${hex(ARM64_IMAGE_MAGIC)} ("ARM\\x64")`,
      56,
      "The file is not a raw arm64 Image",
    );
  }
  const pageSize = PAGE_SIZES[Number((h.flags >> FLAG_PAGE_SIZE_SHIFT) & 3n)] ?? 0;
  return {
    code0: h.code0,
    code1: h.code1,
    textOffset: h.textOffset,
    imageSize: h.imageSize,
    rawFlags: h.flags,
    flags: {
      bigEndian: (h.flags & FLAG_BE) !== 0n,
      pageSize,
      physPlacementAnywhere: (h.flags & FLAG_PHYS_BASE) !== 0n,
    },
    magic: h.magic,
    res5: h.res5,
    efiStub: (h.code0 & 0xffff) === 0x5a4d,
  };
}

export interface CheckedImage {
  readonly header: ImageHeader;
  /** text_offset to load with, in bytes (0x80000 for a pre-3.17 kernel). */
  readonly textOffset: bigint;
  /** image_size to reserve, in bytes (16 MiB for a pre-3.17 kernel). */
  readonly imageSize: bigint;
  readonly warnings: readonly string[];
}

/**
 * Parses the header and applies the loading rules: refuses a big-endian kernel
 * and, when `pageSize` is given, a kernel built for another page size; takes a
 * pre-3.17 header (image_size 0) as kexec-tools does, with a warning.
 * Refuses a truncated Image (see `checkLength`). Sizes are in bytes; `size`
 * is the whole Image's, when `bytes` holds only its start (at least
 * IMAGE_HEAD_SIZE bytes of it; a file streamed elsewhere).
 * @throws InputError `BAD_MAGIC`, `TRUNCATED`, `UNSUPPORTED_BIG_ENDIAN`, `PAGE_SIZE_CONFLICT`, `SIZE_MISMATCH` or `BAD_PE`.
 */
export function checkImage(bytes: Uint8Array, pageSize?: number, size: number = bytes.length): CheckedImage {
  const header = parseImageHeader(bytes);
  if (header.flags.bigEndian) {
    throw new InputError(
      "UNSUPPORTED_BIG_ENDIAN",
      "Cannot load the kernel: its Image header flags bit 0 says it is big-endian",
      24,
      "Only little-endian arm64 kernels are supported; build the kernel without CONFIG_CPU_BIG_ENDIAN",
    );
  }
  // The kernel's own kexec_file loader refuses an Image whose page-size flag the
  // CPU cannot run (arch/arm64/kernel/kexec_image.c). We are stricter: the flag
  // must match the target's running page size, which is what we know.
  if (pageSize !== undefined && header.flags.pageSize !== 0 && header.flags.pageSize !== pageSize) {
    throw new InputError(
      "PAGE_SIZE_CONFLICT",
      `Cannot load the kernel: it is built for ${header.flags.pageSize / 1024} KiB pages but the target runs ${pageSize / 1024} KiB pages`,
      24,
      "Use a kernel built for the target's page size (CONFIG_ARM64_*K_PAGES)",
    );
  }
  const warnings: string[] = [];
  let { textOffset, imageSize } = header;
  if (imageSize === 0n) {
    textOffset = LEGACY_TEXT_OFFSET;
    imageSize = LEGACY_IMAGE_SIZE;
    warnings.push(
      "image_size is 0 (a kernel older than v3.17): assuming text_offset 0x80000 and image_size 16 MiB, as kexec-tools does",
    );
  }
  checkLength(bytes, header, size);
  if (BigInt(size) > imageSize) {
    throw new InputError(
      "SIZE_MISMATCH",
      `Cannot load the kernel: the Image is ${hex(size)} bytes but image_size is only ${hex(imageSize)}`,
      16,
      "The header is corrupt, or data was appended to the Image (an Image-dtb); pass the plain Image",
    );
  }
  return { header, textOffset, imageSize, warnings };
}

/** `b imm26` (A64 unconditional branch): bits 31-26 are 0b000101. */
const isBranch = (insn: number): boolean => insn >>> 26 === 0x05;

/**
 * A truncated Image passes every header check and dies at boot, so its length
 * is checked against what the Image itself says it must hold, two ways:
 *
 * - With the EFI stub, the PE/COFF section table (arch/arm64/kernel/efi-header.S)
 *   places .text and .data in the file: the file must reach the end of the
 *   last section's raw data (a signed kernel has its certificate table after that).
 * - Every Image starts by branching to its entry code (code0 or code1 is
 *   `b primary_entry`, arch/arm64/kernel/head.S; `b stext` before v5.x), which
 *   lives in .init.text, past all of .text; the branch target must lie in the file.
 *
 * Both are lower bounds taken from the file itself, so they never refuse a
 * whole kernel. image_size is no such bound: it adds BSS, which a kernel with
 * a large static buffer (a 32 MiB __log_buf) can make bigger than the file.
 */
function checkLength(bytes: Uint8Array, header: ImageHeader, size: number): void {
  const refuse = (need: number, why: string): never => {
    throw new InputError(
      "TRUNCATED",
      `Cannot load the kernel: the Image is ${hex(size)} bytes but ${why}, so it must be at least ${hex(need)} bytes`,
      size,
      "The file is truncated; copy or extract the kernel again",
    );
  };
  if (header.efiStub && bytes.length >= header.res5 + 4 && new DataView(bytes.buffer, bytes.byteOffset + header.res5, 4).getUint32(0, true) === 0x00004550) {
    const pe = readPeHeader(bytes, header.res5, Number.MAX_SAFE_INTEGER);
    const last = pe.sections.reduce<{ name: string; end: number } | undefined>((m, s) => {
      const end = s.offset + s.rawSize;
      return m === undefined || end > m.end ? { name: s.name, end } : m;
    }, undefined);
    if (last !== undefined && size < last.end) refuse(last.end, `its PE section table puts ${JSON.stringify(last.name)} up to ${hex(last.end)}`);
  }
  for (const [at, insn] of [[0, header.code0], [4, header.code1]] as const) {
    if (!isBranch(insn)) continue;
    const imm = ((insn & 0x03ffffff) << 6) >> 6; // sign-extend imm26
    const target = at + imm * 4;
    if (target >= 0 && size < target + 4) refuse(target + 4, `its entry branch at ${hex(at)} jumps to ${hex(target)}`);
  }
}

import { crc32 } from "node:zlib";
import { ByteWriter, encodeLayout, viewOf } from "../../toolchain/bytes/index.js";
import { IMAGE_HEADER } from "../../toolchain/image/header.js";
import { UIMAGE_HEADER } from "../../toolchain/image/uimage.js";

/**
 * Builders for synthetic kernels in every container format, written from the
 * format descriptions (not from our parsers), so the tests compare two
 * independent readings of each format.
 */

export interface ImageSpec {
  fileSize?: number;
  textOffset?: bigint;
  imageSize?: bigint;
  flags?: bigint;
  efiStub?: boolean;
  /** With efiStub: a PE header at 0x40 whose section table holds these (file offset, SizeOfRawData) pairs. */
  peSections?: readonly (readonly [number, number])[];
}

/** flags for a little-endian 4 KiB-page kernel that may be placed anywhere. */
export const FLAGS_4K_ANYWHERE = (1n << 1n) | 8n;

/** A raw Image: a real header and a compressible, position-dependent body. */
export function makeImage(spec: ImageSpec = {}): Uint8Array {
  const size = spec.fileSize ?? 0x4000;
  const out = new Uint8Array(size);
  for (let i = 64; i < size / 2; i++) out[i] = (i * 31 + (i >> 9)) & 0xff;
  encodeLayout(IMAGE_HEADER, {
    code0: spec.efiStub ? 0x91005a4d : 0x14000010, // "MZ" + add x13, x18, #0x16 / b #0x40
    code1: 0x14000000 + 0x10,
    textOffset: spec.textOffset ?? 0n,
    imageSize: spec.imageSize ?? 0x10000n,
    flags: spec.flags ?? FLAGS_4K_ANYWHERE,
    res2: 0n,
    res3: 0n,
    res4: 0n,
    magic: 0x644d5241,
    res5: spec.efiStub ? 0x40 : 0,
  }, out);
  if (spec.efiStub && spec.peSections !== undefined) {
    // COFF header (no optional header) and section table, as efi-header.S lays them out.
    const w = new ByteWriter(24 + 40 * spec.peSections.length);
    w.u32LE(0x00004550).u16LE(0xaa64).u16LE(spec.peSections.length).zeros(12).u16LE(0).u16LE(0x206);
    spec.peSections.forEach(([offset, raw], i) => {
      w.bytes(new TextEncoder().encode(i === 0 ? ".text\0\0\0" : ".data\0\0\0"));
      w.u32LE(raw).u32LE(offset).u32LE(raw).u32LE(offset).zeros(16);
    });
    out.set(w.finish(), 0x40);
  }
  return out;
}

/** EFI zboot around `payload`, laid out as zboot-header.S does. */
export function makeZboot(
  payload: Uint8Array,
  compressType: string,
  opts: { machine?: number; appendedSize?: number } = {},
): Uint8Array {
  const payloadOffset = 0x200;
  const w = new ByteWriter(payloadOffset + payload.length + 4);
  w.u16LE(0x5a4d).u16LE(0); // MZ_MAGIC as .long
  w.bytes(new TextEncoder().encode("zimg"));
  w.u32LE(payloadOffset).u32LE(payload.length);
  w.u32LE(0).u32LE(0);
  const type = new Uint8Array(32);
  type.set(new TextEncoder().encode(compressType));
  w.bytes(type);
  w.u32LE(0x818223cd); // LINUX_PE_MAGIC at 0x38
  w.u32LE(0x40); // PE header offset at 0x3c
  w.u32LE(0x00004550).u16LE(opts.machine ?? 0xaa64).u16LE(0); // "PE\0\0", machine, no sections
  w.zeros(12).u16LE(0).u16LE(0x206); // no optional header in this stand-in
  w.zeros(payloadOffset - w.length);
  w.bytes(payload);
  if (opts.appendedSize !== undefined) w.u32LE(opts.appendedSize);
  return w.finish();
}

export interface UImageSpec {
  os?: number;
  arch?: number;
  type?: number;
  comp?: number;
  name?: string;
}

/** A legacy uImage as `mkimage -A arm64 -O linux -T kernel` makes it, CRCs included. */
export function makeUImage(data: Uint8Array, spec: UImageSpec = {}): Uint8Array {
  const name = new Uint8Array(32);
  name.set(new TextEncoder().encode(spec.name ?? "Linux-synthetic"));
  const out = new Uint8Array(64 + data.length);
  out.set(data, 64);
  const rec = {
    magic: 0x27051956,
    hcrc: 0,
    time: 0x5f000000,
    size: data.length,
    load: 0x80080000,
    ep: 0x80080000,
    dcrc: crc32(data),
    os: spec.os ?? 5,
    arch: spec.arch ?? 22,
    type: spec.type ?? 2,
    comp: spec.comp ?? 0,
    name,
  };
  encodeLayout(UIMAGE_HEADER, rec, out);
  encodeLayout(UIMAGE_HEADER, { ...rec, hcrc: crc32(out.subarray(0, 64)) }, out);
  return out;
}

export const KIMAGE_VADDR = 0xffff800080000000n;

/**
 * An ELF64 vmlinux holding `image` in two PT_LOADs with a gap at
 * [gapStart, gapEnd) (left out of the file, so it reads as zeros) and BSS up
 * to `memSize`, plus a PT_NOTE that must be ignored.
 */
export function makeVmlinux(
  image: Uint8Array,
  opts: { gapStart?: number; gapEnd?: number; memSize?: number; machine?: number; type?: number } = {},
): Uint8Array {
  const gapStart = opts.gapStart ?? 0x2000;
  const gapEnd = opts.gapEnd ?? 0x3000;
  const memSize = opts.memSize ?? 0x10000;
  const seg1 = image.subarray(0, gapStart);
  const seg2 = image.subarray(gapEnd);
  const off1 = 0x1000;
  const off2 = off1 + seg1.length;
  const w = new ByteWriter(off2 + seg2.length);
  w.bytes(new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0])).zeros(8);
  w.u16LE(opts.type ?? 2).u16LE(opts.machine ?? 183).u32LE(1);
  w.u64LE(KIMAGE_VADDR).u64LE(64n).u64LE(0n); // e_entry, e_phoff, e_shoff
  w.u32LE(0).u16LE(64).u16LE(56).u16LE(3).u16LE(64).u16LE(0).u16LE(0);
  const phdr = (type: number, flags: number, offset: number, vaddr: bigint, filesz: number, memsz: number): void => {
    w.u32LE(type).u32LE(flags).u64LE(BigInt(offset)).u64LE(vaddr).u64LE(vaddr).u64LE(BigInt(filesz)).u64LE(BigInt(memsz)).u64LE(0x10000n);
  };
  // Program headers out of address order, as the parser must sort them.
  phdr(1, 6, off2, KIMAGE_VADDR + BigInt(gapEnd), seg2.length, memSize - gapEnd);
  phdr(4, 4, off1 + 0x100, KIMAGE_VADDR + 0x100n, 0x24, 0x24);
  phdr(1, 5, off1, KIMAGE_VADDR, seg1.length, seg1.length);
  w.zeros(off1 - w.length);
  w.bytes(seg1).bytes(seg2);
  return w.finish();
}

/** A unified kernel image: a PE with a .linux section and, if given, .cmdline and .initrd. */
export function makeUki(linux: Uint8Array, extra: { cmdline?: string; initrd?: Uint8Array } = {}): Uint8Array {
  const sections: [string, Uint8Array][] = [[".linux", linux]];
  if (extra.cmdline !== undefined) sections.push([".cmdline", new TextEncoder().encode(extra.cmdline)]);
  if (extra.initrd !== undefined) sections.push([".initrd", extra.initrd]);
  const w = new ByteWriter(0x100 + 40 * sections.length);
  w.u16LE(0x5a4d).zeros(0x3a).u32LE(0x40);
  w.u32LE(0x00004550).u16LE(0xaa64).u16LE(sections.length).zeros(12).u16LE(0).u16LE(0x206);
  let offset = 0x400;
  const placed: [Uint8Array, number][] = [];
  for (const [name, data] of sections) {
    const n = new Uint8Array(8);
    n.set(new TextEncoder().encode(name));
    const raw = Math.ceil(data.length / 0x200) * 0x200; // SizeOfRawData is file-aligned
    w.bytes(n).u32LE(data.length).u32LE(offset).u32LE(raw).u32LE(offset).zeros(16);
    placed.push([data, offset]);
    offset += raw;
  }
  const out = new Uint8Array(offset);
  out.set(w.finish());
  for (const [data, at] of placed) out.set(data, at);
  return out;
}

/** Appends the kernel's `size_append` trailer: the uncompressed size as a little-endian u32. */
export function withSize(compressed: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(compressed.length + 4);
  out.set(compressed);
  viewOf(out).setUint32(compressed.length, size, true);
  return out;
}

export type ZstdBlock = { raw: Uint8Array } | { rle: number; size: number };

/**
 * A zstd frame written from RFC 8878 by hand: raw and RLE blocks only, no
 * checksum (so the streaming path decodes it).
 */
export function makeZstdFrame(blocks: ZstdBlock[], opts: { fcs?: number; windowByte?: number; fhd?: number } = {}): Uint8Array {
  const w = new ByteWriter(64 + blocks.reduce((n, b) => n + 4 + ("raw" in b ? b.raw.length : 1), 0));
  w.u32LE(0xfd2fb528);
  if (opts.fcs !== undefined) {
    w.u8(opts.fhd ?? 0xa0); // FCS_flag 2 (4 bytes), single segment
    w.u32LE(opts.fcs);
  } else {
    w.u8(opts.fhd ?? 0x00).u8(opts.windowByte ?? 0x58); // window 2^(10+11) = 2 MiB
  }
  blocks.forEach((b, i) => {
    const last = i === blocks.length - 1 ? 1 : 0;
    const [type, size] = "raw" in b ? [0, b.raw.length] : [1, b.size];
    const h = last | (type << 1) | (size << 3);
    w.u8(h & 0xff).u8((h >> 8) & 0xff).u8(h >> 16);
    if ("raw" in b) w.bytes(b.raw);
    else w.u8(b.rle);
  });
  return w.finish();
}

import { InputError, decodeLayout, defineLayout, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED, tooLarge } from "./_common.js";

/**
 * `vmlinux`, the kernel as an ELF64 executable (System V gABI, "ELF Header"
 * and "Program Header"). The loadable bytes are its PT_LOAD segments laid out
 * from the lowest virtual address, which is what `objcopy -O binary` makes of
 * it (arch/arm64/boot/Makefile builds `Image` that way). The Image header sits
 * at the entry point, `_text` (arch/arm64/kernel/vmlinux.lds.S: ENTRY(_text)).
 */

const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELFDATA2MSB = 2;
const ET_EXEC = 2;
const ET_DYN = 3;
export const EM_AARCH64 = 183;
const PT_LOAD = 1;
const PN_XNUM = 0xffff;
const ELF64_PHDR_SIZE = 56;

const ELF_TYPES: Record<number, string> = { 0: "ET_NONE", 1: "ET_REL (an object file)", 4: "ET_CORE (a core dump)" };
const MACHINES: Record<number, string> = { 3: "x86", 40: "32-bit ARM", 62: "x86-64", 243: "RISC-V", 258: "LoongArch" };

export const ELF64_HEADER = defineLayout("ELF64 header", 64, [
  { name: "magic", offset: 0, kind: "u32BE", note: "\\x7fELF" },
  { name: "class", offset: 4, kind: "u8", note: "EI_CLASS, 2 = ELFCLASS64" },
  { name: "data", offset: 5, kind: "u8", note: "EI_DATA, 1 = little-endian" },
  { name: "type", offset: 16, kind: "u16LE", note: "e_type, ET_EXEC or ET_DYN" },
  { name: "machine", offset: 18, kind: "u16LE", note: "e_machine, EM_AARCH64 = 183" },
  { name: "entry", offset: 24, kind: "u64LE", note: "e_entry, virtual address of _text" },
  { name: "phoff", offset: 32, kind: "u64LE", note: "e_phoff, program header table offset" },
  { name: "phentsize", offset: 54, kind: "u16LE", note: "e_phentsize, 56" },
  { name: "phnum", offset: 56, kind: "u16LE", note: "e_phnum" },
] as const);

export const ELF64_PHDR = defineLayout("ELF64 program header", ELF64_PHDR_SIZE, [
  { name: "type", offset: 0, kind: "u32LE", note: "p_type, PT_LOAD = 1" },
  { name: "offset", offset: 8, kind: "u64LE", note: "p_offset, file offset" },
  { name: "vaddr", offset: 16, kind: "u64LE", note: "p_vaddr" },
  { name: "filesz", offset: 32, kind: "u64LE", note: "p_filesz, bytes in the file" },
  { name: "memsz", offset: 40, kind: "u64LE", note: "p_memsz, bytes in memory (the rest is zero)" },
] as const);

export interface LoadSegment {
  readonly offset: bigint;
  readonly vaddr: bigint;
  readonly filesz: bigint;
  readonly memsz: bigint;
}

export interface Vmlinux {
  readonly entry: bigint;
  /** PT_LOAD segments with a non-zero p_memsz, by ascending p_vaddr. */
  readonly segments: readonly LoadSegment[];
  /** The flat image: file bytes of every segment at p_vaddr - lowest p_vaddr, gaps zero. */
  readonly image: Uint8Array;
  /** Bytes from the lowest p_vaddr to the end of the highest p_memsz (image plus BSS). */
  readonly memSize: bigint;
}

/** True when `bytes` starts with the ELF magic. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
}

/**
 * Lays the PT_LOAD segments of an arm64 vmlinux out as a flat image, at most
 * `limit` bytes long.
 * @throws InputError `ELF` (not a little-endian ELF64 arm64 executable,
 *   segments outside the file or overlapping, entry not at the lowest
 *   segment), `BIG_ENDIAN`, `TRUNCATED` or `TOO_LARGE`.
 */
export function flattenVmlinux(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Vmlinux {
  const h = decodeLayout(ELF64_HEADER, bytes);
  if (h.magic !== 0x7f454c46) throw new InputError("ELF", "Cannot read vmlinux: no ELF magic", 0, "The file is not an ELF file");
  if (h.data === ELFDATA2MSB) {
    const machine = (bytes[18] ?? 0) * 256 + (bytes[19] ?? 0);
    throw new InputError(
      machine === EM_AARCH64 ? "BIG_ENDIAN" : "ELF",
      machine === EM_AARCH64
        ? "Cannot load the kernel: the vmlinux is a big-endian (ELFDATA2MSB) arm64 kernel"
        : "Cannot load vmlinux: it is a big-endian ELF",
      5,
      "Only little-endian arm64 kernels are supported",
    );
  }
  if (h.class !== ELFCLASS64 || h.data !== ELFDATA2LSB) {
    throw new InputError(
      "ELF",
      `Cannot load vmlinux: ELF class ${h.class} and data encoding ${h.data} are not ELFCLASS64 little-endian`,
      4,
      "An arm64 vmlinux is a 64-bit little-endian ELF",
    );
  }
  if (h.machine !== EM_AARCH64) {
    throw new InputError(
      "ELF",
      `Cannot load vmlinux: e_machine is ${h.machine}${MACHINES[h.machine] ? ` (${MACHINES[h.machine]})` : ""}, not EM_AARCH64 (${EM_AARCH64})`,
      18,
      "Use the arm64 build of the kernel",
    );
  }
  if (h.type !== ET_EXEC && h.type !== ET_DYN) {
    throw new InputError(
      "ELF",
      `Cannot load vmlinux: e_type is ${h.type}${ELF_TYPES[h.type] ? ` (${ELF_TYPES[h.type]})` : ""}, not an executable (ET_EXEC or ET_DYN)`,
      16,
      "Pass the linked vmlinux from the top of the kernel build tree",
    );
  }
  if (h.phentsize !== ELF64_PHDR_SIZE || h.phnum === 0 || h.phnum === PN_XNUM) {
    throw new InputError(
      "ELF",
      `Cannot load vmlinux: program header table has e_phentsize ${h.phentsize} and e_phnum ${h.phnum}; expected ${ELF64_PHDR_SIZE} and 1..${PN_XNUM - 1}`,
      54,
      "The ELF header is corrupt",
    );
  }
  const fileLen = BigInt(bytes.length);
  if (h.phoff + BigInt(h.phnum * ELF64_PHDR_SIZE) > fileLen) {
    throw new InputError(
      "TRUNCATED",
      `Cannot load vmlinux: program header table ${hex(h.phoff)}+${hex(h.phnum * ELF64_PHDR_SIZE)} lies past the end of the ${hex(bytes.length)}-byte file`,
      32,
      "The file is truncated",
    );
  }
  const segments: (LoadSegment & { at: number })[] = [];
  for (let i = 0; i < h.phnum; i++) {
    const at = Number(h.phoff) + i * ELF64_PHDR_SIZE;
    const p = decodeLayout(ELF64_PHDR, bytes, at);
    if (p.type !== PT_LOAD || p.memsz === 0n) continue;
    if (p.filesz > p.memsz) {
      throw new InputError("ELF", `Cannot load vmlinux: PT_LOAD ${i} has p_filesz ${hex(p.filesz)} > p_memsz ${hex(p.memsz)}`, at + 32, "The program headers are corrupt");
    }
    if (p.offset + p.filesz > fileLen) {
      throw new InputError(
        "TRUNCATED",
        `Cannot load vmlinux: PT_LOAD ${i} data ${hex(p.offset)}+${hex(p.filesz)} lies past the end of the ${hex(bytes.length)}-byte file`,
        at + 8,
        "The file is truncated",
      );
    }
    if (p.vaddr + p.memsz > 1n << 64n) {
      throw new InputError("ELF", `Cannot load vmlinux: PT_LOAD ${i} at ${hex(p.vaddr)}+${hex(p.memsz)} wraps past 2^64`, at + 16, "The program headers are corrupt");
    }
    segments.push({ offset: p.offset, vaddr: p.vaddr, filesz: p.filesz, memsz: p.memsz, at });
  }
  segments.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  const first = segments[0];
  if (first === undefined) {
    throw new InputError("ELF", "Cannot load vmlinux: it has no PT_LOAD segment", Number(h.phoff), "The file is not a linked kernel");
  }
  let fileEnd = 0n;
  let memEnd = 0n;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const next = segments[i + 1];
    if (next !== undefined && s.vaddr + s.memsz > next.vaddr) {
      throw new InputError(
        "ELF",
        `Cannot load vmlinux: PT_LOAD segments at ${hex(s.vaddr)}+${hex(s.memsz)} and ${hex(next.vaddr)} overlap`,
        next.at + 16,
        "The program headers are corrupt",
      );
    }
    if (s.filesz > 0n) fileEnd = s.vaddr + s.filesz - first.vaddr;
    memEnd = s.vaddr + s.memsz - first.vaddr;
  }
  if (h.entry !== first.vaddr) {
    throw new InputError(
      "ELF",
      `Cannot load vmlinux: e_entry ${hex(h.entry)} is not the lowest PT_LOAD address ${hex(first.vaddr)}, where the Image header must start`,
      24,
      "The vmlinux is not a standard arm64 kernel link (ENTRY(_text))",
    );
  }
  if (fileEnd > BigInt(limit)) throw tooLarge("the vmlinux PT_LOAD segments span", limit, first.at);
  const image = new Uint8Array(Number(fileEnd));
  for (const s of segments) {
    if (s.filesz === 0n) continue; // all BSS: may start past the end of the flat image
    const from = Number(s.offset);
    image.set(bytes.subarray(from, from + Number(s.filesz)), Number(s.vaddr - first.vaddr));
  }
  return {
    entry: h.entry,
    segments: segments.map(({ offset, vaddr, filesz, memsz }) => ({ offset, vaddr, filesz, memsz })),
    image,
    memSize: memEnd,
  };
}

import { InputError, decodeLayout, hex } from "../bytes/index.js";
import { ELF64_EHDR, ELF64_PHDR, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_AARCH64, PT_LOAD } from "../elf/layout.js";
import { MAX_DECOMPRESSED, tooLarge } from "./_common.js";

/**
 * `vmlinux`, the kernel as an ELF64 executable (System V gABI, "ELF Header"
 * and "Program Header"). The loadable bytes are its PT_LOAD segments laid out
 * from the lowest virtual address, which is what `objcopy -O binary` makes of
 * it (arch/arm64/boot/Makefile builds `Image` that way). The Image header sits
 * at the entry point, `_text` (arch/arm64/kernel/vmlinux.lds.S: ENTRY(_text)).
 */

// ELFDATA2MSB, ET_EXEC, ET_DYN: System V gABI; the rest comes from elf/layout.ts.
const ELFDATA2MSB = 2;
const ET_EXEC = 2;
const ET_DYN = 3;
const PN_XNUM = 0xffff;
export { EM_AARCH64 };
const ELF64_PHDR_SIZE = ELF64_PHDR.size;

const ELF_TYPES: Record<number, string> = { 0: "ET_NONE", 1: "ET_REL (an object file)", 4: "ET_CORE (a core dump)" };
const MACHINES: Record<number, string> = { 3: "x86", 40: "32-bit ARM", 62: "x86-64", 243: "RISC-V", 258: "LoongArch" };

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
 * @throws InputError `BAD_ELF` (not a little-endian ELF64 arm64 executable,
 *   segments outside the file or overlapping, entry not at the lowest
 *   segment), `UNSUPPORTED_BIG_ENDIAN`, `TRUNCATED` or `TOO_LARGE`.
 */
export function flattenVmlinux(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Vmlinux {
  const h = decodeLayout(ELF64_EHDR, bytes);
  if (!ELFMAG.every((b, i) => h.ei_mag[i] === b)) throw new InputError("NOT_ELF", "Cannot read vmlinux: no ELF magic", 0, "The file is not an ELF file");
  if (h.ei_data === ELFDATA2MSB) {
    const machine = (bytes[18] ?? 0) * 256 + (bytes[19] ?? 0);
    throw new InputError(
      machine === EM_AARCH64 ? "UNSUPPORTED_BIG_ENDIAN" : "BAD_ELF",
      machine === EM_AARCH64
        ? "Cannot load the kernel: the vmlinux is a big-endian (ELFDATA2MSB) arm64 kernel"
        : "Cannot load vmlinux: it is a big-endian ELF",
      5,
      "Only little-endian arm64 kernels are supported",
    );
  }
  if (h.ei_class !== ELFCLASS64 || h.ei_data !== ELFDATA2LSB) {
    throw new InputError(
      "BAD_ELF",
      `Cannot load vmlinux: ELF class ${h.ei_class} and data encoding ${h.ei_data} are not ELFCLASS64 little-endian`,
      4,
      "An arm64 vmlinux is a 64-bit little-endian ELF",
    );
  }
  if (h.e_machine !== EM_AARCH64) {
    throw new InputError(
      "BAD_ELF",
      `Cannot load vmlinux: e_machine is ${h.e_machine}${MACHINES[h.e_machine] ? ` (${MACHINES[h.e_machine]})` : ""}, not EM_AARCH64 (${EM_AARCH64})`,
      18,
      "Use the arm64 build of the kernel",
    );
  }
  if (h.e_type !== ET_EXEC && h.e_type !== ET_DYN) {
    throw new InputError(
      "BAD_ELF",
      `Cannot load vmlinux: e_type is ${h.e_type}${ELF_TYPES[h.e_type] ? ` (${ELF_TYPES[h.e_type]})` : ""}, not an executable (ET_EXEC or ET_DYN)`,
      16,
      "Pass the linked vmlinux from the top of the kernel build tree",
    );
  }
  if (h.e_phentsize !== ELF64_PHDR_SIZE || h.e_phnum === 0 || h.e_phnum === PN_XNUM) {
    throw new InputError(
      "BAD_ELF",
      `Cannot load vmlinux: program header table has e_phentsize ${h.e_phentsize} and e_phnum ${h.e_phnum}; expected ${ELF64_PHDR_SIZE} and 1..${PN_XNUM - 1}`,
      54,
      "The ELF header is corrupt",
    );
  }
  const fileLen = BigInt(bytes.length);
  if (h.e_phoff + BigInt(h.e_phnum * ELF64_PHDR_SIZE) > fileLen) {
    throw new InputError(
      "TRUNCATED",
      `Cannot load vmlinux: program header table ${hex(h.e_phoff)}+${hex(h.e_phnum * ELF64_PHDR_SIZE)} lies past the end of the ${hex(bytes.length)}-byte file`,
      32,
      "The file is truncated",
    );
  }
  const segments: (LoadSegment & { at: number })[] = [];
  for (let i = 0; i < h.e_phnum; i++) {
    const at = Number(h.e_phoff) + i * ELF64_PHDR_SIZE;
    const p = decodeLayout(ELF64_PHDR, bytes, at);
    if (p.p_type !== PT_LOAD || p.p_memsz === 0n) continue;
    if (p.p_filesz > p.p_memsz) {
      throw new InputError("BAD_ELF", `Cannot load vmlinux: PT_LOAD ${i} has p_filesz ${hex(p.p_filesz)} > p_memsz ${hex(p.p_memsz)}`, at + 32, "The program headers are corrupt");
    }
    if (p.p_offset + p.p_filesz > fileLen) {
      throw new InputError(
        "TRUNCATED",
        `Cannot load vmlinux: PT_LOAD ${i} data ${hex(p.p_offset)}+${hex(p.p_filesz)} lies past the end of the ${hex(bytes.length)}-byte file`,
        at + 8,
        "The file is truncated",
      );
    }
    if (p.p_vaddr + p.p_memsz > 1n << 64n) {
      throw new InputError("BAD_ELF", `Cannot load vmlinux: PT_LOAD ${i} at ${hex(p.p_vaddr)}+${hex(p.p_memsz)} wraps past 2^64`, at + 16, "The program headers are corrupt");
    }
    segments.push({ offset: p.p_offset, vaddr: p.p_vaddr, filesz: p.p_filesz, memsz: p.p_memsz, at });
  }
  segments.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
  const first = segments[0];
  if (first === undefined) {
    throw new InputError("BAD_ELF", "Cannot load vmlinux: it has no PT_LOAD segment", Number(h.e_phoff), "The file is not a linked kernel");
  }
  let fileEnd = 0n;
  let memEnd = 0n;
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    const next = segments[i + 1];
    if (next !== undefined && s.vaddr + s.memsz > next.vaddr) {
      throw new InputError(
        "BAD_ELF",
        `Cannot load vmlinux: PT_LOAD segments at ${hex(s.vaddr)}+${hex(s.memsz)} and ${hex(next.vaddr)} overlap`,
        next.at + 16,
        "The program headers are corrupt",
      );
    }
    if (s.filesz > 0n) fileEnd = s.vaddr + s.filesz - first.vaddr;
    memEnd = s.vaddr + s.memsz - first.vaddr;
  }
  if (h.e_entry !== first.vaddr) {
    throw new InputError(
      "BAD_ELF",
      `Cannot load vmlinux: e_entry ${hex(h.e_entry)} is not the lowest PT_LOAD address ${hex(first.vaddr)}, where the Image header must start`,
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
    entry: h.e_entry,
    segments: segments.map(({ offset, vaddr, filesz, memsz }) => ({ offset, vaddr, filesz, memsz })),
    image,
    memSize: memEnd,
  };
}

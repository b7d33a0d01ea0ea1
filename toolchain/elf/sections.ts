import { InputError, decodeLayout, hex, toNumber } from "../bytes/index.js";
import type { Record_ } from "../bytes/index.js";
import { ELF64_SHDR, SHN_LORESERVE, SHN_XINDEX, SHT_NOBITS } from "./layout.js";
import { latin1, parseElfHeader } from "./read.js";

/**
 * ELF64 little-endian section headers: how a relocatable file such as a
 * kernel module is read (its `.modinfo` section, include/linux/moduleparam.h
 * MODULE_INFO; kernel/module/main.c reads it the same way), with the gABI's
 * extended numbering (e_shnum 0, e_shstrndx SHN_XINDEX) honoured.
 */

export type SectionHeader = Record_<typeof ELF64_SHDR.fields>;

export interface Section {
  readonly index: number;
  /** The name from the section name table ("" for section 0). */
  readonly name: string;
  readonly header: SectionHeader;
}

/**
 * Reads every section header of an ELF64 LE file and names it.
 * @throws InputError from `parseElfHeader`, `TRUNCATED` when the table or
 *   the name table runs past the file, and `BAD_SECTION` for an
 *   e_shentsize other than 64 or a name table index out of range.
 */
export function readSections(bytes: Uint8Array): Section[] {
  const h = parseElfHeader(bytes);
  if (h.e_shoff === 0n) return [];
  if (h.e_shentsize !== ELF64_SHDR.size) {
    throw new InputError("BAD_SECTION", `Cannot read section headers: e_shentsize ${h.e_shentsize} is not ${ELF64_SHDR.size}`, 58, "An ELF64 section header is 64 bytes.");
  }
  const at = toNumber(h.e_shoff, "e_shoff", 40);
  const header = (i: number): SectionHeader => {
    const o = at + i * ELF64_SHDR.size;
    if (o + ELF64_SHDR.size > bytes.length) {
      throw new InputError("TRUNCATED", `Cannot read section header ${i}: it runs past the end of the ${bytes.length}-byte file`, o, "The file is cut short; copy it again.");
    }
    return decodeLayout(ELF64_SHDR, bytes, o);
  };
  const zero = header(0);
  const count = h.e_shnum === 0 ? toNumber(zero.sh_size, "section count (section 0 sh_size)", at) : h.e_shnum;
  const shstrndx = h.e_shstrndx === SHN_XINDEX ? zero.sh_link : h.e_shstrndx;
  if (count > 0 && at + count * ELF64_SHDR.size > bytes.length) {
    throw new InputError("TRUNCATED", `Cannot read ${count} section headers at ${hex(at)}: they run past the end of the ${bytes.length}-byte file`, at, "The file is cut short; copy it again.");
  }
  const headers = Array.from({ length: count }, (_, i) => header(i));
  if (shstrndx === 0 || (shstrndx >= SHN_LORESERVE && h.e_shstrndx !== SHN_XINDEX)) {
    return headers.map((s, index) => ({ index, name: "", header: s }));
  }
  const names = headers[shstrndx];
  if (names === undefined) {
    throw new InputError("BAD_SECTION", `Cannot name sections: e_shstrndx ${shstrndx} is not below the section count ${count}`, 62, "The file is damaged.");
  }
  const table = sectionBytes(bytes, names, shstrndx);
  return headers.map((s, index) => {
    if (index === 0) return { index, name: "", header: s };
    const end = s.sh_name < table.length ? table.indexOf(0, s.sh_name) : -1;
    if (end < 0) {
      throw new InputError("BAD_SECTION", `Cannot name section ${index}: sh_name ${s.sh_name} has no NUL inside the ${table.length}-byte name table`, at + index * ELF64_SHDR.size, "The file is damaged.");
    }
    return { index, name: latin1(table.subarray(s.sh_name, end)), header: s };
  });
}

/**
 * The file contents of a section (empty for SHT_NOBITS).
 * @throws InputError `TRUNCATED` when they run past the file.
 */
export function sectionBytes(bytes: Uint8Array, s: SectionHeader, index: number): Uint8Array {
  if (s.sh_type === SHT_NOBITS) return new Uint8Array(0);
  const at = toNumber(s.sh_offset, "sh_offset");
  const size = toNumber(s.sh_size, "sh_size");
  if (at + size > bytes.length) {
    throw new InputError("TRUNCATED", `Cannot read section ${index}: ${size} bytes at ${hex(at)} run past the end of the ${bytes.length}-byte file`, at, "The file is cut short; copy it again.");
  }
  return bytes.subarray(at, at + size);
}

/** The contents of the first section named `name`, or null when there is none. @throws InputError as `readSections`. */
export function findSection(bytes: Uint8Array, name: string): Uint8Array | null {
  const s = readSections(bytes).find((x) => x.name === name);
  return s === undefined ? null : sectionBytes(bytes, s.header, s.index);
}

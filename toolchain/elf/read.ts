import { InputError, decodeLayout, hex, toNumber } from "../bytes/index.js";
import type { Record_ } from "../bytes/index.js";
import { ELF64_EHDR, ELF64_NHDR, ELF64_PHDR, ELFCLASS64, ELFDATA2LSB, ELFMAG, EV_CURRENT, align4 } from "./layout.js";

/**
 * ELF64 little-endian reader for what this project needs: the file header,
 * the program headers and notes. It reads the kernel's `/proc/kcore` (header
 * and notes only, never the memory behind it) and the elfcorehdrs we write.
 * Every malformed input throws `InputError` with the byte offset.
 */

export type ElfHeader = Record_<typeof ELF64_EHDR.fields>;
export type ProgramHeader = Record_<typeof ELF64_PHDR.fields>;

/** One note record. `offset` is where its 12-byte header starts, in the same units as `base`. */
export interface Note {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
  readonly offset: number;
}

/**
 * Decodes and checks the 64-byte file header at the start of `bytes`.
 * @throws InputError `TRUNCATED`, `NOT_ELF`, `UNSUPPORTED_ELF` (not ELF64 LE, or an unexpected phentsize).
 */
export function parseElfHeader(bytes: Uint8Array): ElfHeader {
  if (bytes.length < ELF64_EHDR.size) {
    throw new InputError(
      "TRUNCATED",
      `Cannot read ELF header: needs ${ELF64_EHDR.size} bytes, ${bytes.length} given`,
      0,
      "The file is cut short; copy it again.",
    );
  }
  const h = decodeLayout(ELF64_EHDR, bytes);
  if (!ELFMAG.every((b, i) => h.ei_mag[i] === b)) {
    throw new InputError("NOT_ELF", "Cannot read ELF header: the magic is not 7f 45 4c 46", 0, "Give an ELF file.");
  }
  if (h.ei_class !== ELFCLASS64) {
    throw new InputError("UNSUPPORTED_ELF", `Cannot read ELF header: class ${h.ei_class} is not ELFCLASS64 (2)`, 4, "Only 64-bit ELF is read.");
  }
  if (h.ei_data !== ELFDATA2LSB) {
    throw new InputError("UNSUPPORTED_ELF", `Cannot read ELF header: data encoding ${h.ei_data} is not ELFDATA2LSB (1)`, 5, "Only little-endian ELF is read.");
  }
  if (h.ei_version !== EV_CURRENT) {
    throw new InputError("UNSUPPORTED_ELF", `Cannot read ELF header: EI_VERSION ${h.ei_version} is not EV_CURRENT (1)`, 6);
  }
  if (h.e_phnum > 0 && h.e_phentsize !== ELF64_PHDR.size) {
    throw new InputError(
      "UNSUPPORTED_ELF",
      `Cannot read ELF header: e_phentsize ${h.e_phentsize} is not ${ELF64_PHDR.size}`,
      54,
      "An ELF64 program header is 56 bytes.",
    );
  }
  return h;
}

/**
 * Decodes `count` program headers from `bytes` (which holds the table). `base`
 * is the table's file offset, used only in messages.
 * @throws InputError `TRUNCATED` when `bytes` is shorter than the table.
 */
export function parseProgramHeaders(bytes: Uint8Array, count: number, base = 0): ProgramHeader[] {
  const need = count * ELF64_PHDR.size;
  if (bytes.length < need) {
    throw new InputError(
      "TRUNCATED",
      `Cannot read ${count} program headers: needs ${need} bytes, ${bytes.length} available`,
      base + bytes.length,
      "The file is cut short; copy it again.",
    );
  }
  const out: ProgramHeader[] = [];
  for (let i = 0; i < count; i++) out.push(decodeLayout(ELF64_PHDR, bytes, i * ELF64_PHDR.size));
  return out;
}

/** The file offset and byte length of the program header table, checked to be addressable. */
export function programHeaderSpan(h: ElfHeader): { at: number; length: number } {
  const at = toNumber(h.e_phoff, "e_phoff", 32);
  return { at, length: h.e_phnum * ELF64_PHDR.size };
}

/**
 * Reads the header and program headers of an ELF64 LE file held in memory.
 * @throws InputError when the header is bad or the table lies past the end.
 */
export function readElf(bytes: Uint8Array): { header: ElfHeader; programHeaders: ProgramHeader[] } {
  const header = parseElfHeader(bytes);
  const { at, length } = programHeaderSpan(header);
  if (at > bytes.length) {
    throw new InputError(
      "TRUNCATED",
      `Cannot read program headers: e_phoff ${hex(at)} lies past the end of the ${bytes.length}-byte file`,
      32,
      "The file is cut short or e_phoff is wrong.",
    );
  }
  const programHeaders = parseProgramHeaders(bytes.subarray(at, at + length), header.e_phnum, at);
  return { header, programHeaders };
}

/**
 * Walks note records in `bytes` (a PT_NOTE segment's contents). Stops at the
 * end or at a record whose `n_namesz` is 0, as the kernel's vmcore walk does
 * (`fs/proc/vmcore.c update_note_header_size_elf64`). The name loses its
 * trailing NULs. `base` is the segment's file offset, for messages and `Note.offset`.
 * @throws InputError `TRUNCATED` when a record runs past the end.
 */
export function parseNotes(bytes: Uint8Array, base = 0): Note[] {
  const notes: Note[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes.length - pos < ELF64_NHDR.size) {
      throw new InputError(
        "TRUNCATED",
        `Cannot read note header: needs ${ELF64_NHDR.size} bytes, ${bytes.length - pos} left in the note segment`,
        base + pos,
      );
    }
    const n = decodeLayout(ELF64_NHDR, bytes, pos);
    if (n.n_namesz === 0) break;
    const nameAt = pos + ELF64_NHDR.size;
    const descAt = nameAt + align4(n.n_namesz);
    const end = descAt + align4(n.n_descsz);
    if (end > bytes.length) {
      throw new InputError(
        "TRUNCATED",
        `Cannot read note: name ${n.n_namesz} and descriptor ${n.n_descsz} bytes run ${end - bytes.length} bytes past the note segment`,
        base + pos,
        "The note segment is cut short, or its size in the program header is wrong.",
      );
    }
    let nameEnd = nameAt + n.n_namesz;
    while (nameEnd > nameAt && bytes[nameEnd - 1] === 0) nameEnd--;
    notes.push({
      name: latin1(bytes.subarray(nameAt, nameEnd)),
      type: n.n_type,
      desc: bytes.subarray(descAt, descAt + n.n_descsz),
      offset: base + pos,
    });
    pos = end;
  }
  return notes;
}

/** Bytes as a string of the same code units (names in ELF files are bytes, not UTF-8). */
export function latin1(b: Uint8Array): string {
  let s = "";
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

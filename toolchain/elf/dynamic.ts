import { InputError, decodeLayout, hex, toNumber } from "../bytes/index.js";
import { DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB, ELF64_DYN, PT_DYNAMIC, PT_INTERP, PT_LOAD } from "./layout.js";
import { latin1, readElf } from "./read.js";
import type { ElfHeader, ProgramHeader } from "./read.js";

/**
 * What the dynamic linker reads of an executable or shared object before it
 * maps anything else: the program interpreter (PT_INTERP) and, from the
 * PT_DYNAMIC table, the libraries it needs (DT_NEEDED), its own soname and
 * its search paths (DT_RPATH, DT_RUNPATH). The names are NUL-terminated
 * strings in the table DT_STRTAB points at, an address that PT_LOAD maps to a
 * file offset (ELF gABI "Dynamic Section"; glibc elf/dl-load.c).
 */

export interface DynamicInfo {
  readonly header: ElfHeader;
  /** PT_INTERP: the path of the program interpreter, or null (a static executable or a shared library). */
  readonly interpreter: string | null;
  /** False when there is no PT_DYNAMIC (statically linked): the rest is then empty. */
  readonly dynamic: boolean;
  /** DT_NEEDED, in table order (the order the dynamic linker loads them). */
  readonly needed: readonly string[];
  readonly soname: string | null;
  /** DT_RPATH split at ':' (searched only when there is no DT_RUNPATH). */
  readonly rpath: readonly string[];
  /** DT_RUNPATH split at ':'. */
  readonly runpath: readonly string[];
}

/**
 * Reads PT_INTERP and the PT_DYNAMIC table of an ELF64 little-endian file.
 * @throws InputError from `readElf` for a bad header, `TRUNCATED` when a
 *   segment runs past the file, and `BAD_DYNAMIC` when PT_INTERP has no NUL,
 *   the table has no DT_NULL, DT_STRTAB lies outside every PT_LOAD or a name
 *   lies outside DT_STRSZ.
 */
export function readDynamic(bytes: Uint8Array): DynamicInfo {
  const { header, programHeaders } = readElf(bytes);
  const interp = programHeaders.find((p) => p.p_type === PT_INTERP);
  let interpreter: string | null = null;
  if (interp !== undefined) {
    const seg = contents(bytes, interp, "PT_INTERP");
    const nul = seg.indexOf(0);
    if (nul < 0) {
      throw new InputError("BAD_DYNAMIC", "Cannot read PT_INTERP: the interpreter path has no terminating NUL", toNumber(interp.p_offset, "p_offset"), "The file is damaged.");
    }
    interpreter = latin1(seg.subarray(0, nul));
  }
  const dyn = programHeaders.find((p) => p.p_type === PT_DYNAMIC);
  if (dyn === undefined) return { header, interpreter, dynamic: false, needed: [], soname: null, rpath: [], runpath: [] };

  const table = contents(bytes, dyn, "PT_DYNAMIC");
  const base = toNumber(dyn.p_offset, "p_offset");
  const entries: { tag: bigint; val: bigint; at: number }[] = [];
  for (let at = 0; ; at += ELF64_DYN.size) {
    if (at + ELF64_DYN.size > table.length) {
      throw new InputError("BAD_DYNAMIC", `Cannot read the dynamic table: no DT_NULL in its ${table.length} bytes`, base + at, "The file is damaged.");
    }
    const e = decodeLayout(ELF64_DYN, table, at);
    if (e.d_tag === BigInt(DT_NULL)) break;
    entries.push({ tag: e.d_tag, val: e.d_val, at: base + at });
  }
  const one = (tag: number) => entries.find((e) => e.tag === BigInt(tag));
  const strtab = one(DT_STRTAB);
  const strsz = one(DT_STRSZ);
  const strings = entries.filter((e) => [DT_NEEDED, DT_SONAME, DT_RPATH, DT_RUNPATH].some((t) => e.tag === BigInt(t)));
  if (strings.length > 0 && (strtab === undefined || strsz === undefined)) {
    throw new InputError("BAD_DYNAMIC", "Cannot read the dynamic table: it names libraries or paths but has no DT_STRTAB/DT_STRSZ", base, "The file is damaged.");
  }
  const table_ = strtab === undefined || strsz === undefined ? new Uint8Array(0) : stringTable(bytes, programHeaders, strtab.val, strsz.val, strtab.at);
  const str = (e: { val: bigint; at: number }): string => {
    const off = e.val < BigInt(table_.length) ? Number(e.val) : -1;
    const nul = off < 0 ? -1 : table_.indexOf(0, off);
    if (nul < 0) {
      throw new InputError("BAD_DYNAMIC", `Cannot read a dynamic-table name: string offset ${hex(e.val)} has no NUL inside DT_STRSZ ${table_.length}`, e.at, "The file is damaged.");
    }
    return latin1(table_.subarray(off, nul));
  };
  const of = (tag: number) => entries.filter((e) => e.tag === BigInt(tag)).map(str);
  const paths = (tag: number) => of(tag).flatMap((s) => s.split(":")).filter((s) => s !== "");
  return { header, interpreter, dynamic: true, needed: of(DT_NEEDED), soname: of(DT_SONAME)[0] ?? null, rpath: paths(DT_RPATH), runpath: paths(DT_RUNPATH) };
}

/** The file bytes of a segment. */
function contents(bytes: Uint8Array, p: ProgramHeader, what: string): Uint8Array {
  const at = toNumber(p.p_offset, "p_offset");
  const size = toNumber(p.p_filesz, "p_filesz");
  if (at + size > bytes.length) {
    throw new InputError("TRUNCATED", `Cannot read ${what}: ${size} bytes at ${hex(at)} run past the end of the ${bytes.length}-byte file`, at, "The file is cut short; copy it again.");
  }
  return bytes.subarray(at, at + size);
}

/** DT_STRTAB is an address: the PT_LOAD that maps it gives its file offset. */
function stringTable(bytes: Uint8Array, phdrs: readonly ProgramHeader[], addr: bigint, size: bigint, where: number): Uint8Array {
  const load = phdrs.find((p) => p.p_type === PT_LOAD && addr >= p.p_vaddr && addr + size <= p.p_vaddr + p.p_filesz);
  if (load === undefined) {
    throw new InputError("BAD_DYNAMIC", `Cannot read the dynamic string table: ${hex(addr)}+${hex(size)} lies in no PT_LOAD's file bytes`, where, "The file is damaged.");
  }
  const at = toNumber(addr - load.p_vaddr + load.p_offset, "DT_STRTAB offset");
  const n = toNumber(size, "DT_STRSZ");
  if (at + n > bytes.length) {
    throw new InputError("TRUNCATED", `Cannot read the dynamic string table: ${n} bytes at ${hex(at)} run past the end of the file`, at, "The file is cut short; copy it again.");
  }
  return bytes.subarray(at, at + n);
}

import { ELF64_DYN, ELF64_EHDR, ELF64_PHDR, ELF64_SHDR, EM_AARCH64, ET_DYN, ET_EXEC, ET_REL, PT_DYNAMIC, PT_INTERP, PT_LOAD } from "../../toolchain/elf/index.js";
import { DT_NEEDED, DT_NULL, DT_RPATH, DT_RUNPATH, DT_SONAME, DT_STRSZ, DT_STRTAB } from "../../toolchain/elf/index.js";
import { encodeLayout } from "../../toolchain/bytes/index.js";

/**
 * Tiny ELF files for tests: an executable or shared object with only what
 * the dynamic linker reads first (PT_LOAD, PT_INTERP, PT_DYNAMIC and its
 * string table), and a relocatable "kernel module" with a .modinfo section.
 * readelf reads them too (test/elf/dynamic.test.ts, sections.test.ts).
 */

export interface DynamicSpec {
  readonly machine?: number;
  /** "exec" or "dyn" (default: "exec" with an interpreter, else "dyn"). */
  readonly type?: "exec" | "dyn";
  readonly interpreter?: string;
  readonly needed?: readonly string[];
  readonly soname?: string;
  readonly rpath?: string;
  readonly runpath?: string;
  /** No PT_DYNAMIC at all: a static program. */
  readonly static?: boolean;
  /** Bytes appended after everything (e.g. busybox's applet table). */
  readonly tail?: Uint8Array;
}

const BASE = 0x400000n;

export function dynamicElf(s: DynamicSpec): Uint8Array {
  const enc = new TextEncoder();
  const interp = s.interpreter === undefined ? null : enc.encode(`${s.interpreter}\0`);
  const strings: string[] = [];
  const str = (v: string) => {
    const at = 1 + strings.reduce((n, x) => n + enc.encode(x).length + 1, 0);
    strings.push(v);
    return at;
  };
  const tags: [number, bigint][] = [];
  if (s.static !== true) {
    for (const n of s.needed ?? []) tags.push([DT_NEEDED, BigInt(str(n))]);
    if (s.soname !== undefined) tags.push([DT_SONAME, BigInt(str(s.soname))]);
    if (s.rpath !== undefined) tags.push([DT_RPATH, BigInt(str(s.rpath))]);
    if (s.runpath !== undefined) tags.push([DT_RUNPATH, BigInt(str(s.runpath))]);
  }
  const strtab = enc.encode(`\0${strings.map((x) => `${x}\0`).join("")}`);
  const phnum = 1 + (interp === null ? 0 : 1) + (s.static === true ? 0 : 1);
  const interpAt = ELF64_EHDR.size + phnum * ELF64_PHDR.size;
  const strAt = interpAt + (interp?.length ?? 0);
  const dynAt = (strAt + strtab.length + 7) & ~7;
  const dynEntries = s.static === true ? 0 : tags.length + 3; // + DT_STRTAB, DT_STRSZ, DT_NULL
  const tailAt = dynAt + dynEntries * ELF64_DYN.size;
  const size = tailAt + (s.tail?.length ?? 0);
  const out = new Uint8Array(size);
  encodeLayout(ELF64_EHDR, {
    ei_mag: Uint8Array.of(0x7f, 0x45, 0x4c, 0x46), ei_class: 2, ei_data: 1, ei_version: 1, ei_osabi: 0, ei_abiversion: 0, ei_pad: new Uint8Array(7),
    e_type: (s.type ?? (interp === null ? "dyn" : "exec")) === "exec" ? ET_EXEC : ET_DYN, e_machine: s.machine ?? EM_AARCH64, e_version: 1,
    e_entry: BASE, e_phoff: BigInt(ELF64_EHDR.size), e_shoff: 0n, e_flags: 0, e_ehsize: 64, e_phentsize: 56, e_phnum: phnum,
    e_shentsize: 0, e_shnum: 0, e_shstrndx: 0,
  }, out);
  const ph = (i: number, type: number, at: number, len: number) =>
    encodeLayout(ELF64_PHDR, { p_type: type, p_flags: 4, p_offset: BigInt(at), p_vaddr: BASE + BigInt(at), p_paddr: BASE + BigInt(at), p_filesz: BigInt(len), p_memsz: BigInt(len), p_align: type === PT_LOAD ? 0x1000n : 1n }, out, ELF64_EHDR.size + i * ELF64_PHDR.size);
  let i = 0;
  ph(i++, PT_LOAD, 0, size);
  if (interp !== null) {
    ph(i++, PT_INTERP, interpAt, interp.length);
    out.set(interp, interpAt);
  }
  out.set(strtab, strAt);
  if (s.static !== true) {
    ph(i++, PT_DYNAMIC, dynAt, dynEntries * ELF64_DYN.size);
    const all: [number, bigint][] = [...tags, [DT_STRTAB, BASE + BigInt(strAt)], [DT_STRSZ, BigInt(strtab.length)], [DT_NULL, 0n]];
    all.forEach(([tag, val], k) => encodeLayout(ELF64_DYN, { d_tag: BigInt(tag), d_val: val }, out, dynAt + k * ELF64_DYN.size));
  }
  if (s.tail !== undefined) out.set(s.tail, tailAt);
  return out;
}

/** A relocatable ELF (a "kernel module") whose .modinfo holds `modinfo` ("key=value" strings). */
export function moduleElf(modinfo: readonly string[], machine = EM_AARCH64): Uint8Array {
  const enc = new TextEncoder();
  const info = enc.encode(modinfo.map((x) => `${x}\0`).join(""));
  const names = enc.encode("\0.modinfo\0.shstrtab\0");
  const infoAt = ELF64_EHDR.size;
  const namesAt = infoAt + info.length;
  const shAt = (namesAt + names.length + 7) & ~7;
  const out = new Uint8Array(shAt + 3 * ELF64_SHDR.size);
  encodeLayout(ELF64_EHDR, {
    ei_mag: Uint8Array.of(0x7f, 0x45, 0x4c, 0x46), ei_class: 2, ei_data: 1, ei_version: 1, ei_osabi: 0, ei_abiversion: 0, ei_pad: new Uint8Array(7),
    e_type: ET_REL, e_machine: machine, e_version: 1, e_entry: 0n, e_phoff: 0n, e_shoff: BigInt(shAt), e_flags: 0, e_ehsize: 64,
    e_phentsize: 0, e_phnum: 0, e_shentsize: 64, e_shnum: 3, e_shstrndx: 2,
  }, out);
  out.set(info, infoAt);
  out.set(names, namesAt);
  const sh = (k: number, name: number, type: number, at: number, len: number) =>
    encodeLayout(ELF64_SHDR, { sh_name: name, sh_type: type, sh_flags: type === 1 ? 2n : 0n, sh_addr: 0n, sh_offset: BigInt(at), sh_size: BigInt(len), sh_link: 0, sh_info: 0, sh_addralign: 1n, sh_entsize: 0n }, out, shAt + k * ELF64_SHDR.size);
  sh(0, 0, 0, 0, 0);
  sh(1, 1, 1, infoAt, info.length); // SHT_PROGBITS
  sh(2, 10, 3, namesAt, names.length); // SHT_STRTAB
  return out;
}

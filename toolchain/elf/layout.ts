import { defineLayout } from "../bytes/index.js";

/**
 * ELF64 little-endian on-disk layouts and the constants this project uses,
 * named as in the ELF specification and the kernel's `include/uapi/linux/elf.h`
 * so they can be grepped against both. Declared once; the reader, the writer
 * and the dump derive from these tables.
 */

export const ELFMAG = Uint8Array.of(0x7f, 0x45, 0x4c, 0x46); // "\x7fELF"
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;
export const ELFOSABI_NONE = 0;
export const ET_REL = 1;
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const ET_CORE = 4;
export const EM_AARCH64 = 183;

export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/** Note types seen in kdump/kcore notes (`include/uapi/linux/elf.h`). */
export const NT_PRSTATUS = 1;
export const NT_PRPSINFO = 3;
export const NT_TASKSTRUCT = 4;

/** Elf64_Ehdr: 64 bytes. */
export const ELF64_EHDR = defineLayout("ELF64 header", 64, [
  { name: "ei_mag", offset: 0, kind: "bytes", size: 4, note: "7f 45 4c 46" },
  { name: "ei_class", offset: 4, kind: "u8", note: "ELFCLASS64 = 2" },
  { name: "ei_data", offset: 5, kind: "u8", note: "ELFDATA2LSB = 1" },
  { name: "ei_version", offset: 6, kind: "u8", note: "EV_CURRENT = 1" },
  { name: "ei_osabi", offset: 7, kind: "u8", note: "ELFOSABI_NONE = 0" },
  { name: "ei_abiversion", offset: 8, kind: "u8", note: "0" },
  { name: "ei_pad", offset: 9, kind: "bytes", size: 7, note: "zero" },
  { name: "e_type", offset: 16, kind: "u16LE", note: "ET_CORE = 4" },
  { name: "e_machine", offset: 18, kind: "u16LE", note: "EM_AARCH64 = 183" },
  { name: "e_version", offset: 20, kind: "u32LE", note: "EV_CURRENT = 1" },
  { name: "e_entry", offset: 24, kind: "u64LE", note: "0 for a core file" },
  { name: "e_phoff", offset: 32, kind: "u64LE", note: "program headers, bytes from file start" },
  { name: "e_shoff", offset: 40, kind: "u64LE", note: "0: no section headers" },
  { name: "e_flags", offset: 48, kind: "u32LE", note: "0" },
  { name: "e_ehsize", offset: 52, kind: "u16LE", note: "64" },
  { name: "e_phentsize", offset: 54, kind: "u16LE", note: "56" },
  { name: "e_phnum", offset: 56, kind: "u16LE", note: "program header count" },
  { name: "e_shentsize", offset: 58, kind: "u16LE", note: "0" },
  { name: "e_shnum", offset: 60, kind: "u16LE", note: "0" },
  { name: "e_shstrndx", offset: 62, kind: "u16LE", note: "0" },
] as const);

/** Elf64_Phdr: 56 bytes. */
export const ELF64_PHDR = defineLayout("ELF64 program header", 56, [
  { name: "p_type", offset: 0, kind: "u32LE", note: "PT_LOAD = 1, PT_NOTE = 4" },
  { name: "p_flags", offset: 4, kind: "u32LE", note: "PF_R 4 | PF_W 2 | PF_X 1" },
  { name: "p_offset", offset: 8, kind: "u64LE", note: "file offset (a physical address in an elfcorehdr)" },
  { name: "p_vaddr", offset: 16, kind: "u64LE", note: "virtual address" },
  { name: "p_paddr", offset: 24, kind: "u64LE", note: "physical address" },
  { name: "p_filesz", offset: 32, kind: "u64LE", note: "bytes in the file" },
  { name: "p_memsz", offset: 40, kind: "u64LE", note: "bytes in memory" },
  { name: "p_align", offset: 48, kind: "u64LE", note: "alignment" },
] as const);

/** Elf64_Nhdr: 12 bytes, followed by the name and the descriptor, each padded to 4 bytes. */
export const ELF64_NHDR = defineLayout("ELF64 note header", 12, [
  { name: "n_namesz", offset: 0, kind: "u32LE", note: "name bytes including the NUL" },
  { name: "n_descsz", offset: 4, kind: "u32LE", note: "descriptor bytes" },
  { name: "n_type", offset: 8, kind: "u32LE", note: "note type" },
] as const);

/** Elf64_Shdr: 64 bytes (section headers: what a kernel module is read through). */
export const ELF64_SHDR = defineLayout("ELF64 section header", 64, [
  { name: "sh_name", offset: 0, kind: "u32LE", note: "name: offset into the section name table" },
  { name: "sh_type", offset: 4, kind: "u32LE", note: "SHT_PROGBITS 1, SHT_NOBITS 8, ..." },
  { name: "sh_flags", offset: 8, kind: "u64LE", note: "SHF_ALLOC 2, ..." },
  { name: "sh_addr", offset: 16, kind: "u64LE", note: "address in memory, 0 in a relocatable file" },
  { name: "sh_offset", offset: 24, kind: "u64LE", note: "file offset of the contents" },
  { name: "sh_size", offset: 32, kind: "u64LE", note: "bytes (none in the file for SHT_NOBITS)" },
  { name: "sh_link", offset: 40, kind: "u32LE", note: "a related section; in section 0 the real e_shstrndx when that is SHN_XINDEX" },
  { name: "sh_info", offset: 44, kind: "u32LE", note: "extra information" },
  { name: "sh_addralign", offset: 48, kind: "u64LE", note: "alignment" },
  { name: "sh_entsize", offset: 56, kind: "u64LE", note: "entry size of a table section" },
] as const);

/** Elf64_Dyn: 16 bytes, an entry of the PT_DYNAMIC table. d_tag is an Elf64_Sxword; every tag read here is small and positive. */
export const ELF64_DYN = defineLayout("ELF64 dynamic entry", 16, [
  { name: "d_tag", offset: 0, kind: "u64LE", note: "DT_NULL 0 ends the table, DT_NEEDED 1, ..." },
  { name: "d_val", offset: 8, kind: "u64LE", note: "a value, an address or a string-table offset" },
] as const);

export const SHT_NOBITS = 8;
/** Section indexes (ELF gABI "Special Section Indexes"): e_shnum 0 and e_shstrndx SHN_XINDEX move the real values into section 0. */
export const SHN_LORESERVE = 0xff00;
export const SHN_XINDEX = 0xffff;

/** Dynamic tags read by the shared-library closure (ELF gABI "Dynamic Section"). */
export const DT_NULL = 0;
export const DT_NEEDED = 1;
export const DT_STRTAB = 5;
export const DT_STRSZ = 10;
export const DT_SONAME = 14;
export const DT_RPATH = 15;
export const DT_RUNPATH = 29;

/** Names of the program header types this project writes or reads, for dumps and messages. */
export function ptName(type: number): string {
  if (type === PT_LOAD) return "PT_LOAD";
  if (type === PT_NOTE) return "PT_NOTE";
  if (type === PT_DYNAMIC) return "PT_DYNAMIC";
  if (type === PT_INTERP) return "PT_INTERP";
  return `0x${type.toString(16)}`;
}

/** Rounds `n` up to a multiple of 4 (note name and descriptor padding). */
export function align4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

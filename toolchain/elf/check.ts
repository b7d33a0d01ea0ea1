import { decodeLayout, hex } from "../bytes/index.js";
import {
  ELF64_EHDR, ELF64_NHDR, ELF64_PHDR, ELFCLASS64, ELFMAG, EM_AARCH64, ET_CORE, EV_CURRENT, PT_LOAD, PT_NOTE, align4, ptName,
} from "./layout.js";

/**
 * Replays what the capture kernel does with an elfcorehdr at boot (LNX
 * `fs/proc/vmcore.c`: `parse_crash_elf_headers`, `parse_crash_elf64_headers`,
 * `merge_note_headers_elf64`, `update_note_header_size_elf64`,
 * `process_ptload_program_headers_elf64`) and reports each way it would
 * refuse or misread the header. An empty list means /proc/vmcore comes up.
 */

export interface VmcoreFinding {
  /** Names the rule. */
  readonly code: string;
  /** "error": vmcore refuses the header or reads memory it should not; "warning": it comes up but loses data. */
  readonly severity: "error" | "warning";
  readonly message: string;
  /** Byte offset in the header of the field at fault. */
  readonly where: number;
  /** What the kernel does about it. */
  readonly kernel: string;
}

export interface CheckOptions {
  /**
   * Reads the crashed kernel's physical memory, when the caller has it (a
   * memory dump from QEMU). With it the note segments are walked as the
   * kernel walks them; without it only the headers are checked.
   */
  readonly readPhys?: (address: bigint, length: number) => Uint8Array | null;
}

const NOT_SANE = "parse_crash_elf64_headers prints \"Core image elf header is not sane\"; /proc/vmcore is not created (-EINVAL)";
const EHDR_CHECKS = [
  { field: "e_type", offset: 16, want: ET_CORE, what: "ET_CORE" },
  { field: "e_machine", offset: 18, want: EM_AARCH64, what: "EM_AARCH64 (vmcore_elf64_check_arch)" },
  { field: "ei_version", offset: 6, want: EV_CURRENT, what: "EV_CURRENT" },
  { field: "e_version", offset: 20, want: EV_CURRENT, what: "EV_CURRENT" },
  { field: "e_ehsize", offset: 52, want: ELF64_EHDR.size, what: "sizeof(Elf64_Ehdr)" },
  { field: "e_phentsize", offset: 54, want: ELF64_PHDR.size, what: "sizeof(Elf64_Phdr)" },
] as const;

/** Checks an elfcorehdr buffer the way the capture kernel will read it. */
export function checkVmcoreHeader(bytes: Uint8Array, opts: CheckOptions = {}): VmcoreFinding[] {
  const out: VmcoreFinding[] = [];
  const err = (code: string, where: number, message: string, kernel: string) => out.push({ code, severity: "error", message, where, kernel });
  if (bytes.length < 16 || !ELFMAG.every((b, i) => bytes[i] === b)) {
    err("NOT_FOUND", 0, "no ELF magic at the start of the header", "parse_crash_elf_headers prints \"Core image elf header not found\"; /proc/vmcore is not created (-EINVAL)");
    return out;
  }
  if (bytes[4] !== ELFCLASS64) {
    err("NOT_SANE", 4, `EI_CLASS ${String(bytes[4])} is not ELFCLASS64: arm64 kernels take only 64-bit headers`, NOT_SANE);
    return out;
  }
  if (bytes.length < ELF64_EHDR.size) {
    err("TRUNCATED", bytes.length, `the buffer holds ${bytes.length} bytes, less than the 64-byte ELF header`, "elfcorehdr_read reads past the buffer into whatever follows it");
    return out;
  }
  const h = decodeLayout(ELF64_EHDR, bytes);
  for (const c of EHDR_CHECKS) {
    if (h[c.field] !== c.want) err("NOT_SANE", c.offset, `${c.field} is ${h[c.field]}, not ${c.want} (${c.what})`, NOT_SANE);
  }
  if (h.e_phnum === 0) err("NOT_SANE", 56, "e_phnum is 0", NOT_SANE);
  if (out.length > 0) return out;
  if (h.e_phoff !== BigInt(ELF64_EHDR.size)) {
    err("PHOFF", 32, `e_phoff is ${hex(h.e_phoff)}, not 0x40`, "vmcore ignores e_phoff and reads the program headers right after the ELF header, so it sees other headers than readelf does");
  }
  const end = ELF64_EHDR.size + h.e_phnum * ELF64_PHDR.size;
  if (end > bytes.length) {
    err("TRUNCATED", bytes.length, `${h.e_phnum} program headers need ${end} bytes, the buffer has ${bytes.length}`, "elfcorehdr_read reads the missing headers from the memory after the buffer");
    return out;
  }
  let notes = 0;
  for (let i = 0; i < h.e_phnum; i++) {
    const at = ELF64_EHDR.size + i * ELF64_PHDR.size;
    const p = decodeLayout(ELF64_PHDR, bytes, at);
    const name = `program header ${i} (${ptName(p.p_type)})`;
    if (p.p_type === PT_NOTE) {
      notes++;
      if (p.p_memsz < BigInt(ELF64_NHDR.size)) {
        err("NOTE_TOO_SMALL", at + 40, `${name}: p_memsz ${p.p_memsz} is smaller than a 12-byte note header`, "update_note_header_size_elf64 kmallocs p_memsz bytes and reads n_namesz past them");
      } else if (opts.readPhys !== undefined) {
        walkNotes(p.p_offset, p.p_memsz, opts.readPhys, name, at, out);
      }
    } else if (p.p_type === PT_LOAD) {
      if (p.p_offset + p.p_memsz > 1n << 64n) {
        err("LOAD_WRAPS", at + 8, `${name}: ${hex(p.p_offset)} + ${hex(p.p_memsz)} passes the end of the 64-bit address space`, "process_ptload_program_headers_elf64 computes a wrapped chunk size and exports garbage");
      }
      if (p.p_paddr !== p.p_offset) {
        out.push({
          code: "PADDR_MISMATCH",
          severity: "warning",
          message: `${name}: p_paddr ${hex(p.p_paddr)} differs from p_offset ${hex(p.p_offset)}`,
          where: at + 24,
          kernel: "vmcore exports the memory at p_offset but keeps p_paddr, so dump tools translate addresses to the wrong data",
        });
      }
    }
  }
  if (notes === 0) {
    err("NO_NOTES", 56, "no PT_NOTE program header", "merge_note_headers_elf64 moves (0 - 1) program headers and corrupts the header");
  }
  return out;
}

/** The kernel's note walk: until n_namesz == 0, dropping a record that overflows p_memsz. */
function walkNotes(
  address: bigint,
  memsz: bigint,
  readPhys: (address: bigint, length: number) => Uint8Array | null,
  name: string,
  at: number,
  out: VmcoreFinding[],
): void {
  if (memsz > 1n << 24n) return; // far beyond any crash note; the header checks above still apply
  const max = Number(memsz);
  const buf = readPhys(address, max);
  if (buf === null || buf.length < max) return;
  let real = 0;
  for (;;) {
    if (real + 4 > max) {
      out.push({
        code: "NOTE_UNTERMINATED",
        severity: "error",
        message: `${name}: the notes fill all ${max} bytes with no empty note after them`,
        where: at + 40,
        kernel: "update_note_header_size_elf64 reads the next n_namesz past its buffer",
      });
      return;
    }
    const n = decodeLayout(ELF64_NHDR, padTo(buf, real + ELF64_NHDR.size), real);
    if (n.n_namesz === 0) break;
    const size = ELF64_NHDR.size + align4(n.n_namesz) + align4(n.n_descsz);
    if (real + size > max) {
      out.push({
        code: "NOTE_DROPPED",
        severity: "warning",
        message: `${name}: a note (n_namesz ${hex(n.n_namesz)}, n_descsz ${hex(n.n_descsz)}) at ${hex(address + BigInt(real))} overflows p_memsz ${max}`,
        where: at + 40,
        kernel: "update_note_header_size_elf64 prints \"Exceeded p_memsz, dropping PT_NOTE entry\" and drops it and every later note",
      });
      break;
    }
    real += size;
  }
  if (real === 0) {
    out.push({
      code: "NOTE_EMPTY",
      severity: "warning",
      message: `${name}: no note before the empty terminator at ${hex(address)}`,
      where: at + 40,
      kernel: "update_note_header_size_elf64 prints \"Zero PT_NOTE entries found\"",
    });
  }
}

/** `buf` extended with zeros to `n` bytes: with under 12 bytes left the kernel reads n_descsz from past its buffer; we read zeros. */
function padTo(buf: Uint8Array, n: number): Uint8Array {
  if (buf.length >= n) return buf;
  const b = new Uint8Array(n);
  b.set(buf);
  return b;
}

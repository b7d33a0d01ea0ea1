import { InputError, hex, toNumber } from "../bytes/index.js";
import { EM_AARCH64, ET_CORE, PT_NOTE } from "../elf/layout.js";
import { parseElfHeader, parseNotes, parseProgramHeaders, programHeaderSpan } from "../elf/read.js";
import type { CaptureSource } from "./source.js";

/**
 * The vmcoreinfo text from `/proc/kcore`: an ELF core file whose PT_NOTE
 * carries a "VMCOREINFO" note since Linux 4.19 (Linux `fs/proc/kcore.c`). Only
 * the ELF header, the program headers and the note segment are read; the
 * memory behind the PT_LOADs (the whole address space) never is.
 */

export const KCORE = "proc/kcore";
/** A kcore note segment is a few KiB (prstatus, prpsinfo, task_struct, vmcoreinfo); refuse absurd sizes. */
const MAX_NOTES = 1 << 20;

/**
 * Returns the VMCOREINFO note's text, or null when the kcore has none.
 * @throws InputError `NOT_ARM64` when the kcore is not an arm64 core file,
 * `BAD_KCORE` for an oversized note segment, and the ELF reader's errors
 * (with file offsets) for a damaged one.
 */
export function readKcoreVmcoreinfo(src: CaptureSource, head: Uint8Array): string | null {
  const h = parseElfHeader(head);
  if (h.e_type !== ET_CORE || h.e_machine !== EM_AARCH64) {
    throw new InputError(
      "NOT_ARM64",
      `Cannot describe ${src.label}: /proc/kcore is e_type ${h.e_type}, e_machine ${h.e_machine}, not an arm64 core file (ET_CORE ${ET_CORE}, EM_AARCH64 ${EM_AARCH64})`,
      KCORE,
      "Run describe on the arm64 target itself, or capture it there with examples/collect-target.sh.",
    );
  }
  const span = programHeaderSpan(h);
  const table = src.readAt(KCORE, span.at, span.length) ?? new Uint8Array(0);
  for (const p of parseProgramHeaders(table, h.e_phnum, span.at)) {
    if (p.p_type !== PT_NOTE) continue;
    if (p.p_filesz > BigInt(MAX_NOTES)) {
      throw new InputError("BAD_KCORE", `Cannot read /proc/kcore notes: the note segment claims ${hex(p.p_filesz)} bytes`, KCORE, "A kcore note segment is a few KiB; the file is damaged.");
    }
    const at = toNumber(p.p_offset, "kcore note offset", KCORE);
    const size = Number(p.p_filesz);
    const bytes = src.readAt(KCORE, at, size) ?? new Uint8Array(0);
    if (bytes.length < size) {
      throw new InputError("TRUNCATED", `Cannot read /proc/kcore notes: ${size} bytes at ${hex(at)}, only ${bytes.length} present`, KCORE, "The capture of /proc/kcore was cut short; capture again.");
    }
    const note = parseNotes(bytes, at).find((n) => n.name === "VMCOREINFO");
    if (note !== undefined) return new TextDecoder("utf-8", { fatal: false }).decode(note.desc).replace(/\0+$/, "");
  }
  return null;
}

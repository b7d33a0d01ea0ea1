import { InputError, hex } from "../bytes/index.js";
import { normalize } from "./ranges.js";
import type { Range } from "./types.js";

/**
 * `/proc/iomem`: the kernel's resource tree as text. Each line is
 * `%*s%0*llx-%0*llx : %s` (Linux `kernel/resource.c r_show`): two spaces of
 * indent per nesting level, an inclusive hex range and a name. Readers
 * without CAP_SYS_ADMIN see every address as zero.
 */

export interface IomemEntry {
  /** Half-open `[start, end)`: the inclusive end from the text plus one. */
  readonly start: bigint;
  readonly end: bigint;
  readonly name: string;
  /** Nesting level, 0 for top-level resources. */
  readonly depth: number;
  /** 1-based line number. */
  readonly line: number;
}

const LINE = /^( *)([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) : (.*)$/;
const LAST = (1n << 64n) - 1n;

/**
 * Parses `/proc/iomem` text into entries in file order.
 * @throws InputError `BAD_IOMEM` (with `iomem line N`) for a malformed line,
 * odd or jumping indent, `start > end`, an end of 2^64-1, or a child outside
 * its parent; `IOMEM_HIDDEN` when every address reads as zero (not root).
 */
export function parseIomem(text: string): IomemEntry[] {
  const out: IomemEntry[] = [];
  const parents: IomemEntry[] = [];
  for (const [i, raw] of text.split("\n").entries()) {
    const line = i + 1;
    if (raw.trim() === "") continue;
    const where = `iomem line ${line}`;
    const m = LINE.exec(raw);
    if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined) {
      throw new InputError("BAD_IOMEM", `Cannot parse /proc/iomem: ${JSON.stringify(raw.slice(0, 80))} is not "start-end : name"`, where, "Give the file exactly as the kernel prints it.");
    }
    if (m[1].length % 2 !== 0) {
      throw new InputError("BAD_IOMEM", `Cannot parse /proc/iomem: indent of ${m[1].length} spaces is not a multiple of 2`, where, "Each nesting level is two spaces; the text was re-indented.");
    }
    const depth = m[1].length / 2;
    if (depth > parents.length) {
      throw new InputError("BAD_IOMEM", `Cannot parse /proc/iomem: nesting jumps to level ${depth} after level ${parents.length - 1}`, where, "A child line must directly follow its parent or a sibling.");
    }
    const first = BigInt("0x" + m[2]);
    const last = BigInt("0x" + m[3]);
    if (first > last) {
      throw new InputError("BAD_IOMEM", `Cannot parse /proc/iomem: start ${hex(first)} is above end ${hex(last)}`, where);
    }
    if (last === LAST) {
      throw new InputError("BAD_IOMEM", `Cannot parse /proc/iomem: a range ending at ${hex(LAST)} has no 64-bit half-open end`, where, "No arm64 resource reaches the top of the 64-bit space; the text is damaged.");
    }
    const e: IomemEntry = { start: first, end: last + 1n, name: m[4], depth, line };
    parents.length = depth;
    const parent = parents[depth - 1];
    if (parent !== undefined && (e.start < parent.start || e.end > parent.end)) {
      throw new InputError(
        "BAD_IOMEM",
        `Cannot parse /proc/iomem: "${e.name}" ${hex(e.start)}-${hex(last)} lies outside its parent "${parent.name}" (line ${parent.line})`,
        where,
      );
    }
    parents.push(e);
    out.push(e);
  }
  if (out.length > 0 && out.every((e) => e.start === 0n && e.end === 1n)) {
    throw new InputError("IOMEM_HIDDEN", "Cannot use /proc/iomem: every address reads as zero", "iomem", "The kernel hides addresses from readers without CAP_SYS_ADMIN; run as root.");
  }
  return out;
}

/** The memory facts a `Target` takes from /proc/iomem. */
export interface IomemMemoryMap {
  readonly memory: readonly Range[];
  readonly reserved: readonly Range[];
  readonly crashKernel: Range | null;
  readonly crashKernelLow: Range | null;
  readonly kernelCode: Range | null;
  readonly kernelData: Range | null;
}

const SYSTEM_RAM = "System RAM";
const KERNEL_CODE = "Kernel code";
const KERNEL_DATA = "Kernel data";
const CRASH_KERNEL = "Crash kernel";

/**
 * Classifies iomem entries the way kexec-tools' arm64 `get_memory_ranges`
 * and `iomem_range_callback` do:
 * - memory: top-level "System RAM";
 * - reserved: everything nested inside RAM except "Kernel code", "Kernel
 *   data" and "Crash kernel" (merged where they touch or overlap);
 * - crash ranges: the "Crash kernel" entries inside RAM; with two, the lower
 *   is `crashk_low_res` (`crashkernel=X,low`) and the higher `crashk_res`.
 * @throws InputError `BAD_IOMEM` for overlapping RAM, a second Kernel code or
 * data entry, or more than two Crash kernel ranges.
 */
export function memoryMapFromIomem(entries: readonly IomemEntry[]): IomemMemoryMap {
  const memory: Range[] = [];
  const reserved: Range[] = [];
  const crash: IomemEntry[] = [];
  let kernelCode: IomemEntry | null = null;
  let kernelData: IomemEntry | null = null;
  let inRam = false;
  for (const e of entries) {
    if (e.depth === 0) {
      inRam = e.name === SYSTEM_RAM;
      if (!inRam) continue;
      const prev = memory[memory.length - 1];
      if (prev !== undefined && e.start < prev.end) {
        throw new InputError("BAD_IOMEM", `Cannot use /proc/iomem: System RAM ${hex(e.start)} overlaps or precedes the previous RAM range ending ${hex(prev.end)}`, `iomem line ${e.line}`);
      }
      memory.push({ start: e.start, end: e.end });
      continue;
    }
    if (!inRam) continue;
    if (e.name === KERNEL_CODE || e.name === KERNEL_DATA) {
      const seen = e.name === KERNEL_CODE ? kernelCode : kernelData;
      if (seen !== null) {
        throw new InputError("BAD_IOMEM", `Cannot use /proc/iomem: a second "${e.name}" entry (the first is on line ${seen.line})`, `iomem line ${e.line}`);
      }
      if (e.name === KERNEL_CODE) kernelCode = e;
      else kernelData = e;
    } else if (e.name === CRASH_KERNEL) {
      crash.push(e);
    } else {
      reserved.push({ start: e.start, end: e.end });
    }
  }
  if (crash.length > 2) {
    const third = crash[2] as IomemEntry;
    throw new InputError(
      "BAD_IOMEM",
      `Cannot use /proc/iomem: ${crash.length} "Crash kernel" ranges; the kernel reserves at most two (crashkernel= and crashkernel=,low)`,
      `iomem line ${third.line}`,
    );
  }
  crash.sort((a, b) => (a.start < b.start ? -1 : 1));
  const high = crash[crash.length - 1];
  const low = crash.length === 2 ? crash[0] : undefined;
  return {
    memory,
    reserved: normalize(reserved),
    crashKernel: high === undefined ? null : { start: high.start, end: high.end },
    crashKernelLow: low === undefined ? null : { start: low.start, end: low.end },
    kernelCode: kernelCode === null ? null : { start: kernelCode.start, end: kernelCode.end },
    kernelData: kernelData === null ? null : { start: kernelData.start, end: kernelData.end },
  };
}


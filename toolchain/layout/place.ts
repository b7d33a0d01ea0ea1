import { InputError, hex } from "../bytes/index.js";
import type { Range, Target } from "../target/types.js";
import { estimateTotalRamPages } from "./_ram.js";
import { alignDown, alignUp, intersect, normalize, subtract, totalSize } from "../target/ranges.js";
import {
  DTB_MAX_SIZE,
  KEXEC_ARCH_AARCH64,
  KEXEC_ON_CRASH,
  SZ_1G,
  SZ_2M,
  SZ_32G,
  type Mode,
  type Plan,
  type PlanSegment,
  type Role,
} from "./types.js";

/** What to place. Sizes in bytes; `bufsz` is the file's length. */
export interface LayoutInput {
  readonly mode: Mode;
  readonly target: Target;
  /** From the Image header: `text_offset` and `image_size` (booting.rst). */
  readonly kernel: { readonly bufsz: bigint; readonly textOffset: bigint; readonly imageSize: bigint };
  readonly initrd?: { readonly bufsz: bigint };
  readonly dtb: { readonly bufsz: bigint };
  /** Crash mode only. */
  readonly elfcorehdr?: { readonly bufsz: bigint };
  /** `memsz` defaults to `bufsz` (room for a stack or bss beyond the blob); `align` to the page size. */
  readonly purgatory: { readonly bufsz: bigint; readonly memsz?: bigint; readonly align?: bigint };
}

/**
 * The elfcorehdr goes at the top of the crash range (like kexec-tools, so the
 * kernel, initrd, DTB and purgatory keep one contiguous block from the 2 MiB-
 * aligned bottom), on a 64 KiB boundary (like kexec_file's
 * arch/arm64/kernel/machine_kexec_file.c, "largest supported page size"): a
 * capture kernel of any page size then reserves it without rounding into a
 * neighbour.
 */
export const ELFCOREHDR_ALIGN = 0x1_0000n;

const U64_LIMIT = 1n << 64n;

/**
 * Places the segments of one kexec_load and returns the plan, sorted by `mem`.
 *
 * crash: every segment and the entry inside `target.crashKernel` (the kernel's
 * crashk_res; never the low range). reboot: System RAM minus reserved ranges.
 * Kernel at the lowest 2 MiB-aligned base (+ text_offset) with memsz =
 * image_size rounded up to a page; initrd, DTB and purgatory at the lowest fit
 * after it; the initrd inside the kernel's 1 GiB-aligned 32 GiB window; the DTB
 * not crossing a 2 MiB boundary; the elfcorehdr as `ELFCOREHDR_ALIGN` says.
 * Pure and deterministic.
 *
 * The device tree's root `#address-cells`/`#size-cells` do not move anything:
 * a one-cell tree cannot encode an elfcorehdr or crash range above 4 GiB in
 * /chosen, and that is for the DTB editor to widen or refuse, not for placement.
 *
 * @throws InputError for a size the kernel or booting.rst cannot take
 *   (`BAD_VALUE`), a crash plan without crash memory (`NO_CRASH_KERNEL`),
 *   segments above half of RAM (`OVER_HALF_RAM`) or a segment that does not fit
 *   (`NO_FIT`): the message names the segment and the free ranges, the hint a fix.
 */
export function planLayout(input: LayoutInput): Plan {
  const { mode, target } = input;
  if (![4096, 16384, 65536].includes(target.pageSize)) {
    throw new InputError("BAD_VALUE", `Cannot plan: page size ${target.pageSize} is not 4096, 16384 or 65536`, "target.pageSize");
  }
  const page = BigInt(target.pageSize);
  const sizes = checkInput(input, page);

  const memsz = sizes.reduce((n, s) => n + s.memsz, 0n);
  // What a crash range must hold: the segments, text_offset and the worst 2 MiB alignment of the kernel base.
  const needed = memsz + input.kernel.textOffset + SZ_2M;
  const half = estimateTotalRamPages(target) / 2n;
  if (memsz / page > half) {
    throw new InputError(
      "OVER_HALF_RAM",
      `Cannot plan: the segments take ${memsz / page} pages but the kernel accepts at most half of RAM, ${half} pages of ${hex(page)} bytes (kernel/kexec_core.c sanity_check_segment_list)`,
      undefined,
      "Shrink the initrd, or load on a machine with more RAM",
    );
  }

  let area: Range[];
  if (mode === "crash") {
    const crash = target.crashKernel;
    if (crash === null) {
      throw new InputError(
        "NO_CRASH_KERNEL",
        "Cannot plan a crash load: the target reserves no crash kernel memory (crashk_res is empty)",
        "target.crashKernel",
        `Boot the running kernel with crashkernel=${suggestMiB(0n, needed)}M or more (the segments need ${mib(needed)} MiB; the capture kernel needs room to run as well)`,
      );
    }
    area = subtract(intersect([crash], target.memory), target.reserved);
  } else {
    area = subtract(target.memory, target.reserved);
  }

  const placer = new Placer(area, input, needed);
  const k = input.kernel;
  const kernelMemsz = alignUp(k.imageSize, page);
  // The gap between the 2 MiB base and text_offset stays unused: early arm64
  // kernels put swapper_pg_dir and idmap_pg_dir just below their text, inside
  // that gap (arch/arm64/kernel/head.S).
  const base = placer.lowest("kernel", k.textOffset + kernelMemsz, SZ_2M, 0n, U64_LIMIT, false, "2 MiB-aligned base + text_offset");
  const kernelMem = base + k.textOffset;
  placer.take(base, kernelMem + kernelMemsz);
  const segments: PlanSegment[] = [
    { role: "kernel", mem: kernelMem, memsz: kernelMemsz, bufsz: k.bufsz, textOffset: k.textOffset, imageSize: k.imageSize },
  ];

  if (input.elfcorehdr) {
    const memsz = alignUp(input.elfcorehdr.bufsz, page);
    const at = placer.highest("elfcorehdr", memsz, maxOf(ELFCOREHDR_ALIGN, page));
    placer.take(at, at + memsz);
    segments.push({ role: "elfcorehdr", mem: at, memsz, bufsz: input.elfcorehdr.bufsz });
  }

  if (input.initrd) {
    // booting.rst: the initrd and the Image inside one 1 GiB-aligned window of
    // at most 32 GiB. With the kernel at [ks, ke), that is exactly the range below.
    const lo = alignUp(kernelMem + kernelMemsz, SZ_1G) - SZ_32G;
    const hi = alignDown(kernelMem, SZ_1G) + SZ_32G;
    const memsz = alignUp(input.initrd.bufsz, page);
    const at = placer.lowest("initrd", memsz, page, lo > 0n ? lo : 0n, hi, false, `in the kernel's 32 GiB window [${hex(lo > 0n ? lo : 0n)}, ${hex(hi)})`);
    placer.take(at, at + memsz);
    segments.push({ role: "initrd", mem: at, memsz, bufsz: input.initrd.bufsz });
  }

  const dtbMemsz = alignUp(input.dtb.bufsz, page);
  const dtbAt = placer.lowest("dtb", dtbMemsz, page, 0n, U64_LIMIT, true, "not crossing a 2 MiB boundary");
  placer.take(dtbAt, dtbAt + dtbMemsz);
  segments.push({ role: "dtb", mem: dtbAt, memsz: dtbMemsz, bufsz: input.dtb.bufsz });

  const p = input.purgatory;
  const pMemsz = alignUp(p.memsz ?? p.bufsz, page);
  const pAlign = maxOf(p.align ?? page, page);
  const entry = placer.lowest("purgatory", pMemsz, pAlign, 0n, U64_LIMIT, false, `${hex(pAlign)}-aligned`);
  placer.take(entry, entry + pMemsz);
  segments.push({ role: "purgatory", mem: entry, memsz: pMemsz, bufsz: p.bufsz });

  segments.sort((a, b) => (a.mem < b.mem ? -1 : 1));
  return {
    mode,
    entry,
    kernelEntry: kernelMem,
    flags: mode === "crash" ? KEXEC_ON_CRASH | KEXEC_ARCH_AARCH64 : KEXEC_ARCH_AARCH64,
    segments,
  };
}

/** Validates sizes; returns each segment's page-rounded memsz (for the RAM budget). */
function checkInput(input: LayoutInput, page: bigint): { memsz: bigint }[] {
  const bad = (where: string, why: string, hint?: string): never => {
    throw new InputError("BAD_VALUE", `Cannot plan: ${why}`, where, hint);
  };
  const u64 = (where: string, v: bigint): bigint => {
    if (typeof v !== "bigint") throw new TypeError(`planLayout: ${where} must be a bigint`);
    if (v < 0n || v >= U64_LIMIT) bad(where, `${v} is not a 64-bit size`);
    return v;
  };
  const positive = (where: string, v: bigint): bigint => {
    if (u64(where, v) === 0n) bad(where, `${where} is 0`, "Pass the file's real size");
    return v;
  };
  const { mode, kernel, initrd, dtb, elfcorehdr, purgatory } = input;
  if (mode !== "crash" && mode !== "reboot") throw new TypeError(`planLayout: mode must be "crash" or "reboot"`);
  positive("kernel.bufsz", kernel.bufsz);
  if (positive("kernel.imageSize", kernel.imageSize) < kernel.bufsz) {
    bad("kernel.bufsz", `the kernel file (${hex(kernel.bufsz)} bytes) is longer than its image_size ${hex(kernel.imageSize)}`,
      "Check the Image header, or strip data appended to the Image (such as a detached signature)");
  }
  if (u64("kernel.textOffset", kernel.textOffset) % page !== 0n) {
    bad("kernel.textOffset", `text_offset ${hex(kernel.textOffset)} is not a multiple of the page size ${hex(page)}, so the kernel segment cannot start on a page`);
  }
  if (positive("dtb.bufsz", dtb.bufsz) > DTB_MAX_SIZE) {
    bad("dtb.bufsz", `the DTB is ${hex(dtb.bufsz)} bytes; booting.rst allows at most 2 MiB (0x200000)`, "Remove unused nodes or properties from the device tree");
  }
  if (initrd) positive("initrd.bufsz", initrd.bufsz);
  if (elfcorehdr) {
    if (mode !== "crash") bad("elfcorehdr", "an elfcorehdr belongs to a crash load only", "Drop the elfcorehdr, or plan with mode crash");
    positive("elfcorehdr.bufsz", elfcorehdr.bufsz);
  }
  positive("purgatory.bufsz", purgatory.bufsz);
  if (purgatory.memsz !== undefined && u64("purgatory.memsz", purgatory.memsz) < purgatory.bufsz) {
    bad("purgatory.memsz", `purgatory memsz ${hex(purgatory.memsz)} is smaller than its bufsz ${hex(purgatory.bufsz)}`);
  }
  if (purgatory.align !== undefined) {
    const a = positive("purgatory.align", purgatory.align);
    if ((a & (a - 1n)) !== 0n) bad("purgatory.align", `alignment ${hex(a)} is not a power of two`);
  }
  const out = [kernel.imageSize, dtb.bufsz, purgatory.memsz ?? purgatory.bufsz];
  if (initrd) out.push(initrd.bufsz);
  if (elfcorehdr) out.push(elfcorehdr.bufsz);
  return out.map((n) => ({ memsz: alignUp(n, page) }));
}

/** The free list and the two fit strategies, with the failure message. */
class Placer {
  private free: Range[];
  constructor(
    private readonly area: readonly Range[],
    private readonly input: LayoutInput,
    private readonly needed: bigint,
  ) {
    this.free = normalize(area);
  }

  take(start: bigint, end: bigint): void {
    this.free = subtract(this.free, [{ start, end }]);
  }

  /** Lowest `align`-aligned base with `[base, base+size)` free and inside `[lo, hi)`. */
  lowest(role: Role, size: bigint, align: bigint, lo: bigint, hi: bigint, no2MCross: boolean, how: string): bigint {
    for (const r of this.free) {
      let at = alignUp(r.start > lo ? r.start : lo, align);
      if (no2MCross && alignDown(at, SZ_2M) !== alignDown(at + size - 1n, SZ_2M)) at = alignUp(at, SZ_2M);
      const end = r.end < hi ? r.end : hi;
      if (at + size <= end) return at;
    }
    return this.fail(role, size, how);
  }

  /** Highest `align`-aligned base with `[base, base+size)` free. */
  highest(role: Role, size: bigint, align: bigint): bigint {
    for (let i = this.free.length - 1; i >= 0; i--) {
      const r = this.free[i]!;
      if (r.end - r.start < size) continue;
      const at = alignDown(r.end - size, align);
      if (at >= r.start) return at;
    }
    return this.fail(role, size, `${hex(align)}-aligned, at the top`);
  }

  private fail(role: Role, size: bigint, how: string): never {
    const crash = this.input.mode === "crash";
    const where = crash ? "the crash range" : "System RAM minus reserved ranges";
    const list = this.free.length === 0 ? "none" : this.free.map((r) => `[${hex(r.start)}, ${hex(r.end)})`).join(", ");
    let hint: string;
    if (crash) {
      const t = this.input.target;
      const now = t.crashKernel ? t.crashKernel.end - t.crashKernel.start : 0n;
      hint = `Reserve more crash memory, e.g. crashkernel=${suggestMiB(now, this.needed)}M (today's ${mib(now)} MiB plus the ${mib(this.needed)} MiB the segments take, so the capture kernel keeps room to run)`;
      if (t.crashKernelLow) hint += `; the low range crashkernel=…,low cannot hold segments, since the kernel accepts only crashk_res`;
    } else {
      hint = `Free ${hex(size)} bytes in one block: shrink the ${role === "kernel" ? "initrd or other segments" : role}, or drop reserved ranges that are stale`;
    }
    throw new InputError(
      "NO_FIT",
      `Cannot place the ${role} (${hex(size)} bytes, ${how}) in ${where} (${hex(totalSize(this.area))} bytes in all); free: ${list}`,
      `${role}.bufsz`,
      hint,
    );
  }
}

function maxOf(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function mib(n: bigint): string {
  return (Number(n) / 0x10_0000).toFixed(n % 0x10_0000n === 0n ? 0 : 1);
}

/** `now + needed`, rounded up to 64 MiB, in MiB. */
function suggestMiB(now: bigint, needed: bigint): bigint {
  return alignUp(now + needed, 0x400_0000n) / 0x10_0000n;
}

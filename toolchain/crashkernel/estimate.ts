import { InputError, hex } from "../bytes/index.js";
import { ELF64_EHDR, ELF64_PHDR } from "../elf/index.js";
import { parseFdt, serializeFdt } from "../fdt/index.js";
import { ELF_CORE_HEADER_ALIGN, alignUp, intersect, subtract, totalSize } from "../target/index.js";
import type { PageSize, Range, Target } from "../target/index.js";
import { parseVmcoreinfo } from "../target/index.js";
import { CALIBRATED, CALIBRATED_NAMES, constantsFor } from "./calibration.js";
import type { Calibration, CalibratedName, Constants } from "./calibration.js";
import type { InitramfsMeasure, TmpfsPageSize } from "./initramfs.js";
import type { CaptureKernel } from "./kernel.js";
import { DEFAULT_CRASH_KERNEL_LOW_SIZE, memparse, parseCrashkernel } from "./parse.js";
import type { CrashkernelRequest } from "./parse.js";
import { rangeSyntax, simpleSyntax, splitSyntax } from "./syntax.js";
import type { RangeEntry } from "./syntax.js";

/**
 * How much memory `crashkernel=` must reserve on arm64 for a given capture
 * kernel, capture initramfs and collector (makedumpfile), as a sum of named
 * terms a person can check one by one. The model, its constants and their
 * sources are described in docs/crashkernel.md; constants that only a
 * measurement can give come from calibration.ts.
 *
 * Two sizes come out. The *minimum* is the sum of what the capture kernel,
 * its initramfs and the collector hold at their peak, and what the rootfs
 * size rule demands. The *recommended* size adds a margin for what the model
 * leaves out, rounded up to 8 MiB. Real crashes in QEMU (`purgatory
 * crashkernel --calibrate --qemu`, bench/crashkernel-calibrate.ts) checked
 * both; docs/crashkernel.md, "Calibration", says what they changed.
 */

const KiB = 1024n;
const MiB = 1024n * KiB;

/** include/linux/swiotlb.h `IO_TLB_DEFAULT_SIZE`: the bounce buffer a kernel allocates below the DMA limit when RAM reaches above it. */
const IO_TLB_DEFAULT_SIZE = 64n * MiB;
/** include/linux/swiotlb.h `IO_TLB_SHIFT`: `swiotlb=N` counts slabs of 2 KiB, `IO_TLB_SEGSIZE` (128) at a time. */
const IO_TLB_SLAB = 2n * KiB;
const IO_TLB_SEGSIZE = 128n;
/** makedumpfile's cyclic buffer: each of its two bitmap buffers is at most 4 MiB (docs/crashkernel.md, "makedumpfile's bitmaps"). */
const CYCLIC_BUFFER_MAX = 4n * MiB;
/** Bytes of large system hash tables per MiB of RAM: the scales passed to `alloc_large_system_hash()` for the dentry, inode, TCP and UDP tables (232 pointers per MiB; docs/crashkernel.md). */
const HASH_BYTES_PER_MIB = 1856n;
/** An arm64 page table entry: the linear map of the capture memory, at page granularity with rodata=full. */
const PTE_BYTES = 8n;
/** drivers/of/kexec.c `FDT_EXTRA_SPACE`: the room a loader adds to the DTB for /chosen. */
const FDT_EXTRA_SPACE = 4n * KiB;
/** The elfcorehdr as toolchain/elf writes it: an ELF64 header, program headers, padded to ELF_CORE_HEADER_ALIGN. */
const EHDR = BigInt(ELF64_EHDR.size);
const PHDR = BigInt(ELF64_PHDR.size);
const CORE_HEADER_ALIGN = BigInt(ELF_CORE_HEADER_ALIGN);
/**
 * The margin of the recommended size over the minimum's terms, in percent:
 * room for what the model leaves out (more devices, a grown kernel). With
 * the 8 MiB rounding it puts the recommended size at 1.1 to 1.3 x the
 * minimum measured by real crashes (docs/crashkernel.md, "Calibration").
 */
const MARGIN_PERCENT = 10n;
/** mm/shmem.c `shmem_default_max_blocks()`: tmpfs may fill half of RAM unless told otherwise. */
const TMPFS_DEFAULT_PERCENT = 50n;
/** arch/arm64/include/asm/sparsemem.h `SECTION_SIZE_BITS`, when vmcoreinfo does not give it. */
const SECTION_SIZE_BITS: Readonly<Record<PageSize, bigint>> = { 4096: 27n, 16384: 27n, 65536: 29n };
/** sizeof(struct page) on arm64 without debug options, when vmcoreinfo does not give it. */
const STRUCT_PAGE = 64n;
/** The minimum is rounded up to a MiB, the recommended size to 8 MiB (16 MiB added up to 28% to a measured minimum of 56 MiB). */
const MIN_GRANULE = MiB;
const REC_GRANULE = 8n * MiB;

export interface EstimateInput {
  readonly target: Target;
  /** Possible CPUs of the crashed machine: its crash notes, else the CPUs its DTB lists. */
  readonly cpus: number;
  /** The capture kernel's command line. */
  readonly commandLine: string;
  readonly kernel: CaptureKernel;
  /** The capture initramfs, or null when the capture kernel boots without one. */
  readonly initramfs: InitramfsMeasure | null;
  /** Measured constants, or null for the built-in defaults. */
  readonly calibration: Calibration | null;
  /** The calibration's file name, for error paths. */
  readonly calibrationSource?: string;
  /** Bits the platform's DMA masters address (ZONE_DMA): 32 unless its device tree says less (30 on a Raspberry Pi 4). */
  readonly dmaBits?: number;
  /** RAM sizes (bytes) of the machines one range-form `crashkernel=` should serve. */
  readonly fleet?: readonly bigint[];
}

export type TermKey =
  | "kernel" | "bootData" | "tmpfs" | "kernelRuntime" | "perCpu" | "memmap" | "pageTables" | "hashes"
  | "swiotlb" | "phase" | "cma" | "tmpfsRule" | "margin" | "floor" | "rounding";

/** One part of a size. */
export interface Term {
  readonly key: TermKey;
  readonly label: string;
  readonly bytes: bigint;
  /** How the bytes were computed, with the numbers. */
  readonly why: string;
}

/** A size and the terms that add up to it exactly. */
export interface Sizing {
  readonly bytes: bigint;
  readonly terms: readonly Term[];
}

export interface SyntaxAdvice {
  /** "plain": `crashkernel=SIZE` fits below the DMA limit; "split": `,high` plus `,low`. */
  readonly form: "plain" | "split";
  /** What to put on the kernel command line for the recommended size. */
  readonly recommended: string;
  /** The same for the minimum. */
  readonly minimum: string;
  /** In the split case, the plain form that kernels since 6.2 turn into the split themselves; else null. */
  readonly alternative: string | null;
  /** The DMA limit (`arm64_dma_phys_limit` = `CRASH_ADDR_LOW_MAX`), bytes. */
  readonly dmaLimit: bigint;
  /** The largest free block of RAM below the DMA limit, and what the running kernel takes from it first. */
  readonly lowFree: bigint;
  readonly runningKernelLow: bigint;
  readonly why: string;
}

export interface ReservationCheck {
  /** Bytes reserved now: crashk_res plus crashk_low_res. */
  readonly reserved: bigint;
  readonly high: Range;
  readonly low: Range | null;
  /** The sizes for this reservation's own layout (split when it reaches above the DMA limit). */
  readonly minimum: bigint;
  readonly recommended: bigint;
  readonly verdict: "enough" | "below-recommended" | "short";
  /** Bytes missing to the minimum (verdict "short") or to the recommended size ("below-recommended"); 0 when enough. */
  readonly missing: bigint;
  /** Bytes of the kexec segments (kernel, initrd, DTB, elfcorehdr), which must all fit in crashk_res. */
  readonly segments: bigint;
  /** What the running kernel's own `crashkernel=` asks for, as the kernel reads it, or why it cannot. */
  readonly commandLine: { readonly request: CrashkernelRequest | null; readonly error: string | null };
  readonly message: string;
}

export interface FleetEntry extends RangeEntry {
  /** The RAM this entry was sized for (the top of its range, or the largest machine for the open end). */
  readonly sizedFor: bigint | null;
  readonly minimum: bigint;
}

export interface FleetAdvice {
  /** One per fleet size that can hold its reservation, ascending. */
  readonly entries: readonly FleetEntry[];
  /** `crashkernel=START-[END]:SIZE,...`, neighbours with the same size merged; null when no entry is left. */
  readonly syntax: string | null;
  /** Fleet sizes left out, with the reason. */
  readonly dropped: readonly { readonly ram: bigint; readonly why: string }[];
}

export interface ConstantUse {
  readonly name: string;
  /** Bytes, or a percentage/count where `unit` says so. */
  readonly value: bigint;
  readonly unit: "bytes" | "percent" | "bytes per MiB" | "bits";
  /**
   * "kernel": a kernel fact; "collector": a makedumpfile fact; "peer": another tool's figure; "derived": read from the inputs;
   * "measured": chosen from real crashes in QEMU; "guess"/"calibration": calibratable.
   */
  readonly kind: "kernel" | "collector" | "peer" | "derived" | "measured" | "guess" | "calibration";
  readonly source: string;
}

export interface Estimate {
  readonly capture: {
    readonly commandLine: string;
    readonly pageSize: PageSize;
    /** CPUs the capture kernel sets up (nr_cpus= caps the crashed machine's count). */
    readonly cpus: number;
    readonly rootfs: "tmpfs" | "ramfs";
    readonly kernelRelease: string | null;
  };
  readonly crashed: {
    readonly ram: bigint;
    readonly ramEnd: bigint;
    readonly pageSize: PageSize;
    readonly cpus: number;
  };
  readonly minimum: Sizing;
  readonly recommended: Sizing;
  readonly syntax: SyntaxAdvice;
  readonly reservation: ReservationCheck | null;
  readonly fleet: FleetAdvice | null;
  readonly constants: readonly ConstantUse[];
  readonly notes: readonly string[];
}

/** What the capture command line changes in the model. */
interface CaptureOptions {
  readonly nrCpus: number | null;
  readonly maxCpus: number | null;
  readonly rootfs: "tmpfs" | "ramfs";
  /** The rootfs size limit: a share of RAM, or bytes (`initramfs_options=size=`). */
  readonly tmpfsLimit: { readonly percent: bigint } | { readonly bytes: bigint };
  /** `cma=` bytes, or null when not given. */
  readonly cma: bigint | null;
  /** `swiotlb=noforce` */
  readonly swiotlbOff: boolean;
  /** `swiotlb=N` in bytes, or null. */
  readonly swiotlbBytes: bigint | null;
}

/**
 * Reads the capture command line like the kernel's parameter handlers do
 * (the last occurrence of a parameter wins): `nr_cpus=` and `maxcpus=`
 * (kernel/cpu.c, arch/arm64), `root=` and `rootfstype=` (init/do_mounts.c
 * `init_rootfs()`: rootfs is tmpfs only without `root=` and with no
 * `rootfstype=` or one naming tmpfs), `initramfs_options=size=`, `cma=`
 * (kernel/dma/contiguous.c) and `swiotlb=` (kernel/dma/swiotlb.c).
 */
export function captureOptions(commandLine: string): CaptureOptions {
  const params = new Map<string, string>();
  for (const word of commandLine.split(/\s+/)) {
    if (word === "") continue;
    const eq = word.indexOf("=");
    params.set(eq < 0 ? word : word.slice(0, eq), eq < 0 ? "" : word.slice(eq + 1));
  }
  const int = (name: string): number | null => {
    const v = params.get(name);
    const m = v === undefined ? null : /^\d+/.exec(v);
    return m === null ? null : Number(m[0]);
  };
  const rootfstype = params.get("rootfstype");
  const rootfs = !params.has("root") && (rootfstype === undefined || rootfstype.includes("tmpfs")) ? "tmpfs" : "ramfs";
  let tmpfsLimit: CaptureOptions["tmpfsLimit"] = { percent: TMPFS_DEFAULT_PERCENT };
  const size = /(?:^|,)size=([^,]+)/.exec(params.get("initramfs_options") ?? "")?.[1];
  if (size !== undefined) {
    const pct = /^(\d+)%$/.exec(size);
    if (pct?.[1] !== undefined) tmpfsLimit = { percent: BigInt(pct[1]) };
    else {
      const m = memparse(size, 0);
      if (m.end === size.length && m.end > 0) tmpfsLimit = { bytes: m.value };
    }
  }
  const cmaText = params.get("cma");
  const cma = cmaText === undefined ? null : memparse(cmaText, 0).value;
  const swiotlb = params.get("swiotlb") ?? "";
  const slabs = /^(\d+)/.exec(swiotlb)?.[1];
  return {
    nrCpus: int("nr_cpus"),
    maxCpus: int("maxcpus"),
    rootfs,
    tmpfsLimit,
    cma,
    swiotlbOff: swiotlb.split(",").includes("noforce"),
    swiotlbBytes: slabs === undefined ? null : alignUp(BigInt(slabs), IO_TLB_SEGSIZE) * IO_TLB_SLAB,
  };
}

/** The facts every sizing reads, gathered once. */
interface Facts {
  readonly page: bigint;
  readonly pageSize: PageSize;
  readonly structPage: bigint;
  readonly sectionBytes: bigint;
  readonly cpusUsed: number;
  readonly kernelBytes: bigint;
  readonly dtbBytes: bigint;
  readonly elfcorehdrBytes: bigint;
  readonly initrdBytes: bigint;
  readonly decompressorBytes: bigint;
  readonly tmpfsData: bigint;
  readonly tmpfsEntries: bigint;
  readonly constants: Constants;
  readonly options: CaptureOptions;
  readonly cmaBytes: bigint;
  readonly swiotlbBytes: bigint;
  readonly ramStart: bigint;
}

/** Where the capture memory lies: one range, or a high range plus `low` bytes below the DMA limit holding the swiotlb. */
interface Layout {
  readonly kind: "plain" | "split";
  readonly low: bigint;
  readonly swiotlb: bigint;
}

/**
 * Estimates the crash reservation for `input` and writes it as `crashkernel=`.
 * Pure: the same input gives the same estimate.
 * @throws InputError `BAD_CALIBRATION` for a calibration measured with another page size.
 * @throws RangeError when `cpus` is not a positive integer or `dmaBits` is outside 20..64 (the caller's mistake).
 */
export function estimateCrashkernel(input: EstimateInput): Estimate {
  const { target, kernel } = input;
  if (!Number.isInteger(input.cpus) || input.cpus < 1) throw new RangeError(`estimateCrashkernel: cpus ${input.cpus} is not a positive integer`);
  const dmaBits = input.dmaBits ?? 32;
  if (!Number.isInteger(dmaBits) || dmaBits < 20 || dmaBits > 64) throw new RangeError(`estimateCrashkernel: dmaBits ${dmaBits} is outside 20..64`);
  const notes: string[] = [];
  const pageSize: PageSize = kernel.pageSize === 0 ? target.pageSize : kernel.pageSize;
  if (kernel.pageSize === 0) notes.push(`the capture kernel's Image header does not name its page size; assuming the target's ${target.pageSize / 1024} KiB`);
  else if (kernel.pageSize !== target.pageSize) notes.push(`the capture kernel uses ${kernel.pageSize / 1024} KiB pages, the crashed kernel ${target.pageSize / 1024} KiB`);
  const constants = constantsFor(pageSize, input.calibration, input.calibrationSource);
  if (input.calibration !== null && kernel.release !== null && input.calibration.measuredOn.kernelRelease !== kernel.release) {
    notes.push(`the calibration was measured on ${input.calibration.measuredOn.kernelRelease}, the capture kernel is ${kernel.release}`);
  }
  const options = captureOptions(input.commandLine);
  const cpusUsed = options.nrCpus !== null && options.nrCpus > 0 ? Math.min(options.nrCpus, input.cpus) : input.cpus;
  if (options.nrCpus === null && options.maxCpus !== null) {
    notes.push("maxcpus= only limits the CPUs brought online; per-CPU memory is still set up for every possible CPU (nr_cpus= limits those)");
  }
  const ram = totalSize(target.memory);
  const ramStart = target.memory[0]?.start ?? 0n;
  const ramEnd = target.memory.at(-1)?.end ?? 0n;
  const vmci = vmcoreinfoNumbers(target, pageSize);
  if (vmci.from === "defaults") notes.push(`sizeof(struct page) ${vmci.structPage} and SECTION_SIZE_BITS ${vmci.sectionBits} assumed (no vmcoreinfo for this page size in the target)`);
  const page = BigInt(pageSize);
  const initramfs = input.initramfs;
  if (initramfs === null) notes.push("no initramfs: the capture kernel must mount its root file system and run the collector from there");
  const cmaBytes = options.cma ?? BigInt(constants.values.cma);
  const facts: Facts = {
    page,
    pageSize,
    structPage: vmci.structPage,
    sectionBytes: 1n << vmci.sectionBits,
    cpusUsed,
    kernelBytes: kernel.textOffset + alignUp(kernel.imageSize, page),
    dtbBytes: alignUp(BigInt(bundledDtbSize(target.dtb)) + FDT_EXTRA_SPACE, page),
    elfcorehdrBytes: alignUp(EHDR + PHDR * BigInt(input.cpus + target.memory.length + 4), CORE_HEADER_ALIGN),
    initrdBytes: alignUp(BigInt(initramfs?.fileBytes ?? 0), page),
    decompressorBytes: BigInt(initramfs?.decompressorBytes ?? 0),
    tmpfsData: BigInt(initramfs?.tmpfsBytes[pageSize as TmpfsPageSize] ?? 0),
    tmpfsEntries: BigInt(initramfs?.entries ?? 0),
    constants,
    options,
    cmaBytes,
    swiotlbBytes: options.swiotlbOff ? 0n : (options.swiotlbBytes ?? IO_TLB_DEFAULT_SIZE),
    ramStart,
  };
  if ("bytes" in options.tmpfsLimit && options.tmpfsLimit.bytes < facts.tmpfsData) {
    notes.push(`initramfs_options=size= allows ${mib(options.tmpfsLimit.bytes)} but the initramfs unpacks to ${mib(facts.tmpfsData)}: unpacking fails whatever the reservation`);
  }
  if (options.rootfs === "ramfs" && initramfs !== null) notes.push("the capture command line names root= (or a rootfstype= without tmpfs), so the initramfs unpacks into ramfs, which has no size limit");
  if (cmaBytes > 0n && options.cma === null) notes.push(`the capture kernel reserves a ${mib(cmaBytes)} CMA area unless its command line says cma=0 (kdump-utils adds cma=0)`);
  const crashedMaxPfn = (ramEnd + BigInt(target.pageSize) - 1n) / BigInt(target.pageSize);

  // Where the reservation can go: below the DMA limit first (Documentation/arch/arm64/kdump.rst).
  const dmaLimit = dmaLimitOf(ramStart, ramEnd, dmaBits);
  const allLow = ramEnd <= dmaLimit;
  const lowFree = largestFreeBelow(target, dmaLimit);
  const runningKernelLow = (captureOptions(target.commandLine).cma ?? BigInt(constants.values.cma))
    + (allLow ? 0n : IO_TLB_DEFAULT_SIZE)
    + (allLow ? (ram / BigInt(target.pageSize)) * vmci.structPage : 0n);
  const lowRoom = lowFree > runningKernelLow ? lowFree - runningKernelLow : 0n;

  const plain: Layout = { kind: "plain", low: 0n, swiotlb: 0n };
  const split: Layout = { kind: "split", low: DEFAULT_CRASH_KERNEL_LOW_SIZE, swiotlb: facts.swiotlbBytes };
  const plainMin = solve(facts, plain, crashedMaxPfn, false);
  const plainRec = solve(facts, plain, crashedMaxPfn, true);
  let minimum = plainMin;
  let recommended = plainRec;
  let syntax: SyntaxAdvice;
  if (allLow || plainRec.bytes <= lowRoom) {
    syntax = {
      form: "plain",
      recommended: simpleSyntax(plainRec.bytes),
      minimum: simpleSyntax(plainMin.bytes),
      alternative: null,
      dmaLimit,
      lowFree,
      runningKernelLow,
      why: allLow
        ? `all RAM lies below the DMA limit ${hex(dmaLimit)}, so the reservation is DMA-able wherever it lands`
        : `${mib(plainRec.bytes)} fits in the ${mib(lowFree)} free below the DMA limit ${hex(dmaLimit)} after the ${mib(runningKernelLow)} the running kernel takes there first`,
    };
    if (plainRec.bytes > lowRoom) notes.push(`the recommended ${mib(plainRec.bytes)} is more than the ${mib(lowRoom)} of RAM left for it: the reservation may fail`);
  } else {
    // crashk_res (the high range) must hold every kexec segment.
    const floor = split.low + facts.kernelBytes + facts.initrdBytes + facts.dtbBytes + facts.elfcorehdrBytes;
    minimum = solve(facts, split, crashedMaxPfn, false, floor);
    recommended = solve(facts, split, crashedMaxPfn, true, floor);
    const high = (s: Sizing) => s.bytes - split.low;
    syntax = {
      form: "split",
      recommended: splitSyntax(high(recommended), split.low),
      minimum: splitSyntax(high(minimum), split.low),
      // Linux 6.2+ reads crashkernel=SIZE as "low if it fits, else high plus
      // 128 MiB low": the size must serve both outcomes.
      alternative: simpleSyntax(plainRec.bytes > high(recommended) ? plainRec.bytes : high(recommended)),
      dmaLimit,
      lowFree,
      runningKernelLow,
      why: `${mib(plainRec.bytes)} does not fit in the ${mib(lowRoom)} left below the DMA limit ${hex(dmaLimit)} ` +
        `(${mib(lowFree)} free, ${mib(runningKernelLow)} taken by the running kernel's CMA and swiotlb first), so the segments go high and ` +
        `${mib(split.low)} (DEFAULT_CRASH_KERNEL_LOW_SIZE) stay low for the capture kernel's ${mib(split.swiotlb)} swiotlb and 32-bit DMA`,
    };
    if (split.low > lowRoom) notes.push(`even the ${mib(split.low)} low range may not fit below the DMA limit (${mib(lowRoom)} left)`);
    // kernel/dma/contiguous.c places the CMA area below the DMA limit too: in the low range, beside the swiotlb.
    if (cmaBytes + split.swiotlb + 8n * MiB > split.low) {
      notes.push(`the ${mib(split.low)} low range must hold the capture kernel's ${mib(split.swiotlb)} swiotlb and its ${mib(cmaBytes)} CMA area, ` +
        "which leaves too little for other DMA allocations: add cma=0 to the capture command line, or a larger crashkernel=SIZE,low");
    }
  }

  const reservation = target.crashKernel === null ? null : checkReservation(target, facts, crashedMaxPfn, dmaLimit, split, ram);
  const fleet = input.fleet === undefined || input.fleet.length === 0 ? null : fleetAdvice(input.fleet, facts, plain, ramStart, target.pageSize);
  if (fleet !== null) {
    notes.push("the range form reserves below the DMA limit; where that is full, kernels since 6.2 fall back to high memory plus 128 MiB low, Linux 6.1 reserves nothing");
  }
  return {
    capture: { commandLine: input.commandLine, pageSize, cpus: cpusUsed, rootfs: options.rootfs, kernelRelease: kernel.release },
    crashed: { ram, ramEnd, pageSize: target.pageSize, cpus: input.cpus },
    minimum,
    recommended,
    syntax,
    reservation,
    fleet,
    constants: constantUses(facts, vmci.from),
    notes,
  };
}

/**
 * Bytes of the DTB segment a bundle writes from the target's DTB: the tree
 * serialized afresh, without the free space a firmware or QEMU leaves in it
 * (QEMU virt's is 1 MiB, mostly empty). A DTB that does not parse counts whole.
 */
function bundledDtbSize(dtb: Uint8Array | null): number {
  if (dtb === null) return 0;
  try {
    return serializeFdt(parseFdt(dtb)).length;
  } catch (e) {
    if (e instanceof InputError) return dtb.length;
    throw e;
  }
}

/** `max_zone_phys()` (arch/arm64/mm/init.c) for ZONE_DMA: a 2^bits limit, the whole RAM when it starts above 4 GiB, capped at the end of RAM. */
function dmaLimitOf(ramStart: bigint, ramEnd: bigint, bits: number): bigint {
  const u32Max = (1n << 32n) - 1n;
  let limit = (1n << BigInt(bits)) - 1n;
  if (ramStart > u32Max) limit = (1n << 64n) - 1n;
  else if (ramStart > limit) limit = u32Max;
  return (limit < ramEnd - 1n ? limit : ramEnd - 1n) + 1n;
}

/** The largest block of RAM below `limit` that no reserved range, kernel image or firmware holds (the current crash ranges count as free). */
function largestFreeBelow(t: Target, limit: bigint): bigint {
  const low = intersect(t.memory, [{ start: 0n, end: limit }]);
  const taken = [...t.reserved, ...(t.kernelCode === null ? [] : [t.kernelCode]), ...(t.kernelData === null ? [] : [t.kernelData])];
  return subtract(low, taken).reduce((m, r) => (r.end - r.start > m ? r.end - r.start : m), 0n);
}

/** sizeof(struct page) and SECTION_SIZE_BITS from the target's vmcoreinfo when its page size is the capture kernel's. */
function vmcoreinfoNumbers(t: Target, pageSize: PageSize): { structPage: bigint; sectionBits: bigint; from: "vmcoreinfo" | "defaults" } {
  const fallback = { structPage: STRUCT_PAGE, sectionBits: SECTION_SIZE_BITS[pageSize], from: "defaults" as const };
  const text = t.vmcoreinfo?.text;
  if (text === undefined || t.pageSize !== pageSize) return fallback;
  const info = parseVmcoreinfo(text, "vmcoreinfo.text");
  const size = info.entries.find((e) => e.key === "SIZE(page)")?.value;
  const bits = info.numbers.get("SECTION_SIZE_BITS");
  if (size === undefined || !/^\d+$/.test(size) || bits === undefined) return fallback;
  return { structPage: BigInt(size), sectionBits: bits, from: "vmcoreinfo" };
}

/** makedumpfile's two bitmap buffers for a crashed machine of `maxPfn` pages: 2 x min(4 MiB, max_mapnr x 2 / 8) bytes. */
function bitmapBytes(maxPfn: bigint): bigint {
  const each = (maxPfn * 2n + 7n) / 8n;
  return 2n * (each < CYCLIC_BUFFER_MAX ? each : CYCLIC_BUFFER_MAX);
}

/**
 * The smallest size S (a multiple of the granule) with S >= the sum of the
 * terms at S. The terms grow with S (memmap, page tables, hashes, margin)
 * far slower than S, so iterating from below reaches the fixed point.
 */
function solve(f: Facts, layout: Layout, maxPfn: bigint, recommended: boolean, floor = 0n): Sizing {
  const granule = recommended ? REC_GRANULE : MIN_GRANULE;
  let s = alignUp(floor, granule);
  for (let i = 0; i < 200; i++) {
    const total = alignUp(sum(termsAt(s, f, layout, maxPfn, recommended)), granule);
    const next = total > s ? total : s;
    if (next === s && i > 0) break;
    s = next;
  }
  const terms = termsAt(s, f, layout, maxPfn, recommended);
  const rounded = alignUp(sum(terms), granule);
  if (rounded < s) {
    terms.push({ key: "floor", label: "room for the segments in crashk_res", bytes: s - rounded,
      why: `the high range must hold the kernel, initramfs, DTB and elfcorehdr segments: at least ${mib(floor - layout.low)} above the ${mib(layout.low)} low range` });
  }
  const rest = (rounded < s ? rounded : s) - sum(terms.filter((t) => t.key !== "floor"));
  if (rest > 0n) terms.push({ key: "rounding", label: "rounding", bytes: rest, why: "the minimum up to a whole MiB, the recommended size up to 8 MiB" });
  return { bytes: s, terms };
}

function sum(terms: readonly Term[]): bigint {
  return terms.reduce((n, t) => n + t.bytes, 0n);
}

/** The terms of a capture memory of `s` bytes. */
function termsAt(s: bigint, f: Facts, layout: Layout, maxPfn: bigint, recommended: boolean): Term[] {
  const c = f.constants.values;
  const ranges = layout.kind === "split" && s > layout.low ? [s - layout.low, layout.low] : [s];
  const perSection = (f.sectionBytes / f.page) * f.structPage;
  const sections = ranges.reduce((n, r) => n + (r + f.sectionBytes - 1n) / f.sectionBytes + 1n, 0n);
  const memmap = sections * perSection;
  const pageTables = ((s + f.page - 1n) / f.page) * PTE_BYTES;
  const hashes = ((s + MiB - 1n) / MiB) * HASH_BYTES_PER_MIB;
  const inode = BigInt(c.tmpfsInode);
  const tmpfs = f.tmpfsData + f.tmpfsEntries * inode;
  const boot = f.initrdBytes + f.decompressorBytes;
  const collector = BigInt(c.collector) + bitmapBytes(maxPfn);
  const run = BigInt(c.userspace) + collector;
  const bootWins = boot > run;
  const terms: Term[] = [
    { key: "kernel", label: "kernel image", bytes: f.kernelBytes, why: `image_size from the Image header, page-aligned, plus text_offset` },
    { key: "bootData", label: "DTB and elfcorehdr", bytes: f.dtbBytes + 2n * f.elfcorehdrBytes,
      why: `the DTB with ${FDT_EXTRA_SPACE / KiB} KiB for /chosen (${kib(f.dtbBytes)}), and the elfcorehdr (${kib(f.elfcorehdrBytes)}) twice: the segment and /proc/vmcore's copy` },
    { key: "memmap", label: "struct page array", bytes: memmap,
      why: `${sections} memory sections of ${mib(f.sectionBytes)} (the ${layout.kind === "split" ? "two ranges" : "range"} rounded out to sections, one more for an unaligned start), ` +
        `${f.sectionBytes / f.page} pages each x ${f.structPage} bytes` },
    { key: "pageTables", label: "linear map page tables", bytes: pageTables, why: `${PTE_BYTES} bytes per ${kib(f.page)} page of the reservation (rodata=full maps it page by page)` },
    { key: "hashes", label: "large system hashes", bytes: hashes, why: `${HASH_BYTES_PER_MIB} bytes per MiB of the reservation (dentry, inode, TCP, UDP tables)` },
    { key: "kernelRuntime", label: "kernel run time (slab, vmalloc, ...)", bytes: BigInt(c.kernelRuntime), why: constantWhy(f, "kernelRuntime") },
    { key: "perCpu", label: "per-CPU", bytes: BigInt(f.cpusUsed) * BigInt(c.perCpu), why: `${f.cpusUsed} CPU${f.cpusUsed === 1 ? "" : "s"} x ${mib(BigInt(c.perCpu))} (${constantWhy(f, "perCpu")})` },
    { key: "phase", label: bootWins ? "boot peak: initramfs file and decompressor" : "run peak: user space and makedumpfile", bytes: bootWins ? boot : run,
      why: `the larger of boot (initramfs file ${mib(f.initrdBytes)} + decompressor ${mib(f.decompressorBytes)}, freed once unpacked) and run ` +
        `(init and shell ${mib(BigInt(c.userspace))} + makedumpfile ${mib(BigInt(c.collector))} + its bitmaps ${mib(bitmapBytes(maxPfn))} for ${maxPfn} crashed pages)` },
  ];
  if (f.tmpfsEntries > 0n) {
    terms.splice(terms.length - 1, 0, { key: "tmpfs", label: "unpacked initramfs", bytes: tmpfs,
      why: `file data in whole ${kib(f.page)} pages (${mib(f.tmpfsData)}) plus ${f.tmpfsEntries} entries x ${inode} bytes of inode and dentry` });
  }
  if (layout.swiotlb > 0n) {
    terms.push({ key: "swiotlb", label: "swiotlb bounce buffer", bytes: layout.swiotlb, why: "the capture kernel's memory reaches above the DMA limit, so it allocates the swiotlb (in the low range)" });
  }
  if (f.cmaBytes > 0n) {
    // The CMA area serves only movable allocations (mm/page_alloc.c), and the
    // kernel's own boot allocations are not: while drivers probe, only the
    // unpacked initramfs (tmpfs pages) can live there. User space comes later
    // and does not relieve the boot peak: real crashes ran out of memory in
    // driver probing with the CMA area almost empty (docs/crashkernel.md, "Calibration").
    const movable = f.tmpfsData;
    const extra = f.cmaBytes > movable ? f.cmaBytes - movable : 0n;
    terms.push({ key: "cma", label: "CMA area beyond movable use", bytes: extra,
      why: `the ${mib(f.cmaBytes)} CMA area takes only movable pages, and at boot those are the unpacked initramfs (${mib(movable)}); the rest is lost to the kernel` });
  }
  if (f.options.rootfs === "tmpfs" && "percent" in f.options.tmpfsLimit && f.tmpfsData > 0n) {
    // The rootfs is mounted (mnt_init(), from start_kernel()) with max_blocks
    // = totalram_pages() * percent / 100 while the initrd, memmap and other
    // early allocations are still held, and before the CMA area counts as
    // RAM: mm/cma.c hands it to the page allocator at core_initcall
    // (cma_init_reserved_areas()), so a reserved CMA area shrinks the limit
    // by its whole size (measured: docs/crashkernel.md, "Calibration").
    const early = f.kernelBytes + f.dtbBytes + f.elfcorehdrBytes + f.initrdBytes + memmap + pageTables + hashes + layout.swiotlb + f.cmaBytes;
    const bound = early + (f.tmpfsData * 100n + f.options.tmpfsLimit.percent - 1n) / f.options.tmpfsLimit.percent;
    const have = sum(terms);
    if (bound > have) {
      terms.push({ key: "tmpfsRule", label: "rootfs size rule", bytes: bound - have,
        why: `tmpfs may fill ${f.options.tmpfsLimit.percent}% of RAM: ${mib(f.tmpfsData)} of files need ${mib(bound - early)} of RAM beyond the ${mib(early)} held early` });
    }
  }
  if (recommended) {
    // No room for dirty page cache: the kernel's dirty limit is a share of
    // the memory available (mm/page-writeback.c global_dirtyable_memory()),
    // so makedumpfile is throttled, not starved; at the measured minima it
    // wrote its dump through the page cache with none set aside.
    const margin = (sum(terms) * MARGIN_PERCENT) / 100n;
    terms.push({ key: "margin", label: "margin", bytes: margin, why: `${MARGIN_PERCENT}% on top, for what the model leaves out` });
  }
  return terms;
}

function constantWhy(f: Facts, name: CalibratedName): string {
  return f.constants.from[name] === "calibration" ? "calibrated" : "built-in guess";
}

/** The check of the reservation the target already has. */
function checkReservation(t: Target, f: Facts, maxPfn: bigint, dmaLimit: bigint, split: Layout, ram: bigint): ReservationCheck {
  const high = t.crashKernel!;
  const low = t.crashKernelLow;
  const highBytes = high.end - high.start;
  const lowBytes = low === null ? 0n : low.end - low.start;
  const reserved = highBytes + lowBytes;
  // With a low range the capture kernel's RAM reaches above the DMA limit and
  // it allocates the swiotlb there; a high range alone is all "DMA zone" to
  // the capture kernel, which then has no memory for 32-bit DMA at all.
  const layout: Layout = low !== null ? { kind: "split", low: lowBytes, swiotlb: split.swiotlb } : { kind: "plain", low: 0n, swiotlb: 0n };
  const highOnly = low === null && high.start >= dmaLimit;
  const minimum = solve(f, layout, maxPfn, false).bytes;
  const recommended = solve(f, layout, maxPfn, true).bytes;
  const segments = f.kernelBytes + f.initrdBytes + f.dtbBytes + f.elfcorehdrBytes;
  let request: CrashkernelRequest | null = null;
  let error: string | null = null;
  try {
    request = parseCrashkernel(t.commandLine, ram);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    error = e.message;
  }
  const verdict = reserved >= recommended ? "enough" : reserved >= minimum ? "below-recommended" : "short";
  const missing = verdict === "enough" ? 0n : verdict === "short" ? minimum - reserved : recommended - reserved;
  const what = `your ${mib(reserved)} reservation${low === null ? "" : ` (${mib(highBytes)} high + ${mib(lowBytes)} low)`}`;
  let message = verdict === "enough"
    ? `${what} is enough (minimum ${mib(minimum)}, recommended ${mib(recommended)})`
    : verdict === "below-recommended"
      ? `${what} covers the minimum ${mib(minimum)} but is ${mib(missing)} short of the recommended ${mib(recommended)}`
      : `${what} is short by ${mib(missing)} of the minimum ${mib(minimum)} (recommended ${mib(recommended)})`;
  if (segments > highBytes) message += `; the kexec segments alone (${mib(segments)}) do not fit in crashk_res (${mib(highBytes)})`;
  if (highOnly) message += `; it lies above the DMA limit ${hex(dmaLimit)} with no low range, so devices limited to 32-bit DMA cannot work in the capture kernel`;
  return { reserved, high, low, minimum, recommended, verdict, missing, segments, commandLine: { request, error }, message };
}

/**
 * The range form for a fleet: one entry per size from that size up to the
 * next, sized for the largest machine it covers (the open last entry for a
 * machine with saturated makedumpfile bitmaps). Entries whose size is not
 * below their smallest machine's RAM are dropped: the kernel would refuse
 * the whole parameter on that machine.
 */
function fleetAdvice(sizes: readonly bigint[], f: Facts, layout: Layout, ramStart: bigint, crashedPage: number): FleetAdvice {
  const sorted = [...new Set(sizes)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (sorted.some((r) => r <= 0n)) throw new RangeError("fleetAdvice: a RAM size is not positive");
  // makedumpfile's bitmaps stop growing at 4 MiB each: the open end is sized for that.
  const saturated = (CYCLIC_BUFFER_MAX * 8n) / 2n;
  const pfns = (ram: bigint | null) => (ram === null ? saturated : (ramStart + ram + BigInt(crashedPage) - 1n) / BigInt(crashedPage));
  const sized = (start: bigint, end: bigint | null): FleetEntry => ({
    start, end, sizedFor: end, size: solve(f, layout, pfns(end), true).bytes, minimum: solve(f, layout, pfns(end), false).bytes,
  });
  // Drop sizes too small to hold their reservation, from the smallest up; the
  // kept entries then reach to the next kept start and are sized for it.
  let kept = sorted;
  const dropped: { ram: bigint; why: string }[] = [];
  for (;;) {
    const first = kept[0];
    if (first === undefined) break;
    // parse_crashkernel() refuses a size not below the machine's RAM (after
    // matching the range on the RAM rounded up to 128 MiB).
    const e = sized(first, kept[1] ?? null);
    if (e.size < first) break;
    dropped.push({ ram: first, why: `${mib(e.size)} is not below its ${mib(first)} of RAM; the kernel would refuse the parameter there` });
    kept = kept.slice(1);
  }
  const entries = kept.map((start, i) => sized(start, kept[i + 1] ?? null));
  return { entries, syntax: entries.length === 0 ? null : rangeSyntax(entries), dropped };
}

function constantUses(f: Facts, vmci: "vmcoreinfo" | "defaults"): ConstantUse[] {
  const uses: ConstantUse[] = CALIBRATED_NAMES.map((name) => ({
    name,
    value: BigInt(f.constants.values[name]),
    unit: "bytes" as const,
    kind: f.constants.from[name] === "calibration" ? "calibration" as const : "guess" as const,
    source: f.constants.from[name] === "calibration" ? "the calibration file" : CALIBRATED[name].source,
  }));
  const fixed: ConstantUse[] = [
    { name: "structPage", value: f.structPage, unit: "bytes", kind: vmci === "vmcoreinfo" ? "derived" : "kernel", source: vmci === "vmcoreinfo" ? "SIZE(page) in the target's vmcoreinfo" : "sizeof(struct page) on arm64 without debug options" },
    { name: "sectionSizeBits", value: BigInt(f.sectionBytes.toString(2).length - 1), unit: "bits", kind: vmci === "vmcoreinfo" ? "derived" : "kernel",
      source: vmci === "vmcoreinfo" ? "NUMBER(SECTION_SIZE_BITS) in the target's vmcoreinfo" : "arch/arm64/include/asm/sparsemem.h" },
    { name: "swiotlb", value: f.swiotlbBytes, unit: "bytes", kind: "kernel", source: "include/linux/swiotlb.h IO_TLB_DEFAULT_SIZE, or swiotlb= on the capture command line" },
    { name: "lowDefault", value: DEFAULT_CRASH_KERNEL_LOW_SIZE, unit: "bytes", kind: "kernel", source: "include/linux/crash_reserve.h DEFAULT_CRASH_KERNEL_LOW_SIZE" },
    { name: "cyclicBufferMax", value: CYCLIC_BUFFER_MAX, unit: "bytes", kind: "collector", source: "makedumpfile.c calculate_cyclic_buffer_size(): each bitmap buffer at most 4 MiB" },
    { name: "pteBytes", value: PTE_BYTES, unit: "bytes", kind: "kernel", source: "arm64 page table entry" },
    { name: "hashBytesPerMiB", value: HASH_BYTES_PER_MIB, unit: "bytes per MiB", kind: "peer", source: "alloc_large_system_hash() scales, tabulated by openSUSE kdumptool (KERNEL_HASH_PER_MB)" },
    { name: "marginPercent", value: MARGIN_PERCENT, unit: "percent", kind: "measured",
      source: "keeps the recommended size within 1.0 to 1.3 x the minimum measured by real crashes (docs/crashkernel.md, Calibration)" },
    { name: "tmpfsDefaultPercent", value: TMPFS_DEFAULT_PERCENT, unit: "percent", kind: "kernel", source: "mm/shmem.c shmem_default_max_blocks()" },
  ];
  return [...uses, ...fixed];
}

/** Bytes for people: whole GiB as GiB, below 1 MiB as KiB, else MiB to one decimal ("12.5 MiB", "256 MiB", "14 KiB"). */
export function mib(n: bigint): string {
  if (n >= 1n << 30n && n % (1n << 30n) === 0n) return `${n >> 30n} GiB`;
  if (n < MiB && n % KiB === 0n) return `${n / KiB} KiB`;
  if (n < MiB) return `${n} bytes`;
  const whole = n / MiB;
  const frac = Number(n % MiB) / 1048576;
  return frac === 0 ? `${whole} MiB` : `${(Number(whole) + frac).toFixed(1)} MiB`;
}

function kib(n: bigint): string {
  return n % KiB === 0n ? `${n / KiB} KiB` : `${n} bytes`;
}

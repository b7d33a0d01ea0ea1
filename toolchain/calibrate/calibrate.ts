import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError } from "../bytes/index.js";
import { composeCommandLine } from "../bundle/index.js";
import { captureKernel, estimateCrashkernel, measureInitramfs, readInitramfsFiles } from "../crashkernel/index.js";
import type { CaptureKernel, Calibration, Estimate, EstimateInput, InitramfsMeasure } from "../crashkernel/index.js";
import { loadKernelImage } from "../image/index.js";
import { CONFIG_PATH, parseConfig } from "../initramfs/index.js";
import { DUMP_FS_TYPES, crashProbeInitramfs, dumpVirtDtb, findHostTools, productionCommandLine, qemuVersion, runCrashProbe, virtTarget } from "../qemu/index.js";
import type { DumpDisk, ProbeResult, ProbeTimeouts } from "../qemu/index.js";
import type { Target } from "../target/index.js";
import { searchMinimum } from "./bisect.js";

/**
 * `purgatory crashkernel --calibrate --qemu`: the smallest crash reservation
 * with which a real crash of an emulated production machine is captured
 * completely (toolchain/qemu/crash.ts runs each probe), found by a search
 * that starts at the estimate's minimum (bisect.ts), and the estimate's
 * kernel run-time constant that this minimum implies, as a calibration file
 * the estimate reads (crashkernel/calibration.ts). The estimate never reads
 * this module: what flows back is data.
 */

const MiB = 1n << 20n;
/** The reservation's alignment on arm64 (`CRASH_ALIGN`, 2 MiB): the step of the search. */
export const CALIBRATION_GRANULE = 2n * MiB;
/** The search's first step away from the estimate. */
const FIRST_STEP = 8n * MiB;
/** Room on the dump disk (sparse): a -d 31 dump of a few GiB of RAM is tens of MiB. */
const DISK_MIB = 1024;

export interface CalibrateInputs {
  /** The kernel file (any arm64 format): the production kernel, and the capture kernel of every bundle. */
  readonly kernel: Uint8Array;
  /** The capture initramfs: one `purgatory initramfs` built (its /etc/purgatory/capture.conf names the dump disk). */
  readonly initrd: Uint8Array;
  /** The static arm64 examples/loader. */
  readonly loader: Uint8Array;
  /** RAM of the emulated production machine, bytes (a whole number of MiB). */
  readonly memory: bigint;
  readonly smp: number;
  /** Words the capture command line adds to the production line, e.g. "nr_cpus=1 reset_devices". */
  readonly append: string;
  /** Probe exactly these sizes (ascending) instead of searching. */
  readonly sizes?: readonly bigint[];
  /** Search options. */
  readonly maxProbes?: number;
  /** A directory of its own for the files of the run (the kernel Image, the production initramfs, the disks). */
  readonly workDir: string;
  /** Milliseconds on a monotonic clock (the library does not read it). */
  readonly clock: () => number;
  readonly timeouts?: Partial<ProbeTimeouts>;
  readonly qemu?: string;
  /** Called after each probe. */
  readonly onProbe?: (p: ProbeResult) => void;
  /** Called once the estimate is known, before the first probe. */
  readonly onStart?: (c: CalibrationSetup) => void;
}

/** What the run is about, known before the first probe. */
export interface CalibrationSetup {
  readonly kernel: CaptureKernel & { readonly formatChain: readonly string[] };
  readonly initramfs: InitramfsMeasure;
  readonly disk: DumpDisk;
  /** The production kernel's command line (crashkernel=SIZE for each probe). */
  readonly productionCommandLine: string;
  readonly captureCommandLine: string;
  readonly machine: string;
  /** The estimate for the emulated machine, before any probe (its minimum is where the search starts). */
  readonly estimate: Estimate;
}

export interface CalibrationResult extends CalibrationSetup {
  readonly probes: readonly ProbeResult[];
  /** "search" from the estimate, or the given "sizes". */
  readonly mode: "search" | "sizes";
  /** The smallest size that saved the dump, with a failure one granule below; null when no probe pair brackets it. */
  readonly minimum: bigint | null;
  /** The largest failing size below the smallest success, and the smallest success (null when none). */
  readonly failed: bigint | null;
  readonly succeeded: bigint | null;
  /** Why there is no minimum, or null. */
  readonly stopped: string | null;
  /** False when some probe contradicts a single boundary (see bisect.ts). */
  readonly consistent: boolean;
  /** The calibration the minimum implies, or null without a minimum. */
  readonly calibration: Calibration | null;
  /** The estimate again with that calibration (null without one). */
  readonly calibrated: Estimate | null;
  readonly notes: readonly string[];
  /** Milliseconds of the whole run. */
  readonly wallMs: number;
}

/**
 * Calibrates: reads the capture initramfs's dump target, estimates, probes.
 * @throws InputError `NO_CAPTURE_CONFIG` for an initramfs without the
 *   configuration of `purgatory initramfs`, `BAD_VALUE` for a dump target
 *   the probe cannot attach (only /dev/vda, LABEL= and UUID= on ext2/3/4),
 *   `TOOL_MISSING`, `QEMU_MISSING`, `QEMU_FAILED`, and the kernel's and
 *   initramfs's own errors.
 */
export async function calibrateCrashkernel(o: CalibrateInputs): Promise<CalibrationResult> {
  const t0 = o.clock();
  const image = await loadKernelImage(o.kernel);
  const kernel = { ...captureKernel(image), formatChain: image.formatChain };
  const initramfs = await measureInitramfs(o.initrd);
  const files = await readInitramfsFiles(o.initrd, [CONFIG_PATH, "/bin/busybox"]);
  const disk = dumpDisk(files.get(CONFIG_PATH));
  const busybox = files.get("/bin/busybox");
  if (busybox === undefined) {
    throw new InputError("NO_CAPTURE_CONFIG", "Cannot calibrate with this initramfs: it has no /bin/busybox for the production guest", "/bin/busybox",
      "Give a capture initramfs that `purgatory initramfs` built");
  }
  const tools = findHostTools(disk.fsType);

  await mkdir(o.workDir, { recursive: true });
  const kernelPath = join(o.workDir, "Image");
  await writeFile(kernelPath, image.bytes);
  const productionPath = join(o.workDir, "production.cpio");
  await writeFile(productionPath, crashProbeInitramfs({ busybox, loader: o.loader, kernel: image.bytes, initrd: o.initrd }));

  const dtb = await dumpVirtDtb({ el2: false, memory: o.memory, smp: o.smp, ...(o.qemu === undefined ? {} : { qemu: o.qemu }) });
  const virt = virtTarget({ dtb, memory: o.memory, crashKernel: null });
  const production = productionCommandLine(0n).replace(/crashkernel=\S+/, "crashkernel=SIZE");
  const captureCommandLine = composeCommandLine({ mode: "crash", reuse: production, append: o.append });
  const estimateFor = (target: Target, calibration: Calibration | null): Estimate =>
    estimateCrashkernel(estimateInput(target, o.smp, captureCommandLine, kernel, initramfs, calibration));
  const estimate = estimateFor(virt, null);
  const version = await qemuVersion(o.qemu);
  const machine = `${version.replace(/^QEMU emulator version /, "qemu-system-aarch64 ")}, -M virt -cpu cortex-a57 -m ${o.memory / MiB}M -smp ${o.smp}`;
  const setup: CalibrationSetup = { kernel, initramfs, disk, productionCommandLine: production, captureCommandLine, machine, estimate };
  o.onStart?.(setup);

  const probe = async (size: bigint): Promise<ProbeResult> => {
    const r = await runCrashProbe({
      kernel: image.bytes, kernelPath, initrd: o.initrd, productionPath, memory: o.memory, smp: o.smp, append: o.append,
      disk, tools, workDir: o.workDir, clock: o.clock,
      ...(o.timeouts === undefined ? {} : { timeouts: o.timeouts }), ...(o.qemu === undefined ? {} : { qemu: o.qemu }),
    }, size);
    o.onProbe?.(r);
    return r;
  };
  const granule = CALIBRATION_GRANULE;
  let search;
  if (o.sizes !== undefined) {
    const probes: ProbeResult[] = [];
    for (const size of [...o.sizes].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) probes.push(await probe(size));
    search = { ...bracket(probes, granule), probes };
  } else {
    const floor = roundUp(kernel.textOffset + kernel.imageSize + BigInt(o.initrd.length), granule);
    const ceiling = (o.memory / 2n / granule) * granule;
    search = await searchMinimum(probe, {
      start: estimate.minimum.bytes, granule, firstStep: FIRST_STEP, floor, ceiling: ceiling < floor ? floor : ceiling, maxProbes: o.maxProbes ?? 12,
    });
  }

  const notes: string[] = [];
  const island = search.probes.filter((p) => p.ok && search.failed !== null && p.size < search.failed);
  for (const p of island) {
    notes.push(`${p.size / MiB} MiB worked although ${search.failed! / MiB} MiB failed${p.cma?.startsWith("cma: Failed") ? `: the capture kernel could not reserve its CMA area there (${p.cma})` : ""}`);
  }
  const cmaFailed = search.probes.filter((p) => p.cma?.startsWith("cma: Failed"));
  if (cmaFailed.length > 0 && !/(^|\s)cma=/.test(captureCommandLine)) {
    notes.push(`at ${cmaFailed.map((p) => `${p.size / MiB}`).join(", ")} MiB the capture kernel had no room for its CMA area (${cmaFailed[0]!.cma}); ` +
      "a reservation that works only because of that is fragile: cma=0 on the capture command line removes the area (kdump-utils adds it)");
  }
  let calibration: Calibration | null = null;
  let calibrated: Estimate | null = null;
  if (search.minimum !== null) {
    const at = search.probes.find((p) => p.size === search.minimum);
    const target = at?.target ?? virt;
    const derived = deriveKernelRuntime((c) => estimateFor(target, c), kernel, search.minimum, setup, o);
    calibration = derived.calibration;
    notes.push(...derived.notes);
    if (calibration !== null) calibrated = estimateFor(target, calibration);
  }
  return {
    ...setup, probes: search.probes, mode: o.sizes === undefined ? "search" : "sizes", minimum: search.minimum, failed: search.failed,
    succeeded: search.succeeded, stopped: search.stopped, consistent: search.consistent, calibration, calibrated, notes, wallMs: o.clock() - t0,
  };
}

/** The input of the estimate for the emulated machine. */
function estimateInput(target: Target, cpus: number, commandLine: string, kernel: CaptureKernel, initramfs: InitramfsMeasure, calibration: Calibration | null): EstimateInput {
  return { target, cpus, commandLine, kernel, initramfs, calibration };
}

/** The minimum and its bracket from probes of given sizes (no search): the smallest success above which nothing failed. */
function bracket(probes: readonly ProbeResult[], granule: bigint): { minimum: bigint | null; failed: bigint | null; succeeded: bigint | null; stopped: string | null; consistent: boolean } {
  let succeeded: bigint | null = null;
  for (const p of [...probes].sort((a, b) => (a.size > b.size ? -1 : 1))) {
    if (!p.ok) break;
    succeeded = p.size;
  }
  const below = probes.filter((p) => !p.ok && (succeeded === null || p.size < succeeded)).map((p) => p.size);
  const failed = below.length === 0 ? null : below.reduce((m, s) => (s > m ? s : m));
  const minimum = succeeded !== null && failed !== null && succeeded - failed <= granule ? succeeded : null;
  const consistent = probes.every((p) => (p.ok ? failed === null || p.size > failed : succeeded === null || p.size < succeeded));
  const stopped = minimum !== null ? null
    : succeeded === null ? "no probed size saved the dump"
    : `no failure one granule (${granule / MiB} MiB) below ${succeeded / MiB} MiB: probe ${(succeeded - granule) / MiB}M to know it is the minimum`;
  return { minimum, failed, succeeded, stopped, consistent };
}

/** What `impliedKernelRuntime` found. */
export interface ImpliedConstant {
  /** Bytes, or null when the constant does not show in the measured minimum. */
  readonly kernelRuntime: bigint | null;
  /** Why there is none, or what limits it; null when nothing does. */
  readonly note: string | null;
}

/**
 * The kernelRuntime constant with which the estimate's minimum equals the
 * measured `minimum` (bytes): the largest value whose minimum is not above
 * it, since the minimum grows with the constant and the other terms stay.
 * `minimumWith(k)` is the estimate's minimum with kernelRuntime k. When the
 * other terms alone reach the measured minimum (the rootfs size rule, with a
 * large initramfs), the constant does not show in it: null.
 */
export function impliedKernelRuntime(minimumWith: (kernelRuntime: bigint) => { bytes: bigint; ruled: boolean }, minimum: bigint): ImpliedConstant {
  const floor = minimumWith(0n);
  if (floor.bytes > minimum) {
    return { kernelRuntime: null, note: `even with kernelRuntime 0 the estimate's minimum is ${floor.bytes / MiB} MiB, above the measured ${minimum / MiB} MiB: other terms of the model are too large for this machine` };
  }
  if (floor.bytes === minimum) {
    return { kernelRuntime: null, note: `the estimate's other terms${floor.ruled ? " (the rootfs size rule)" : ""} already give the measured ${minimum / MiB} MiB: ` +
      "the kernel run time does not show in this minimum, so no calibration is written; calibrate with a smaller initramfs" };
  }
  let lo = 0n;
  let hi = minimum;
  while (hi - lo > 1n) {
    const mid = (lo + hi) / 2n;
    if (minimumWith(mid).bytes <= minimum) lo = mid;
    else hi = mid;
  }
  const reached = minimumWith(lo).bytes;
  return { kernelRuntime: lo, note: reached < minimum ? `the estimate's minimum cannot reach ${minimum / MiB} MiB through kernelRuntime alone (it stops at ${reached / MiB} MiB)` : null };
}

/** The calibration file of a measured minimum, with the notes on it. */
function deriveKernelRuntime(estimate: (c: Calibration | null) => Estimate, kernel: CaptureKernel, minimum: bigint, setup: CalibrationSetup, o: CalibrateInputs): { calibration: Calibration | null; notes: string[] } {
  const calibration = (k: bigint): Calibration => ({
    measuredOn: {
      kernelRelease: kernel.release ?? "unknown",
      pageSize: setup.estimate.capture.pageSize,
      machine: setup.machine,
      method: `purgatory crashkernel --calibrate --qemu: the smallest crashkernel= (2 MiB steps) with which a real crash (sysrq c) of this machine was saved ` +
        `by the capture initramfs (${setup.initramfs.fileBytes} bytes, ${setup.initramfs.entries} entries) was ${minimum / MiB} MiB, ` +
        `capture command line "${setup.captureCommandLine}"; kernelRuntime is that minimum less the estimate's other terms`,
    },
    constants: { kernelRuntime: Number(k) },
  });
  const implied = impliedKernelRuntime((k) => {
    const m = estimate(calibration(k)).minimum;
    return { bytes: m.bytes, ruled: m.terms.some((t) => t.key === "tmpfsRule") };
  }, minimum);
  const notes = implied.note === null ? [] : [implied.note];
  if (implied.kernelRuntime === null) return { calibration: null, notes };
  if (kernel.release === null) notes.push("the kernel's release was not found in its banner: the calibration records it as unknown");
  if (o.sizes !== undefined) notes.push("the minimum comes from the given sizes, not from a search");
  return { calibration: calibration(implied.kernelRuntime), notes };
}

/**
 * The dump disk the capture initramfs's configuration asks for.
 * @throws InputError `NO_CAPTURE_CONFIG` without the file, `BAD_VALUE` for a
 *   target the probe cannot give it.
 */
function dumpDisk(conf: Uint8Array | undefined): DumpDisk {
  if (conf === undefined) {
    throw new InputError("NO_CAPTURE_CONFIG", `Cannot calibrate with this initramfs: it has no ${CONFIG_PATH}, so nothing says where it saves the dump`, CONFIG_PATH,
      "Build the capture initramfs with `purgatory initramfs` (e.g. --dump-to LABEL=crash --fs-type ext4): the probes check the saved dump on the disk it names");
  }
  const c = parseConfig(new TextDecoder().decode(conf));
  const get = (k: string): string => {
    const v = c.get(k);
    if (v === undefined) throw new InputError("NO_CAPTURE_CONFIG", `Cannot calibrate with this initramfs: ${CONFIG_PATH} has no ${k}`, `${CONFIG_PATH}: ${k}`, "Rebuild it with `purgatory initramfs`");
    return v;
  };
  const dumpTo = get("dump_to");
  const fsType = get("fs_type");
  if (!/^(LABEL=.+|UUID=[0-9a-fA-F-]+|\/dev\/vda)$/.test(dumpTo)) {
    throw new InputError("BAD_VALUE", `Cannot calibrate with this initramfs: it saves to ${dumpTo}, and the probe's one virtio disk is /dev/vda`, `${CONFIG_PATH}: dump_to`,
      "Build the capture initramfs with --dump-to LABEL=NAME (or UUID=, or /dev/vda) for the calibration");
  }
  if (!DUMP_FS_TYPES.includes(fsType)) {
    throw new InputError("BAD_VALUE", `Cannot calibrate with this initramfs: its dump file system is ${fsType}, and the probes make ext2, ext3 or ext4 disks`, `${CONFIG_PATH}: fs_type`,
      "Build the capture initramfs with --fs-type ext4 for the calibration");
  }
  return { dumpTo, fsType, directory: get("directory"), mib: DISK_MIB };
}

function roundUp(n: bigint, g: bigint): bigint {
  return ((n + g - 1n) / g) * g;
}

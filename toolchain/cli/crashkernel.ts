import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Argv, CommandModule } from "yargs";
import { InputError, hex, inFile, inFileAsync } from "../bytes/index.js";
import { calibrateCrashkernel } from "../calibrate/index.js";
import type { CalibrationResult } from "../calibrate/index.js";
import { composeCommandLine } from "../bundle/index.js";
import { captureKernel, estimateCrashkernel, measureInitramfs, memparse, mib, parseCalibration, serializeCalibration } from "../crashkernel/index.js";
import type { Calibration, Estimate, InitramfsMeasure, Sizing, Term } from "../crashkernel/index.js";
import { loadKernelImage } from "../image/index.js";
import { QEMU_VIRT, dtbMachine, parseSize } from "../qemu/index.js";
import type { ProbeResult } from "../qemu/index.js";
import { parseTarget } from "../target/index.js";
import type { Target } from "../target/index.js";
import { readInput, writeAtomically } from "./_files.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory crashkernel`: how much crash kernel memory the capture needs,
 * term by term, and the `crashkernel=` to ask for it with.
 */

/** What the project's crash bundles append by default (README: `bundle --mode crash --reuse-cmdline --append ...`). */
export const DEFAULT_CAPTURE_APPEND = "nr_cpus=1 reset_devices";

interface Args {
  target?: string;
  kernel: string;
  initrd?: string;
  append?: string;
  commandLine?: string;
  reuseCmdline?: boolean;
  cpus?: number;
  calibration?: string;
  fleet?: string;
  dmaBits?: number;
  json?: boolean;
  calibrate?: boolean;
  qemu?: boolean;
  memory: string;
  smp: number;
  loader?: string;
  probe?: string;
  writeCalibration?: string;
  maxProbes?: number;
  probeTimeout?: number;
  consoleDir?: string;
  qemuBinary?: string;
}

const command: CommandModule<object, Args> = {
  command: "crashkernel",
  describe: "Estimate the crash kernel reservation (minimum and recommended, term by term) and write the crashkernel= for it",
  builder: (y) =>
    y
      .usage(
        "$0 crashkernel -t target.json --kernel K [--initrd I]\n" +
          "       [--append S | --command-line S | --reuse-cmdline] [--cpus N]\n" +
          "       [--calibration FILE] [--fleet 2G,4G,...] [--dma-bits N] [--json]\n\n" +
          "Adds up what the capture kernel holds at its peak in the reserved memory:\n" +
          "  kernel image        image_size from the Image header (BSS included, not the file)\n" +
          "  DTB and elfcorehdr  the boot data segments (/proc/vmcore copies the elfcorehdr)\n" +
          "  struct page array   64 bytes per page reserved, allocated per memory section\n" +
          "  page tables, hashes the linear map and the dentry/inode/network hash tables\n" +
          "  kernel run time     slab, vmalloc, global kernel threads (calibratable)\n" +
          "  per-CPU             per CPU the capture kernel sets up (nr_cpus=1: one)\n" +
          "  unpacked initramfs  every file in whole pages, an inode and dentry per entry\n" +
          "  boot or run peak    initramfs file + decompressor, or init + makedumpfile\n" +
          "  makedumpfile        2 bitmaps of 2 bits per crashed page (at most 4 MiB each)\n" +
          "  swiotlb             64 MiB low, when the reservation reaches above the DMA limit\n" +
          "  CMA                 the capture kernel's CMA area beyond the unpacked initramfs (cma=0)\n" +
          "  rootfs size rule    a tmpfs rootfs may only fill half of RAM (no root=)\n" +
          "The recommended size adds a 10% margin, rounded up to 8 MiB (real crashes in\n" +
          "QEMU put it at 1.1 to 1.3 x the true minimum). Constants only a measurement can give are\n" +
          "named in the output; --calibration FILE replaces them.\n\n" +
          "The capture command line decides CPUs, rootfs, CMA and swiotlb. By default it\n" +
          "is the target's line without BOOT_IMAGE= and crashkernel=, plus\n" +
          `"${DEFAULT_CAPTURE_APPEND}" (what the README gives \`bundle\`); --append,\n` +
          "--command-line and --reuse-cmdline compose it as `bundle` does.\n\n" +
          "The advice is crashkernel=SIZE when that fits below the DMA limit (4 GiB, or\n" +
          "--dma-bits), else crashkernel=SIZE,high crashkernel=128M,low; --fleet adds one\n" +
          "range form for machines of those RAM sizes. Each line parses back to its size\n" +
          "under the kernel's parse_crashkernel() rules. When the target already reserves\n" +
          "crash memory, the report says whether that is enough or by how much it is short.\n" +
          "docs/crashkernel.md has the model, every constant's source and the peers' formulas.\n\n" +
          "--calibrate --qemu measures instead: QEMU virt (--memory, --smp) boots the kernel with\n" +
          "crashkernel=SIZE into a guest that loads a crash bundle (capture initramfs --initrd,\n" +
          "from `purgatory initramfs`) with --loader and crashes (sysrq c); a probe succeeds when the\n" +
          "capture kernel, booted through our purgatory, saves the dump on the disk its\n" +
          "configuration names and status.json says success. The search starts at the estimate's\n" +
          "minimum and closes in 2 MiB steps (or --probe SIZES runs exactly those); every probe is\n" +
          "printed with its outcome (OOM killer, initramfs unpacking, panic, hang, kexec_load\n" +
          "refusal) and wall time. --write-calibration FILE writes the kernelRuntime constant the\n" +
          "minimum implies, for --calibration.",
      )
      .option("target", { alias: "t", type: "string", requiresArg: true, describe: "target.json from `purgatory describe` or `purgatory target qemu-virt` (not with --calibrate)" })
      .option("kernel", { type: "string", requiresArg: true, demandOption: true, describe: "The capture kernel, in any arm64 format (its image_size counts, not the file size)" })
      .option("initrd", { alias: "ramdisk", type: "string", requiresArg: true, describe: "The capture initramfs: cpio, gzip/zstd/xz-compressed cpio, or an early cpio followed by a compressed one" })
      .option("append", { type: "string", describe: "Words appended to the capture command line" })
      .option("command-line", { type: "string", describe: "The whole capture command line" })
      .option("reuse-cmdline", { type: "boolean", describe: "Start from the target's command line, without BOOT_IMAGE= and crashkernel=" })
      .option("cpus", { type: "number", describe: "Possible CPUs of the crashed machine (default: its crash notes, else the CPUs in its DTB)" })
      .option("calibration", { type: "string", requiresArg: true, describe: "A calibration file with measured constants (format purgatory-crashkernel-calibration/1)" })
      .option("fleet", { type: "string", describe: "RAM sizes of the machines one crashkernel= must serve, e.g. 2G,4G,16G,64G: prints the range form" })
      .option("dma-bits", { type: "number", describe: "Address bits of the platform's DMA masters (default 32; 30 on a Raspberry Pi 4)" })
      .option("json", { type: "boolean", describe: "Print the estimate (or the calibration) as JSON" })
      .option("calibrate", { type: "boolean", describe: "Measure the minimum with real crashes instead of estimating it (with --qemu)" })
      .option("qemu", { type: "boolean", describe: "Calibrate on an emulated machine (QEMU virt, TCG)" })
      .option("memory", { alias: "m", type: "string", default: "1G", describe: "--calibrate: RAM of the emulated production machine" })
      .option("smp", { type: "number", default: 2, describe: "--calibrate: its CPU count" })
      .option("loader", { type: "string", describe: "--calibrate: the static arm64 examples/loader (bash scripts/build-loader.sh prints its path)" })
      .option("probe", { type: "string", describe: "--calibrate: probe exactly these sizes, e.g. 110M,112M, instead of searching" })
      .option("write-calibration", { type: "string", describe: "--calibrate: write the calibration the minimum implies to FILE" })
      .option("max-probes", { type: "number", default: 12, describe: "--calibrate: give up the search after this many probes" })
      .option("probe-timeout", { type: "number", default: 600, describe: "--calibrate: seconds a probe may take to boot, and its capture to finish (a silent console for half of it is a hang)" })
      .option("console-dir", { type: "string", describe: "--calibrate: write each probe's console to DIR/probe-SIZE-console.txt" })
      .option("qemu-binary", { type: "string", describe: "--calibrate: QEMU to run (default: qemu-system-aarch64 on PATH)" })
      .example("$0 crashkernel -t target.json --kernel /boot/vmlinuz --initrd capture.cpio.gz", "the estimate, with the capture line the README's bundle uses")
      .example("$0 crashkernel -t t.json --kernel Image --initrd i.cpio --append 'nr_cpus=1 cma=0' --reuse-cmdline", "without the CMA area")
      .example("$0 crashkernel -t t.json --kernel Image --initrd i.cpio.zst --fleet 2G,4G,16G,64G", "one range form for four machine sizes")
      .example("$0 crashkernel -t t.json --kernel Image --calibration virt-6.1.json --json", "measured constants, as data")
      .example("$0 crashkernel --calibrate --qemu --kernel Image --initrd capture.cpio.gz --loader loader -m 1G --smp 2 --write-calibration virt-6.1.json",
        "the measured minimum, and the calibration it implies") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      if (argv.calibrate) return calibrate(argv);
      if (argv.qemu) throw new UsageError("--qemu goes with --calibrate.");
      for (const o of ["loader", "probe", "writeCalibration", "consoleDir"] as const) {
        if (argv[o] !== undefined) throw new UsageError(`--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --calibrate.`);
      }
      if (argv.target === undefined) throw new UsageError("Missing required argument: target (or --calibrate --qemu to measure on an emulated machine).");
      const targetFile = argv.target;
      if (argv.commandLine !== undefined && argv.reuseCmdline) throw new UsageError("--command-line and --reuse-cmdline both set the command line; add words with --append.");
      if (argv.commandLine !== undefined && argv.append !== undefined) throw new UsageError("Cannot use --command-line with --append: --command-line is the whole command line.");
      if (argv.cpus !== undefined && (!Number.isInteger(argv.cpus) || argv.cpus < 1)) throw new UsageError(`--cpus ${argv.cpus} is not a positive whole number`);
      const dmaBits = argv.dmaBits ?? 32;
      if (!Number.isInteger(dmaBits) || dmaBits < 20 || dmaBits > 64) throw new UsageError(`--dma-bits ${argv.dmaBits} is not a whole number from 20 to 64`);
      const fleet = argv.fleet === undefined ? undefined : parseFleet(argv.fleet);

      const target = inFile(targetFile, () => parseTarget(new TextDecoder().decode(readInput(targetFile))));
      const kernelBytes = readInput(argv.kernel);
      const kernel = captureKernel(await inFileAsync(argv.kernel, () => loadKernelImage(kernelBytes)));
      const initramfs = argv.initrd === undefined ? null : await inFileAsync(argv.initrd, () => measureInitramfs(readInput(argv.initrd!)));
      const calibration = argv.calibration === undefined ? null : inFile(argv.calibration, () => parseCalibration(new TextDecoder().decode(readInput(argv.calibration!)), argv.calibration));
      const explicit = argv.commandLine !== undefined || argv.reuseCmdline === true || argv.append !== undefined;
      const commandLine = composeCommandLine({
        mode: "crash",
        commandLine: argv.commandLine,
        reuse: explicit ? (argv.reuseCmdline ? target.commandLine : undefined) : target.commandLine,
        append: explicit ? argv.append : DEFAULT_CAPTURE_APPEND,
      });
      const cpus = argv.cpus ?? cpusOf(target, commandLine);
      const estimate = estimateCrashkernel({
        target, cpus, commandLine, kernel, initramfs, calibration, dmaBits,
        ...(argv.calibration === undefined ? {} : { calibrationSource: argv.calibration }),
        ...(fleet === undefined ? {} : { fleet }),
      });
      const data: Report = {
        ...estimate,
        inputs: {
          target: targetFile,
          kernel: { file: argv.kernel, fileBytes: BigInt(kernelBytes.length), imageSize: kernel.imageSize, pageSize: kernel.pageSize, release: kernel.release },
          initramfs: argv.initrd === undefined || initramfs === null ? null : { file: argv.initrd, ...jsonMeasure(initramfs) },
          calibration: argv.calibration === undefined || calibration === null ? null : { file: argv.calibration, measuredOn: calibration.measuredOn },
          cpusFrom: argv.cpus !== undefined ? "--cpus" : target.cpuNotes.length > 0 ? "crash notes" : "DTB",
        },
      };
      report(argv, data, render);
    }),
};
export default command;

/** `--calibrate --qemu`. */
async function calibrate(argv: Args): Promise<void> {
  if (!argv.qemu) throw new UsageError("--calibrate needs --qemu: the calibration runs real crashes on an emulated machine.");
  for (const o of ["target", "commandLine", "reuseCmdline", "cpus", "calibration", "fleet"] as const) {
    if (argv[o] !== undefined) throw new UsageError(`--${o.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} does not go with --calibrate (the machine is the emulated one).`);
  }
  if (argv.initrd === undefined) throw new UsageError("--calibrate needs --initrd: the capture initramfs (from `purgatory initramfs`).");
  if (argv.loader === undefined) throw new UsageError("--calibrate needs --loader: the static arm64 examples/loader (bash scripts/build-loader.sh prints its path).");
  const memory = parseSize(argv.memory, "--memory", true);
  if (memory < 256n << 20n || memory % (1n << 20n) !== 0n) {
    throw new InputError("BAD_OPTION", `Cannot emulate ${argv.memory} of RAM: give a whole number of MiB, at least 256M`, "--memory", "Give e.g. 1G, 2G or 4G");
  }
  if (!Number.isInteger(argv.smp) || argv.smp < 1 || argv.smp > QEMU_VIRT.maxCpus) {
    throw new InputError("BAD_OPTION", `Cannot emulate ${argv.smp} CPUs: QEMU virt holds 1 to ${QEMU_VIRT.maxCpus}`, "--smp", `Give 1..${QEMU_VIRT.maxCpus}`);
  }
  const maxProbes = argv.maxProbes ?? 12;
  const probeTimeout = argv.probeTimeout ?? 600;
  if (!Number.isInteger(maxProbes) || maxProbes < 2) throw new InputError("BAD_OPTION", `Cannot search with ${maxProbes} probes: give 2 or more`, "--max-probes", "Give e.g. 12");
  if (!(probeTimeout >= 30)) throw new InputError("BAD_OPTION", `Cannot give a probe ${probeTimeout} s: give 30 or more`, "--probe-timeout", "Give e.g. 600");
  const sizes = argv.probe === undefined ? undefined : argv.probe.split(",").map((s) => {
    const v = parseSize(s, "--probe", true);
    if (v === 0n || v % (1n << 20n) !== 0n) throw new InputError("BAD_OPTION", `Cannot probe ${s}: give whole MiB, e.g. 112M`, "--probe", "Give sizes such as 110M,112M");
    return v;
  });
  const initrdFile = argv.initrd;
  const kernel = readInput(argv.kernel);
  const initrd = readInput(initrdFile);
  const loader = readInput(argv.loader);
  const append = argv.append ?? DEFAULT_CAPTURE_APPEND;
  if (argv.consoleDir !== undefined) mkdirSync(argv.consoleDir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "purgatory-calibrate-"));
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let result: CalibrationResult;
  try {
    result = await inFileAsync(initrdFile, () => calibrateCrashkernel({
      kernel, initrd, loader, memory, smp: argv.smp, append, workDir: work, clock: () => performance.now(), maxProbes,
      timeouts: { bootMs: probeTimeout * 1000, captureMs: probeTimeout * 1000, quietMs: (probeTimeout * 1000) / 2 },
      ...(sizes === undefined ? {} : { sizes }),
      ...(argv.qemuBinary === undefined ? {} : { qemu: argv.qemuBinary }),
      onStart: (c) => say(`calibrating on ${c.machine}: the estimate's minimum is ${mib(c.estimate.minimum.bytes)}, recommended ${mib(c.estimate.recommended.bytes)}`),
      onProbe: (p) => {
        say(`  ${probeLine(p)}`);
        if (argv.consoleDir !== undefined) writeAtomically(join(argv.consoleDir, `probe-${p.size >> 20n}M-console.txt`), p.console.join("\n") + "\n");
      },
    }));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const write = argv.writeCalibration !== undefined && result.calibration !== null;
  if (write) writeAtomically(argv.writeCalibration!, serializeCalibration(result.calibration!));
  const data: CalibrationReport = {
    machine: result.machine,
    kernel: { file: argv.kernel, release: result.kernel.release, imageSize: result.kernel.imageSize, formatChain: result.kernel.formatChain },
    initramfs: { file: initrdFile, ...result.initramfs },
    disk: result.disk,
    productionCommandLine: result.productionCommandLine,
    captureCommandLine: result.captureCommandLine,
    mode: result.mode,
    probes: result.probes.map(compactProbe),
    minimum: result.minimum,
    failed: result.failed,
    succeeded: result.succeeded,
    stopped: result.stopped,
    consistent: result.consistent,
    estimate: { minimum: result.estimate.minimum.bytes, recommended: result.estimate.recommended.bytes },
    calibrated: result.calibrated === null ? null : { minimum: result.calibrated.minimum.bytes, recommended: result.calibrated.recommended.bytes },
    calibration: result.calibration,
    calibrationFile: write ? argv.writeCalibration! : null,
    notes: result.notes,
    wallMs: Math.round(result.wallMs),
  };
  report(argv, data, renderCalibration);
  if (argv.writeCalibration !== undefined && !write) {
    // The report above says why; the file asked for is not there.
    say(`purgatory: Cannot write ${argv.writeCalibration}: the probes found no minimum (${result.stopped ?? "they do not bracket one"})`);
    process.exitCode = 1;
  } else if (result.minimum === null && sizes === undefined) process.exitCode = 1;
}

type CompactProbe = Omit<ProbeResult, "console" | "target" | "wallMs" | "steps"> & { readonly wallMs: number; readonly steps: Record<string, number> };

interface CalibrationReport {
  readonly machine: string;
  readonly kernel: { readonly file: string; readonly release: string | null; readonly imageSize: bigint; readonly formatChain: readonly string[] };
  readonly initramfs: InitramfsMeasure & { readonly file: string };
  readonly disk: CalibrationResult["disk"];
  readonly productionCommandLine: string;
  readonly captureCommandLine: string;
  readonly mode: CalibrationResult["mode"];
  readonly probes: readonly CompactProbe[];
  readonly minimum: bigint | null;
  readonly failed: bigint | null;
  readonly succeeded: bigint | null;
  readonly stopped: string | null;
  readonly consistent: boolean;
  readonly estimate: { readonly minimum: bigint; readonly recommended: bigint };
  readonly calibrated: { readonly minimum: bigint; readonly recommended: bigint } | null;
  readonly calibration: Calibration | null;
  readonly calibrationFile: string | null;
  readonly notes: readonly string[];
  readonly wallMs: number;
}

function compactProbe(p: ProbeResult): CompactProbe {
  const { console: _c, target: _t, ...rest } = p;
  return { ...rest, wallMs: Math.round(p.wallMs), steps: Object.fromEntries(Object.entries(p.steps).map(([k, v]) => [k, Math.round(v)])) };
}

/** One probe on one line: size, outcome, wall time, why. */
function probeLine(p: Pick<ProbeResult, "size" | "ok" | "outcome" | "wallMs" | "reason">): string {
  return `${mib(p.size).padStart(8)}  ${(p.ok ? "ok" : p.outcome).padEnd(14)} ${(p.wallMs / 1000).toFixed(1).padStart(6)} s  ${p.reason}`;
}

function renderCalibration(r: CalibrationReport): string {
  const lines = [
    `calibration on ${r.machine}`,
    `  kernel           ${r.kernel.file}: ${r.kernel.release ?? "release unknown"}, image_size ${mib(r.kernel.imageSize)}`,
    `  capture initrd   ${r.initramfs.file}: ${mib(BigInt(r.initramfs.fileBytes))} file, ${r.initramfs.entries} entries; dump to ${r.disk.dumpTo} (${r.disk.fsType}) ${r.disk.directory}`,
    `  production line  ${r.productionCommandLine}`,
    `  capture line     ${r.captureCommandLine}`,
    `  estimate         minimum ${mib(r.estimate.minimum)}, recommended ${mib(r.estimate.recommended)} (built-in constants)`,
    "",
    `  ${"size".padStart(8)}  ${"outcome".padEnd(14)} ${"wall".padStart(8)}  what happened`,
    ...r.probes.map((p) => `  ${probeLine(p)}`),
    "",
  ];
  if (r.minimum !== null) lines.push(`minimum: ${mib(r.minimum)} (crashkernel=${r.minimum >> 20n}M saved the dump, ${r.failed === null ? "the smallest size tried" : `${mib(r.failed)} did not`})`);
  else lines.push(`no minimum: ${r.stopped ?? "the probes do not bracket one"}${r.succeeded === null ? "" : `; smallest working size ${mib(r.succeeded)}`}`);
  if (!r.consistent) lines.push("note: the outcomes do not follow one boundary (a larger size failed where a smaller one worked)");
  if (r.calibration !== null && r.calibrated !== null) {
    lines.push(`implied kernelRuntime: ${mib(BigInt(r.calibration.constants.kernelRuntime ?? 0))} (measured on ${r.calibration.measuredOn.kernelRelease}); ` +
      `with it the estimate says minimum ${mib(r.calibrated.minimum)}, recommended ${mib(r.calibrated.recommended)}`);
  }
  if (r.calibrationFile !== null) lines.push(`wrote ${r.calibrationFile}`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  lines.push(`${r.probes.length} probe${r.probes.length === 1 ? "" : "s"} in ${(r.wallMs / 1000).toFixed(0)} s`);
  return lines.join("\n");
}

interface Report extends Estimate {
  readonly inputs: {
    readonly target: string;
    readonly kernel: { readonly file: string; readonly fileBytes: bigint; readonly imageSize: bigint; readonly pageSize: number; readonly release: string | null };
    readonly initramfs: (ReturnType<typeof jsonMeasure> & { readonly file: string }) | null;
    readonly calibration: { readonly file: string; readonly measuredOn: Calibration["measuredOn"] } | null;
    readonly cpusFrom: string;
  };
}

/** The measure with every size in bytes a bigint, which JSON prints as "0x…" (README: one rule for numbers). */
function jsonMeasure(m: InitramfsMeasure) {
  return {
    ...m,
    fileBytes: BigInt(m.fileBytes),
    cpioBytes: BigInt(m.cpioBytes),
    dataBytes: BigInt(m.dataBytes),
    decompressorBytes: BigInt(m.decompressorBytes),
    tmpfsBytes: Object.fromEntries(Object.entries(m.tmpfsBytes).map(([k, v]) => [k, BigInt(v)])),
    parts: m.parts.map((p) => ({ ...p, size: BigInt(p.size), cpioBytes: BigInt(p.cpioBytes), decompressorBytes: BigInt(p.decompressorBytes) })),
  };
}

/** `--fleet 2G,4G,...`: sizes as memparse reads them, each above 0. @throws UsageError. */
function parseFleet(text: string): bigint[] {
  return text.split(",").map((s) => {
    const m = memparse(s, 0);
    if (s === "" || m.end !== s.length || m.value === 0n) throw new UsageError(`--fleet: ${JSON.stringify(s)} is not a RAM size such as 4G or 1536M`);
    return m.value;
  });
}

/**
 * Possible CPUs of the crashed machine: one crash note per possible CPU
 * (kernel/crash_core.c), else the CPUs its device tree lists. With neither,
 * nr_cpus=1 on the capture line makes the count irrelevant but for the
 * elfcorehdr's notes, so 1 is used.
 * @throws InputError `BAD_TARGET` when the count matters and nothing gives it.
 */
function cpusOf(t: Target, captureLine: string): number {
  if (t.cpuNotes.length > 0) return t.cpuNotes.length;
  const fromDtb = t.dtb === null ? 0 : dtbMachine(t.dtb).cpus;
  if (fromDtb > 0) return fromDtb;
  if (/(^|\s)nr_cpus=1(\s|$)/.test(captureLine)) return 1;
  throw new InputError("BAD_TARGET", "Cannot count the crashed machine's CPUs: the target has no crash notes and its DTB lists no CPUs", "cpuNotes",
    "Give --cpus N, or describe the target as root so its crash notes are read");
}

function render(r: Report): string {
  const k = r.inputs.kernel;
  const lines = [
    `crash reservation for ${r.inputs.target}`,
    `  crashed machine  ${mib(r.crashed.ram)} of RAM ending at ${hex(r.crashed.ramEnd)}, ${r.crashed.cpus} CPU${r.crashed.cpus === 1 ? "" : "s"} (${r.inputs.cpusFrom}), ${r.crashed.pageSize / 1024} KiB pages`,
    `  capture kernel   ${k.file}: ${k.release ?? "release unknown"}, image_size ${mib(k.imageSize)} (file ${mib(BigInt(k.fileBytes))}), ${r.capture.pageSize / 1024} KiB pages, ${r.capture.cpus} CPU${r.capture.cpus === 1 ? "" : "s"}, rootfs ${r.capture.rootfs}`,
    `  command line     ${r.capture.commandLine === "" ? "(empty)" : r.capture.commandLine}`,
  ];
  const i = r.inputs.initramfs;
  lines.push(i === null
    ? "  initramfs        none"
    : `  initramfs        ${i.file}: ${i.parts.map((p) => p.format).join(" + ")}, ${mib(BigInt(i.fileBytes))} file, ${mib(BigInt(i.cpioBytes))} of cpio, ${i.entries} entries (${i.files} files)`);
  if (r.inputs.calibration !== null) lines.push(`  calibration      ${r.inputs.calibration.file}: measured on ${r.inputs.calibration.measuredOn.kernelRelease}`);
  lines.push("", ...termTable(r.minimum, r.recommended), "");
  const s = r.syntax;
  lines.push(`put on the kernel command line:  ${s.recommended}`, `  (the minimum: ${s.minimum})`);
  if (s.alternative !== null) {
    lines.push(`  on Linux 6.2 and later ${s.alternative} also works: the kernel takes it below the DMA limit if it fits, else high memory plus 128 MiB low`);
  }
  lines.push(`  ${s.why}`);
  if (r.reservation !== null) {
    lines.push("", r.reservation.message);
    const req = r.reservation.commandLine;
    if (req.request !== null) lines.push(`  the running kernel's crashkernel=${req.request.token} asks for ${mib(req.request.size)}${req.request.lowSize === null ? "" : ` high + ${mib(req.request.lowSize)} low`}`);
    if (req.error !== null) lines.push(`  the running kernel's command line: ${req.error}`);
  }
  if (r.fleet !== null) {
    lines.push("", `for the fleet:  ${r.fleet.syntax ?? "(no machine can hold its reservation)"}`);
    for (const e of r.fleet.entries) {
      lines.push(`  ${(`${fmt(e.start)}-${e.end === null ? "" : fmt(e.end)}`).padEnd(12)} ${mib(e.size).padStart(9)} (minimum ${mib(e.minimum)}), sized for ${e.sizedFor === null ? "makedumpfile's largest bitmaps" : `${mib(e.sizedFor)} of RAM`}`);
    }
    for (const d of r.fleet.dropped) lines.push(`  ${fmt(d.ram)} left out: ${d.why}`);
  }
  const guesses = r.constants.filter((c) => c.kind === "guess").map((c) => c.name);
  lines.push("", guesses.length === 0
    ? "every calibratable constant comes from the calibration file"
    : `built-in guesses in use: ${guesses.join(", ")} (replace them with --calibration; docs/crashkernel.md)`);
  for (const n of r.notes) lines.push(`note: ${n}`);
  return lines.join("\n");
}

function fmt(n: bigint): string {
  for (const [u, s] of [["T", 40n], ["G", 30n], ["M", 20n]] as const) if (n % (1n << s) === 0n) return `${n >> s}${u}`;
  return hex(n);
}

/** The terms of both sizes side by side, in the order they were added, with the explanation of the recommended one. */
function termTable(min: Sizing, rec: Sizing): string[] {
  const keys: Term["key"][] = [];
  for (const t of [...rec.terms, ...min.terms]) if (!keys.includes(t.key)) keys.push(t.key);
  const find = (s: Sizing, key: Term["key"]) => s.terms.find((t) => t.key === key);
  const mb = (n: bigint) => (Number(n) / 1048576).toFixed(1);
  const num = (t: Term | undefined) => (t === undefined ? "-" : mb(t.bytes)).padStart(12);
  const rows = keys.map((key) => {
    const t = find(rec, key) ?? find(min, key)!;
    return `  ${t.label.padEnd(40)}${num(find(min, key))}${num(find(rec, key))}  ${t.why}`;
  });
  return [
    `  ${"MiB".padEnd(40)}${"minimum".padStart(12)}${"recommended".padStart(12)}`,
    ...rows,
    `  ${"total".padEnd(40)}${mb(min.bytes).padStart(12)}${mb(rec.bytes).padStart(12)}`,
  ];
}

import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../bytes/index.js";
import {
  cellsFor,
  decodeAddrRanges,
  decodeString,
  decodeStrings,
  deleteProperty,
  findNode,
  getProperty,
  parseFdt,
  serializeFdt,
  type AddrSize,
} from "../fdt/index.js";
import { boardFacts, reserveCrashKernel, type CrashKernelRequest, type PsciConduit, type Range, type Target } from "../target/index.js";

/**
 * The QEMU machines `purgatory target` describes and `purgatory boot` runs
 * bundles on, as data, with the facts of QEMU 7.2 each one relies on. Both
 * are started without firmware and without `-kernel`: code runs from
 * `-device loader` images, at EL1, or at EL2 with `virtualization=on`.
 *
 * `qemu-virt` (hw/arm/virt.c, hw/arm/boot.c), `-cpu cortex-a57`:
 * - RAM starts at 0x40000000 (`VIRT_MEM`).
 * - QEMU generates the device tree; without `-kernel` it still copies it into
 *   RAM as a 1 MiB ROM named "dtb" at the RAM base (`info roms`). A `-device
 *   loader` file that overlaps it makes QEMU exit at start-up with "Some ROM
 *   regions are overlapping", so a qemu-virt target reserves that MiB.
 * - PSCI is QEMU's own: HVC without virtualization, SMC with it; the DTB's
 *   /psci `method` says which. Its DTB carries a fresh random
 *   /chosen/kaslr-seed and rng-seed on every run. With the default GICv2 it
 *   holds at most 8 CPUs.
 *
 * `xlnx-zcu102` (hw/arm/xlnx-zcu102.c, hw/arm/xlnx-zynqmp.c), four Cortex-A53:
 * - RAM (DDR) starts at 0; up to 2 GiB is mapped there, the rest at
 *   0x800000000, which its DTB handling does not describe (QEMU writes one
 *   /memory range), so machines here have at most 2 GiB.
 * - UART0 is a Cadence UART at 0xff000000, on the first -serial.
 * - QEMU generates no device tree: the board's own is given with `-dtb`,
 *   and QEMU edits it (/memory, /psci, the xlnx,zynqmp-firmware nodes set
 *   "disabled" since no PMU firmware runs). It keeps no DTB ROM in RAM.
 * - PSCI is QEMU's own, over SMC at EL1 and at EL2 (`binfo.psci_conduit`
 *   SMC; hw/arm/boot.c disables it only for a guest started at EL3).
 * - `-smp` above 4 adds Cortex-R5F cores, which are not arm64: at most 4.
 * - Its DisplayPort has an audio device: `-audiodev none` keeps QEMU from
 *   opening the host's sound system.
 */

export type MachineName = "qemu-virt" | "xlnx-zcu102";
export const MACHINE_NAMES: readonly MachineName[] = ["qemu-virt", "xlnx-zcu102"];

export interface QemuMachine {
  readonly name: MachineName;
  /** QEMU's -M name, to which `,virtualization=on` is added for EL2. */
  readonly qemuName: string;
  /** `-cpu`, or null when the machine fixes its CPU type. */
  readonly cpu: string | null;
  readonly ramBase: bigint;
  /** The most RAM QEMU maps in one range from ramBase, in bytes; null when QEMU itself decides (and says). */
  readonly maxMemory: bigint | null;
  readonly maxCpus: number;
  /** The CPU count `purgatory target` gives it when --smp does not say. */
  readonly defaultCpus: number;
  /** The ROM where QEMU keeps its own DTB when started without -kernel, or null. */
  readonly dtbRom: Range | null;
  /** The PSCI conduit QEMU answers at EL1 and at EL2. */
  readonly psci: { readonly el1: PsciConduit; readonly el2: PsciConduit };
  /** Whether QEMU generates the device tree (else the board's is given with -dtb). */
  readonly generatesDtb: boolean;
  /** A root `compatible` of its device tree that names the machine. */
  readonly compatible: string;
  /** The command line of a target made for it. */
  readonly commandLine: string;
  /** More arguments it always takes. */
  readonly extraArgs: readonly string[];
}

const GiB = 0x4000_0000n;

export const QEMU_VIRT: QemuMachine = {
  name: "qemu-virt",
  qemuName: "virt",
  cpu: "cortex-a57",
  ramBase: GiB,
  maxMemory: null,
  maxCpus: 8,
  defaultCpus: 1,
  dtbRom: { start: GiB, end: GiB + 0x10_0000n },
  psci: { el1: "hvc", el2: "smc" },
  generatesDtb: true,
  compatible: "linux,dummy-virt",
  commandLine: "console=ttyAMA0",
  extraArgs: [],
};

export const XLNX_ZCU102: QemuMachine = {
  name: "xlnx-zcu102",
  qemuName: "xlnx-zcu102",
  cpu: null,
  ramBase: 0n,
  maxMemory: 2n * GiB,
  maxCpus: 4,
  defaultCpus: 4,
  dtbRom: null,
  psci: { el1: "smc", el2: "smc" },
  generatesDtb: false,
  compatible: "xlnx,zynqmp-zcu102",
  // The kernel prints through earlycon (stdout-path) before ttyPS0 exists, and
  // even when it never does (the Cadence UART's clock comes from firmware).
  commandLine: "earlycon console=ttyPS0",
  extraArgs: ["-audiodev", "none,id=snd0"],
};

export const MACHINES: Readonly<Record<MachineName, QemuMachine>> = { "qemu-virt": QEMU_VIRT, "xlnx-zcu102": XLNX_ZCU102 };

/** QEMU's own DTB ROM at virt's RAM base (QEMU 7.2: the unpacked 1 MiB tree). */
export const VIRT_DTB_ROM: Range = QEMU_VIRT.dtbRom!;

/** The `-M` value: EL2 needs `virtualization=on` (on virt it also switches QEMU's PSCI conduit to SMC). */
export function machineArg(m: QemuMachine, el2: boolean): string {
  return el2 ? `${m.qemuName},virtualization=on` : m.qemuName;
}

/** QEMU's `-m` value for a RAM size in bytes. @throws InputError `BAD_OPTION` unless a whole number of MiB. */
export function qemuMemoryArg(bytes: bigint): string {
  if (bytes <= 0n || bytes % 0x10_0000n !== 0n) {
    throw new InputError("BAD_OPTION", `Cannot size QEMU's RAM: ${bytes} bytes is not a whole number of MiB`, "-m", "Give the RAM size in MiB or GiB, e.g. 1G");
  }
  return `${bytes / 0x10_0000n}M`;
}

const UNITS: Readonly<Record<string, bigint>> = { "": 1n, K: 1n << 10n, M: 1n << 20n, G: 1n << 30n, T: 1n << 40n };

/**
 * Parses a size or address the way the kernel's `memparse` reads
 * `crashkernel=`: decimal or 0x-hex, then an optional K, M, G or T (binary
 * units). With `needUnit`, a bare decimal number is refused: QEMU reads
 * `-m 512` as MiB while the kernel reads 512 as bytes, so a unit removes the
 * doubt; a 0x-hex number is bytes to both (and the form the refusal suggests).
 * @throws InputError `BAD_OPTION` at `where`.
 */
export function parseSize(text: string, where: string, needUnit = false): bigint {
  const m = /^(0x[0-9a-f]+|[0-9]+)([KMGT]?)$/i.exec(text.trim());
  if (m === null || (needUnit && m[2] === "" && !/^0x/i.test(m[1]!))) {
    throw new InputError("BAD_OPTION", `Cannot read ${where} ${JSON.stringify(text)}: expected a number with a unit K, M, G or T${needUnit ? ", or 0x-hex bytes" : ""}`, where,
      "Write e.g. 512M, 1G or 0x50000000");
  }
  return BigInt(m[1]!) * UNITS[m[2]!.toUpperCase()]!;
}

/**
 * Parses `SIZE[@ADDR]` (the value of `crashkernel=`; the `,high`/`,low` and
 * range-list forms are not accepted).
 * @throws InputError `BAD_OPTION`.
 */
export function parseCrashKernel(text: string): CrashKernelRequest {
  const [size, base, extra] = text.split("@");
  if (size === undefined || extra !== undefined || /[,:]/.test(text)) {
    throw new InputError("BAD_OPTION", `Cannot read --crashkernel ${JSON.stringify(text)}: expected SIZE or SIZE@ADDR`, "--crashkernel",
      "Write e.g. 256M or 64M@0x50000000 (the ,high/,low and range-list forms are not supported)");
  }
  const req = { size: parseSize(size, "--crashkernel SIZE") };
  if (req.size === 0n) throw new InputError("BAD_OPTION", "Cannot reserve a crash kernel of size 0", "--crashkernel", "Give a size such as 256M");
  return base === undefined ? req : { ...req, base: parseSize(base, "--crashkernel ADDR") };
}

export interface MachineOptions {
  readonly el2: boolean;
  /** RAM bytes. */
  readonly memory: bigint;
  readonly smp: number;
  /** The board's device tree file, for a machine whose DTB QEMU does not generate (passed as -dtb). */
  readonly dtb?: string;
  /** The QEMU binary; default `qemu-system-aarch64` on PATH. */
  readonly qemu?: string;
}

/**
 * The QEMU arguments that describe the machine (the same for dumpdtb and for a boot).
 * @throws InputError `BAD_OPTION` for a CPU count or RAM size the machine does not take.
 */
export function machineArgs(m: QemuMachine, o: Pick<MachineOptions, "el2" | "memory" | "smp">): string[] {
  if (!Number.isInteger(o.smp) || o.smp < 1 || o.smp > m.maxCpus) {
    throw new InputError("BAD_OPTION", `Cannot start QEMU ${m.name} with ${o.smp} CPUs: it holds 1 to ${m.maxCpus}`, "--smp", `Give --smp 1..${m.maxCpus}`);
  }
  if (m.maxMemory !== null && o.memory > m.maxMemory) {
    throw new InputError("BAD_OPTION", `Cannot give QEMU ${m.name} ${o.memory >> 20n} MiB: it maps at most ${m.maxMemory >> 20n} MiB from ${"0x" + m.ramBase.toString(16)}`, "-m",
      `Give -m ${m.maxMemory >> 20n}M or less`);
  }
  return ["-M", machineArg(m, o.el2), ...(m.cpu === null ? [] : ["-cpu", m.cpu]), "-m", qemuMemoryArg(o.memory), "-smp", String(o.smp)];
}

/** virt's machine arguments. */
export function virtArgs(o: Pick<MachineOptions, "el2" | "memory" | "smp">): string[] {
  return machineArgs(QEMU_VIRT, o);
}

/**
 * Runs `qemu-system-aarch64 … -machine dumpdtb=FILE` and returns the device
 * tree QEMU hands a kernel on that machine (as it exits at once, nothing
 * runs): virt's own, or the board DTB `o.dtb` as QEMU edits it.
 * @throws InputError `BAD_OPTION` when a machine that needs a board DTB gets
 *   none, `QEMU_MISSING` when the binary cannot be started, `QEMU_FAILED`
 *   with QEMU's message when it refuses the options.
 */
export async function dumpDtb(m: QemuMachine, o: MachineOptions): Promise<Uint8Array> {
  if (!m.generatesDtb && o.dtb === undefined) {
    throw new InputError("BAD_OPTION", `Cannot describe QEMU ${m.name}: QEMU makes no device tree for it`, "--dtb",
      "Give the board's DTB with --dtb FILE (Debian's linux-image-*-arm64 ships them under /usr/lib/linux-image-*/)");
  }
  const dir = await mkdtemp(join(tmpdir(), "purgatory-dumpdtb-"));
  try {
    const file = join(dir, "machine.dtb");
    const args = [...machineArgs(m, o), ...m.extraArgs, ...(o.dtb === undefined ? [] : ["-dtb", o.dtb]), "-nodefaults", "-display", "none",
      "-machine", `dumpdtb=${file.replaceAll(",", ",,")}`];
    await runQemuOnce(o.qemu, args);
    return new Uint8Array(await readFile(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** virt's device tree. @throws as `dumpDtb`. */
export function dumpVirtDtb(o: Omit<MachineOptions, "dtb">): Promise<Uint8Array> {
  return dumpDtb(QEMU_VIRT, o);
}

/** `qemu-system-aarch64 --version`'s first line. @throws as `dumpDtb`. */
export async function qemuVersion(qemu?: string): Promise<string> {
  return (await runQemuOnce(qemu, ["--version"])).split("\n")[0]!.trim();
}

function runQemuOnce(qemu: string | undefined, args: string[]): Promise<string> {
  const bin = qemu ?? "qemu-system-aarch64";
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: "utf8", timeout: 30_000 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EACCES") return reject(qemuMissing(bin, err));
      reject(new InputError("QEMU_FAILED", `QEMU refused the machine: ${stderr.trim().split("\n").at(-1) ?? err.message}`, `${bin} ${args.join(" ")}`,
        "Change the machine options (memory, CPU count, DTB) to ones QEMU accepts"));
    });
  });
}

/** The error for a QEMU binary that cannot be started. */
export function qemuMissing(bin: string, e: Error): InputError {
  return new InputError("QEMU_MISSING", `Cannot start ${bin}: ${e.message}`, bin,
    "Install QEMU (Debian: apt-get install qemu-system-arm) or name the binary with --qemu-binary PATH");
}

export interface MachineTargetOptions {
  /** The DTB from `dumpDtb` for the same memory size. */
  readonly dtb: Uint8Array;
  /** RAM bytes. */
  readonly memory: bigint;
  readonly crashKernel: CrashKernelRequest | null;
}

/**
 * The target description of a QEMU machine: one RAM range at its RAM base,
 * QEMU's DTB ROM reserved (virt), 4K pages, the machine's command line,
 * QEMU's device tree without random seeds (they would make every description
 * different; the bundle writes fresh ones), the board facts of that tree,
 * and no cpu notes or vmcoreinfo (no kernel has run on it, so it serves
 * reboot bundles only).
 * @throws InputError from the DTB parser and `reserveCrashKernel`.
 */
export function machineTarget(m: QemuMachine, o: MachineTargetOptions): Target {
  let tree = parseFdt(o.dtb);
  tree = deleteProperty(tree, "/chosen", "kaslr-seed");
  tree = deleteProperty(tree, "/chosen", "rng-seed");
  const memory = [{ start: m.ramBase, end: m.ramBase + o.memory }];
  const reserved = m.dtbRom === null ? [] : [m.dtbRom];
  const crashKernel = o.crashKernel === null ? null : reserveCrashKernel(memory, reserved, o.crashKernel);
  const board = boardFacts(tree, m.commandLine);
  return {
    version: 2,
    pageSize: 4096,
    memory,
    reserved,
    crashKernel,
    crashKernelLow: null,
    cpuNotes: [],
    vmcoreinfo: null,
    kernelCode: null,
    kernelData: null,
    commandLine: m.commandLine,
    dtb: serializeFdt(tree),
    console: board.console,
    psci: board.psci,
    cpuEnableMethod: board.cpuEnableMethod,
  };
}

/** virt's target. @throws as `machineTarget`. */
export function virtTarget(o: MachineTargetOptions): Target {
  return machineTarget(QEMU_VIRT, o);
}

export interface DtbMachine {
  /** /psci `method`, or null when the DTB has no /psci node. */
  readonly psciMethod: string | null;
  /** Nodes under /cpus with device_type "cpu". */
  readonly cpus: number;
  /** `reg` of every top-level node with device_type "memory". */
  readonly memory: readonly AddrSize[];
  /** The root node's compatibles, most specific first. */
  readonly compatible: readonly string[];
}

/**
 * What a device tree says about the machine it was made for: the PSCI
 * conduit, the CPU count, the RAM and the root compatibles.
 * @throws InputError from the FDT parser.
 */
export function dtbMachine(dtb: Uint8Array): DtbMachine {
  const tree = parseFdt(dtb);
  const method = getProperty(tree, "/psci", "method");
  const isType = (props: readonly { name: string; value: Uint8Array }[], t: string) =>
    props.some((p) => p.name === "device_type" && decodeString(p.value) === t);
  const cpus = findNode(tree, "/cpus")?.children.filter((c) => isType(c.properties, "cpu")).length ?? 0;
  const memory = tree.root.children
    .filter((n) => isType(n.properties, "memory"))
    .flatMap((n) => {
      const path = `/${n.name}`;
      const reg = n.properties.find((p) => p.name === "reg")?.value;
      return reg === undefined ? [] : decodeAddrRanges(reg, cellsFor(tree, path), `${path}/reg`);
    });
  const compatible = getProperty(tree, "/", "compatible");
  return {
    psciMethod: method === undefined ? null : decodeString(method, "/psci/method"),
    cpus,
    memory,
    compatible: compatible === undefined ? [] : decodeStrings(compatible, "/compatible"),
  };
}

/**
 * The QEMU machine a device tree was made for, by its root compatibles.
 * @throws InputError `UNSUPPORTED_MACHINE` when it is none of `MACHINES`.
 */
export function machineOf(dt: Pick<DtbMachine, "compatible">, where: string): QemuMachine {
  const m = Object.values(MACHINES).find((x) => dt.compatible.includes(x.compatible));
  if (m === undefined) {
    throw new InputError("UNSUPPORTED_MACHINE",
      `Cannot pick a QEMU machine: the device tree's root compatible is ${dt.compatible.length === 0 ? "missing" : `"${dt.compatible.join('", "')}"`}, which is none of ${Object.values(MACHINES).map((x) => `${x.name} (${x.compatible})`).join(", ")}`,
      where, "Boot bundles built for a `purgatory target qemu-virt` or `xlnx-zcu102` target, or a target described on such a machine");
  }
  return m;
}

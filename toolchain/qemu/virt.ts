import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InputError } from "../bytes/index.js";
import {
  cellsFor,
  decodeAddrRanges,
  decodeString,
  deleteProperty,
  findNode,
  getProperty,
  parseFdt,
  serializeFdt,
  type AddrSize,
} from "../fdt/index.js";
import { reserveCrashKernel, type CrashKernelRequest, type Range, type Target } from "../target/index.js";

/**
 * Facts about QEMU's arm64 `virt` machine (QEMU 7.2, hw/arm/virt.c and
 * hw/arm/boot.c) as `purgatory boot --qemu` and `purgatory target qemu-virt`
 * use it: `-M virt[,virtualization=on] -cpu cortex-a57`, no firmware, no
 * `-kernel`.
 *
 * - RAM starts at 0x40000000 (`VIRT_MEM` in hw/arm/virt.c).
 * - Without `-kernel` and without firmware, QEMU still copies its own device
 *   tree into RAM, as a 1 MiB ROM named "dtb" at the RAM base (`info roms`:
 *   `addr=0000000040000000 size=0x100000 mem=ram name="dtb"`). A `-device
 *   loader` file that overlaps it makes QEMU exit at start-up with "Some ROM
 *   regions are overlapping", so no segment can use that MiB; a qemu-virt
 *   target lists it as reserved, and `planBoot` refuses it up front.
 * - PSCI is emulated by QEMU itself: through HVC without virtualization (the
 *   CPU starts at EL1), through SMC with `virtualization=on` (the CPU starts
 *   at EL2); the DTB's /psci `method` says which. CPUs other than 0 start
 *   powered off and wait for PSCI CPU_ON, as after a kexec.
 * - With the default GICv2, virt holds at most 8 CPUs.
 * - The DTB QEMU generates carries a fresh random /chosen/kaslr-seed and
 *   rng-seed on every run.
 */

export const VIRT_RAM_BASE = 0x4000_0000n;
/** QEMU's own DTB ROM at the RAM base (QEMU 7.2: the unpacked 1 MiB tree). */
export const VIRT_DTB_ROM: Range = { start: 0x4000_0000n, end: 0x4010_0000n };
/** `-smp` limit of `virt` with its default GICv2. */
export const VIRT_MAX_CPUS = 8;
export const VIRT_CPU = "cortex-a57";
/** The console the kernel finds through the DTB's stdout-path (PL011 at 0x9000000). */
export const VIRT_COMMAND_LINE = "console=ttyAMA0";

export type PsciMethod = "hvc" | "smc";

/** The `-M` value: EL2 needs `virtualization=on`, which also switches QEMU's PSCI conduit to SMC. */
export function virtMachine(el2: boolean): string {
  return el2 ? "virt,virtualization=on" : "virt";
}

/** The PSCI conduit a kernel on this machine must use. */
export function psciMethodFor(el2: boolean): PsciMethod {
  return el2 ? "smc" : "hvc";
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
 * doubt; a 0x-hex number is bytes to both.
 * @throws InputError `BAD_OPTION` at `where`.
 */
export function parseSize(text: string, where: string, needUnit = false): bigint {
  const m = /^(0x[0-9a-f]+|[0-9]+)([KMGT]?)$/i.exec(text.trim());
  if (m === null || (needUnit && m[2] === "" && !/^0x/i.test(m[1]!))) {
    throw new InputError("BAD_OPTION", `Cannot read ${where} ${JSON.stringify(text)}: expected a number with a unit K, M, G or T`, where, "Write e.g. 512M, 1G or 0x50000000");
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

export interface VirtOptions {
  readonly el2: boolean;
  /** RAM bytes. */
  readonly memory: bigint;
  readonly smp: number;
  /** The QEMU binary; default `qemu-system-aarch64` on PATH. */
  readonly qemu?: string;
}

/** The QEMU arguments that describe the machine (the same for dumpdtb and for a boot). */
export function virtArgs(o: Pick<VirtOptions, "el2" | "memory" | "smp">): string[] {
  if (!Number.isInteger(o.smp) || o.smp < 1 || o.smp > VIRT_MAX_CPUS) {
    throw new InputError("BAD_OPTION", `Cannot start QEMU virt with ${o.smp} CPUs: it holds 1 to ${VIRT_MAX_CPUS} with its GICv2`, "--smp", `Give --smp 1..${VIRT_MAX_CPUS}`);
  }
  return ["-M", virtMachine(o.el2), "-cpu", VIRT_CPU, "-m", qemuMemoryArg(o.memory), "-smp", String(o.smp)];
}

/**
 * Runs `qemu-system-aarch64 … -machine dumpdtb=FILE` and returns the device
 * tree QEMU generates for that machine (as it exits at once, nothing runs).
 * @throws InputError `QEMU_MISSING` when the binary cannot be started, `QEMU_FAILED` with QEMU's message when it refuses the options.
 */
export async function dumpVirtDtb(o: VirtOptions): Promise<Uint8Array> {
  const dir = await mkdtemp(join(tmpdir(), "purgatory-dumpdtb-"));
  try {
    const file = join(dir, "virt.dtb");
    const args = [...virtArgs(o), "-nodefaults", "-display", "none", "-machine", `dumpdtb=${file.replaceAll(",", ",,")}`];
    await runQemuOnce(o.qemu, args);
    return new Uint8Array(await readFile(file));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `qemu-system-aarch64 --version`'s first line. @throws as `dumpVirtDtb`. */
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
        "Change the machine options (memory, CPU count) to ones QEMU virt accepts"));
    });
  });
}

/** The error for a QEMU binary that cannot be started. */
export function qemuMissing(bin: string, e: Error): InputError {
  return new InputError("QEMU_MISSING", `Cannot start ${bin}: ${e.message}`, bin,
    "Install QEMU (Debian: apt-get install qemu-system-arm) or name the binary with --qemu-binary PATH");
}

export interface VirtTargetOptions {
  /** The DTB from `dumpVirtDtb` for the same memory size. */
  readonly dtb: Uint8Array;
  /** RAM bytes. */
  readonly memory: bigint;
  readonly crashKernel: CrashKernelRequest | null;
}

/**
 * The target description of a QEMU virt machine: one RAM range at
 * 0x40000000, QEMU's DTB ROM reserved, 4K pages, `console=ttyAMA0`, QEMU's
 * device tree without its random seeds (they would make every description
 * different; the bundle writes fresh ones), and no cpu notes or vmcoreinfo
 * (no kernel has run on it, so it serves reboot bundles only).
 * @throws InputError from the DTB parser and `reserveCrashKernel`.
 */
export function virtTarget(o: VirtTargetOptions): Target {
  let tree = parseFdt(o.dtb);
  tree = deleteProperty(tree, "/chosen", "kaslr-seed");
  tree = deleteProperty(tree, "/chosen", "rng-seed");
  const memory = [{ start: VIRT_RAM_BASE, end: VIRT_RAM_BASE + o.memory }];
  const reserved = [VIRT_DTB_ROM];
  const crash = o.crashKernel === null ? { crashKernel: null, crashKernelLow: null } : reserveCrashKernel(memory, reserved, o.crashKernel);
  return {
    version: 1,
    pageSize: 4096,
    memory,
    reserved,
    ...crash,
    cpuNotes: [],
    vmcoreinfo: null,
    kernelCode: null,
    kernelData: null,
    commandLine: VIRT_COMMAND_LINE,
    dtb: serializeFdt(tree),
  };
}

export interface DtbMachine {
  /** /psci `method`, or null when the DTB has no /psci node. */
  readonly psciMethod: string | null;
  /** Nodes under /cpus with device_type "cpu". */
  readonly cpus: number;
  /** `reg` of every top-level node with device_type "memory". */
  readonly memory: readonly AddrSize[];
}

/**
 * What a device tree says about the machine it was made for: the PSCI
 * conduit, the CPU count and the RAM.
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
  return { psciMethod: method === undefined ? null : decodeString(method, "/psci/method"), cpus, memory };
}

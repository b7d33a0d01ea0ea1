import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { getAssembler } from "../../toolchain/asm/index.js";
import { build, patch, regionOf } from "../../toolchain/purgatory/index.js";
import type { Build, BuildOptions, Region } from "../../toolchain/purgatory/index.js";
import { runBareMetal } from "../../toolchain/qemu/index.js";
import type { BareMetalResult, BareMetalRun, Image } from "../../toolchain/qemu/index.js";

/**
 * A boot scene for the QEMU tests: a patched purgatory, the stand-in kernel
 * (fixtures/standin-kernel.S) and data regions of random contents and sizes,
 * placed in QEMU virt's RAM (0x40000000 + 512 MiB; QEMU's own DTB holds the
 * first MiB).
 */

export const PURGATORY_AT = 0x4800_0000n;
export const KERNEL_AT = 0x4020_0000n;
export const DTB_AT = 0x4400_0000n;

/** Deterministic bytes (xorshift32), so a failure reproduces. */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha256hex(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/** Where the stand-in hypervisor (fixtures/hide-sha2.S) runs: 2 KiB aligned, clear of QEMU's DTB ROM and the kernel. */
export const SHIM_AT = 0x4018_0000n;

/** Where the pre-stages (fixtures/prestage.S) run on QEMU virt: clear of QEMU's DTB ROM, the shim and the kernel. */
export const PRESTAGE_AT = 0x4017_0000n;

export type PrestageEntry = "prestage_cadence" | "prestage_pci_16550" | "prestage_vhe" | "prestage_vbar" | "prestage_serror";

/**
 * The pre-stages, assembled at `at` and set to jump to `target` (and, for
 * prestage_vbar, to set VBAR to `vbar`); start the CPU at `entry` (an address).
 */
export async function prestage(name: PrestageEntry, target: bigint, at = PRESTAGE_AT, vbar = 0n): Promise<{ image: Image; entry: bigint }> {
  const file = "test/purgatory/fixtures/prestage.S";
  const a = await (await getAssembler()).assemble(readFileSync(file, "utf8"), { file, address: at });
  const bytes = a.bytes.slice();
  const view = new DataView(bytes.buffer);
  view.setBigUint64(a.labels.get("prestage_target")!, target, true);
  view.setBigUint64(a.labels.get("prestage_vbar_value")!, vbar, true);
  return { image: { addr: at, bytes }, entry: at + BigInt(a.labels.get(name)!) };
}

/** The stand-in hypervisor that hides the SHA-256 instructions from EL1, set to start EL1 at `target`. */
export async function hideSha2Shim(target: bigint): Promise<Image> {
  const file = "test/purgatory/fixtures/hide-sha2.S";
  const a = await (await getAssembler()).assemble(readFileSync(file, "utf8"), { file, address: SHIM_AT });
  const bytes = a.bytes.slice();
  new DataView(bytes.buffer).setBigUint64(a.labels.get("shim_target")!, target, true);
  return { addr: SHIM_AT, bytes };
}

export async function standinKernel(): Promise<Uint8Array> {
  const file = "test/purgatory/fixtures/standin-kernel.S";
  return (await (await getAssembler()).assemble(readFileSync(file, "utf8"), { file, address: KERNEL_AT })).bytes;
}

/** The data regions, listed out of address order on purpose (patch sorts them). */
export function dataImages(): Image[] {
  return [
    { addr: 0x4500_0001n, bytes: pseudoRandom(4 * 1024 * 1024 + 13, 1) }, // several MiB, odd start and length
    { addr: DTB_AT, bytes: pseudoRandom(3000, 2) }, // stands in for the DTB
    { addr: 0x4410_0000n, bytes: new Uint8Array(0) }, // empty
    { addr: 0x4420_0003n, bytes: pseudoRandom(1, 3) }, // one byte, odd start
    { addr: 0x4430_0000n, bytes: pseudoRandom(100, 4) },
  ];
}

export interface Scene {
  readonly built: Build;
  readonly blob: Uint8Array;
  readonly kernel: Uint8Array;
  readonly data: Image[];
  /** Regions in table order (sorted by start). */
  readonly regions: readonly Region[];
}

export async function scene(options: BuildOptions = {}): Promise<Scene> {
  const built = await build(options);
  const kernel = await standinKernel();
  const data = dataImages();
  const regions = [...data, { addr: KERNEL_AT, bytes: kernel }].map((d) => regionOf(d.addr, d.bytes));
  const blob = patch(built.blob, { kernel_entry: KERNEL_AT, dtb_addr: DTB_AT, regions, segment_memsz: built.memsz });
  const sorted = [...regions].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return { built, blob, kernel, data, regions: sorted };
}

export interface Boot {
  /** `virt`, `virt,virtualization=on` (EL2), or another -M value. */
  readonly machine: string;
  /** Default cortex-a57 (`max` has FEAT_VHE). */
  readonly cpu?: string;
  readonly blob?: Uint8Array;
  readonly at?: bigint;
  /** Replaces the image at this address (e.g. with a flipped byte). */
  readonly replace?: Image;
  readonly timeoutMs?: number;
  readonly until?: (console: string) => boolean;
  /** Runs under the stand-in hypervisor (needs `virt,virtualization=on`): the purgatory starts at EL1 without SHA2. */
  readonly shim?: Image;
  /** Starts at a pre-stage (`prestage`) that then jumps to the purgatory. */
  readonly prestage?: { readonly image: Image; readonly entry: bigint };
  readonly extraArgs?: readonly string[];
}

/** The QEMU run for a boot of the scene. */
export function bootRun(s: Scene, b: Boot): BareMetalRun {
  const at = b.at ?? PURGATORY_AT;
  const images = [{ addr: KERNEL_AT, bytes: s.kernel }, ...s.data]
    .map((img) => (b.replace && img.addr === b.replace.addr ? b.replace : img))
    .concat([{ addr: at, bytes: b.blob ?? s.blob }], b.shim ? [b.shim] : [], b.prestage ? [b.prestage.image] : []);
  const entry = b.prestage?.entry ?? b.shim?.addr ?? at;
  const run = { machine: b.machine, images, entry, timeoutMs: b.timeoutMs ?? 30_000, extraArgs: b.extraArgs ?? [], ...(b.cpu ? { cpu: b.cpu } : {}) };
  return b.until ? { ...run, until: b.until } : run;
}

export function boot(s: Scene, b: Boot): Promise<BareMetalResult> {
  return runBareMetal(bootRun(s, b));
}

const STANDIN_FIELDS = ["x0", "x1", "x2", "x3", "el", "sctlr", "daif", "tcr", "mair", "ttbr0", "fp", "vbar", "hcr"] as const;

/** What the stand-in kernel saw at entry: registers, EL, and the system registers of its EL (fp: CPACR_EL1 or CPTR_EL2; hcr: HCR_EL2 at EL2, else 0). */
export type StandinReport = Readonly<Record<(typeof STANDIN_FIELDS)[number], bigint>>;

/** Parses the stand-in kernel's line, or undefined when it never ran. */
export function standinReport(console: string): StandinReport | undefined {
  const m = new RegExp("standin: " + STANDIN_FIELDS.map((f) => `${f}=(\\w+)`).join(" ")).exec(console);
  if (!m) return undefined;
  return Object.fromEntries(STANDIN_FIELDS.map((f, i) => [f, BigInt("0x" + (m[i + 1] ?? ""))])) as StandinReport;
}

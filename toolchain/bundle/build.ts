import { createHash } from "node:crypto";
import { InputError, hex, inFile, inFileAsync, packageVersion } from "../bytes/index.js";
import { buildElfcorehdr } from "../target/index.js";
import { parseFdt, serializeFdt, type AddrSize } from "../fdt/index.js";
import { checkImage, loadKernelImage, type KernelImage } from "../image/index.js";
import { checkInitrd, withFileSource, type InitrdCheck } from "../initrd/index.js";
import { checkLoad, planLayout, type Mode, type Plan, type Role } from "../layout/index.js";
import { formatConsole, patch, purgatoryBlob, type Policy } from "../purgatory/index.js";
import type { Target } from "../target/index.js";
import { BOOT_FILE, bootFacts, encodeBootFile } from "./boot.js";
import { editChosen, type ChosenResult } from "./chosen.js";
import { checkPolicy, checkUartAddress, chooseUart, forPurgatory, type ConsoleRequest } from "./console.js";
import { MANIFEST_FORMAT, serializeManifest, type Manifest, type ManifestSegment } from "./manifest.js";
import { encodeSegmentTable } from "./table.js";
import type { StagedFile } from "./write.js";

/** The tool version written into manifests: package.json's. */
export const TOOL_VERSION = packageVersion();

export interface BundleInputs {
  readonly mode: Mode;
  /**
   * The kernel file as shipped (any format `loadKernelImage` reads), or a raw
   * Image copied into the bundle directory (`BundleDir.copy`, keeping its
   * first IMAGE_HEAD_SIZE bytes, which `checkImage` reads): done, or still
   * being copied, so that the copy overlaps the initrd check.
   */
  readonly kernel: Uint8Array | StagedFile | Promise<StagedFile>;
  /** The initrd's bytes, or a copy already in the bundle directory (`BundleDir.copy`). */
  readonly initrd: Uint8Array | StagedFile | null;
  /** A base DTB overriding the target's. */
  readonly dtb: Uint8Array | null;
  readonly target: Target;
  /** The composed command line (see `composeCommandLine`). */
  readonly commandLine: string;
  /** Seed bytes for kaslr-seed/rng-seed; the manifest records them, so that the bundle can be rebuilt. */
  readonly seed: Uint8Array;
  /** The purgatory's UART: the target's (`auto`, the default), none, or one given. */
  readonly console?: ConsoleRequest;
  /** The files the kernel, initrd, DTB and target came from, so that an error about their bytes names them. */
  readonly names?: { readonly kernel?: string; readonly initrd?: string; readonly dtb?: string; readonly target?: string };
  readonly onMismatch?: Policy;
  /** Hash with the MMU and D-cache on (default true); off for platforms where an identity map is unwise. */
  readonly mmu?: boolean;
  /** Use the SHA-256 instructions when the CPU has them (default true). */
  readonly crypto?: boolean;
}

/** A bundle in memory: each file's name and bytes, and the manifest. */
export interface Bundle {
  /** Every file of the bundle but a staged initrd, which is in the bundle directory already. */
  readonly files: ReadonlyMap<string, Uint8Array>;
  readonly manifest: Manifest;
  readonly plan: Plan;
  readonly warnings: readonly string[];
  /** What the user should know that is not wrong: no purgatory console and why, the reset's conduit. */
  readonly notes: readonly string[];
}

/** Each segment's file in a bundle directory. */
export const SEGMENT_FILE: Readonly<Record<Role, string>> = {
  kernel: "kernel.bin",
  initrd: "initrd.bin",
  dtb: "dtb.bin",
  elfcorehdr: "elfcorehdr.bin",
  purgatory: "purgatory.bin",
};

/**
 * Builds every segment of one kexec_load: unwraps the kernel, checks that the
 * initrd is whole (`checkInitrd`), builds the
 * elfcorehdr (crash), edits /chosen, places the segments, and patches the
 * purgatory with each segment's digest, the kernel entry and the DTB address.
 * Pure: the same inputs (and seed) give the same bytes.
 * @throws InputError for any bad input, naming it; and when the finished load
 *   breaks a rule of the kernel or of arm64 booting (a bug if it happens).
 */
export async function buildBundle(o: BundleInputs): Promise<Bundle> {
  const { mode, target } = o;
  const named = <T>(file: string | undefined, f: () => T): T => (file === undefined ? f() : inFile(file, f));
  const namedAsync = <T>(file: string | undefined, f: () => Promise<T>): Promise<T> => (file === undefined ? f() : inFileAsync(file, f));
  // The initrd check inflates a gzip initramfs on node:zlib's worker thread:
  // started first, it overlaps the kernel, purgatory and DTB work below.
  const initrd = o.initrd;
  const initrdCheck = initrd === null ? null
    : namedAsync(o.names?.initrd, () => (initrd instanceof Uint8Array ? checkInitrd(initrd) : withFileSource(initrd.path, checkInitrd)));
  initrdCheck?.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
  const kernel = await namedAsync(o.names?.kernel, async () => kernelOf(await o.kernel, target.pageSize));
  const dtbIn = o.dtb ?? target.dtb;
  if (dtbIn === null) {
    throw new InputError("NO_DTB", "Cannot build the bundle: no base device tree", "--dtb",
      "Pass --dtb FILE, or use a target description that carries the DTB (purgatory describe reads /sys/firmware/fdt)");
  }
  const base = named(o.dtb !== null ? o.names?.dtb : o.names?.target, () => parseFdt(dtbIn));
  const initrdSize = o.initrd === null ? 0 : o.initrd instanceof Uint8Array ? o.initrd.length : o.initrd.size;
  if (mode === "crash" && target.crashKernel === null) {
    throw new InputError("NO_CRASH_KERNEL", "Cannot build a crash bundle: the target reserves no crash kernel memory", "target.crashKernel",
      "Boot the target with crashkernel=256M (or more) and describe it again");
  }
  if (target.lockdown !== undefined && target.lockdown !== "none") {
    throw new InputError("KEXEC_LOAD_REFUSED", `Cannot build a bundle for this target: it runs under lockdown=${target.lockdown}, where kexec_load fails with EPERM for every load`,
      "target.lockdown", "Boot the target without lockdown (Secure Boot off), or load a signed kernel with kexec_file_load (kexec -s) instead of a bundle");
  }
  const elf = mode === "crash" ? buildElfcorehdr(target) : null;
  const request = o.console ?? "auto";
  const uart = chooseUart(request, target);
  if (uart.uart !== null) checkUartAddress(uart.uart, target.memory, [], request === "auto" ? "target.console" : "--console");
  const purgatoryConsole = forPurgatory(uart);
  checkPolicy(o.onMismatch ?? "spin", target.psci);
  const notes = purgatoryConsole.note === null ? [] : [purgatoryConsole.note];
  const purg = await purgatoryBlob({
    console: purgatoryConsole.console,
    // The target's conduit; a target described without a DTB keeps the
    // purgatory's by-EL guess (HVC at EL1, SMC at EL2), as QEMU virt answers.
    psci: target.psci ?? (target.dtb === null ? "auto" : "none"),
    ...(o.onMismatch !== undefined ? { policy: o.onMismatch } : {}),
    mmu: o.mmu ?? true,
    crypto: o.crypto ?? true,
  });

  const usable = (): AddrSize[] =>
    [target.crashKernel, target.crashKernelLow].flatMap((r) => (r === null ? [] : [{ address: r.start, size: r.end - r.start }]));
  const chosenAt = (initrdAt: bigint, elfAt: bigint): ChosenResult =>
    editChosen(base, {
      mode,
      commandLine: o.commandLine,
      initrd: o.initrd === null ? null : { address: initrdAt, size: BigInt(initrdSize) },
      elfcorehdr: elf === null ? null : { address: elfAt, size: BigInt(elf.bytes.length) },
      usableMemory: mode === "crash" ? usable() : [],
      seed: o.seed,
    }, dtbIn.length);

  // The DTB's size does not depend on the addresses written into it (fixed
  // cell widths), so a first edit with placeholder addresses sizes it for the layout.
  const dtbSize = serializeFdt(chosenAt(0n, 0n).tree).length;
  const plan = planLayout({
    mode,
    target,
    kernel: { bufsz: BigInt(kernel.size), textOffset: kernel.textOffset, imageSize: kernel.imageSize },
    ...(o.initrd !== null ? { initrd: { bufsz: BigInt(initrdSize) } } : {}),
    dtb: { bufsz: BigInt(dtbSize) },
    ...(elf !== null ? { elfcorehdr: { bufsz: BigInt(elf.bytes.length) } } : {}),
    purgatory: { bufsz: BigInt(purg.blob.length), memsz: purg.memsz },
  });
  const at = (role: Role): bigint => {
    const s = plan.segments.find((x) => x.role === role);
    if (s === undefined) throw new Error(`buildBundle: the plan has no ${role} segment`);
    return s.mem;
  };

  const chosen = chosenAt(o.initrd === null ? 0n : at("initrd"), elf === null ? 0n : at("elfcorehdr"));
  const dtb = serializeFdt(chosen.tree);
  if (dtb.length !== dtbSize) throw new Error(`buildBundle: the DTB changed size from ${dtbSize} to ${dtb.length} bytes`);

  const data = new Map<Role, Uint8Array>([["dtb", dtb]]);
  if (kernel.bytes !== null) data.set("kernel", kernel.bytes);
  if (o.initrd instanceof Uint8Array) data.set("initrd", o.initrd);
  if (elf !== null) data.set("elfcorehdr", elf.bytes);
  // Each segment is hashed exactly once, a staged one as it was copied: the
  // digest goes into the purgatory's region table, the manifest and segments.bin.
  const sha = (b: Uint8Array) => new Uint8Array(createHash("sha256").update(b).digest());
  const digests = new Map<Role, Uint8Array>([...data].map(([role, bytes]) => [role, sha(bytes)]));
  for (const [role, f] of [["kernel", kernel.staged], ["initrd", o.initrd]] as const) {
    if (f !== null && !(f instanceof Uint8Array)) digests.set(role, f.sha256);
  }
  const regions = plan.segments
    .filter((s) => s.role !== "purgatory")
    .map((s) => ({ start: s.mem, length: s.bufsz, sha256: digests.get(s.role)! }));
  // segment_memsz: the purgatory builds its page tables only inside the memory its segment really has.
  const purgSegment = plan.segments.find((s) => s.role === "purgatory");
  if (purgSegment === undefined) throw new Error("buildBundle: the plan has no purgatory segment");
  const purgatory = patch(purg.blob, { kernel_entry: plan.kernelEntry, dtb_addr: at("dtb"), regions, segment_memsz: purgSegment.memsz });
  data.set("purgatory", purgatory);
  digests.set("purgatory", sha(purgatory));

  const initrdNotes = initrdCheck === null ? [] : (await initrdCheck as InitrdCheck).notes.map((n) => `initrd: ${n}`);

  // Re-check the finished load with the layout's independent checker.
  const violations = checkLoad(plan, target);
  if (violations.length > 0) {
    throw new Error(`buildBundle: the plan breaks ${violations.map((v) => v.rule).join(", ")}`);
  }

  const files = new Map<string, Uint8Array>();
  const segments: ManifestSegment[] = plan.segments.map((s) => {
    const bytes = data.get(s.role);
    if (bytes !== undefined) files.set(SEGMENT_FILE[s.role], bytes);
    const seg: ManifestSegment = { role: s.role, file: SEGMENT_FILE[s.role], mem: s.mem, memsz: s.memsz, bufsz: s.bufsz, sha256: Buffer.from(digests.get(s.role)!).toString("hex") };
    return s.role === "kernel" ? { ...seg, textOffset: kernel.textOffset, imageSize: kernel.imageSize } : seg;
  });
  files.set("segments.bin", encodeSegmentTable({
    entry: plan.entry,
    flags: BigInt(plan.flags),
    segments: plan.segments.map((s) => ({ ...s, file: SEGMENT_FILE[s.role], sha256: digests.get(s.role)! })),
  }));

  const chosenJson = Object.fromEntries(Object.entries(chosen.written).map(([k, v]) => [k, v === null ? null : jsonValue(v)]));
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    mode,
    entry: plan.entry,
    flags: BigInt(plan.flags),
    kernelEntry: plan.kernelEntry,
    dtbAddress: at("dtb"),
    segments,
    chosen: {
      properties: chosenJson,
      reservations: chosen.reservations,
    },
    kernel: {
      formatChain: kernel.formatChain,
      textOffset: kernel.textOffset,
      imageSize: kernel.imageSize,
      flags: kernel.flags,
    },
    purgatory: {
      sha256Unpatched: purg.sha256,
      console: formatConsole(purgatoryConsole.console),
      consoleNote: purgatoryConsole.note,
      onMismatch: o.onMismatch ?? "spin",
      mmu: o.mmu ?? true,
      crypto: o.crypto ?? true,
      slotMap: purg.slots,
    },
    seed: Buffer.from(o.seed).toString("hex"),
    target: { ...target, dtb: null },
    baseDtb: { sha256: Buffer.from(sha(dtbIn)).toString("hex"), size: dtbIn.length },
    tools: { purgatory: TOOL_VERSION, assembler: purg.assembler },
  };
  files.set("manifest.json", new TextEncoder().encode(serializeManifest(manifest)));
  // A crash load is good only for the boot whose note addresses it carries:
  // boot.txt lets a loader check that without parsing JSON (boot.ts).
  const boot = mode === "crash" ? bootFacts(target) : null;
  if (boot !== null) files.set(BOOT_FILE, new TextEncoder().encode(encodeBootFile(boot)));
  return { files, manifest, plan, warnings: [...kernel.warnings, ...initrdNotes], notes };
}

/** The kernel as a bundle needs it: `bytes` is null for a staged one, which must be a raw Image. */
type Kernel = Pick<KernelImage, "textOffset" | "imageSize" | "flags" | "formatChain" | "warnings"> & {
  /** The unwrapped Image in memory, or null when it is `staged`. */
  readonly bytes: Uint8Array | null;
  readonly staged: StagedFile | null;
  readonly size: number;
};

async function kernelOf(k: Uint8Array | StagedFile, pageSize: number): Promise<Kernel> {
  if (k instanceof Uint8Array) {
    const img = await loadKernelImage(k, { pageSize });
    return { ...img, staged: null, size: img.bytes.length };
  }
  // What loadKernelImage checks of a raw Image: its header, and its size against image_size.
  const img = checkImage(k.head, pageSize, k.size);
  return { bytes: null, staged: k, size: k.size, textOffset: img.textOffset, imageSize: img.imageSize, flags: img.header.flags, formatChain: ["Image"], warnings: img.warnings };
}

function jsonValue(v: Exclude<ChosenResult["written"][string], null>): unknown {
  if (typeof v === "bigint") return hex(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (v === true || typeof v === "string") return v;
  return v.map((r) => ({ address: hex(r.address), size: hex(r.size) }));
}

/** A short human summary of a bundle. */
export function describeBundle(b: Bundle, dir: string): string {
  const m = b.manifest;
  const lines = [
    `bundle ${dir}: ${m.mode}, entry ${hex(m.entry)}, flags ${hex(m.flags)}, kernel entry ${hex(m.kernelEntry)}, dtb ${hex(m.dtbAddress)}`,
    ...m.segments.map((s) => `  ${s.role.padEnd(10)} ${hex(s.mem).padStart(12)}  memsz ${hex(s.memsz).padStart(10)}  bufsz ${hex(s.bufsz).padStart(10)}  ${s.sha256.slice(0, 16)}…  ${s.file}`),
    "  /chosen:",
    ...Object.entries((m.chosen as { properties: Record<string, unknown> }).properties).map(([k, v]) => {
      const text = v === null ? "(deleted)" : JSON.stringify(v);
      return `    ${k} = ${text.length > 72 ? `${text.slice(0, 69)}…` : text}`;
    }),
    ...b.warnings.map((w) => `warning: ${w}`),
    ...b.notes.map((n) => `note: ${n}`),
  ];
  return lines.join("\n");
}

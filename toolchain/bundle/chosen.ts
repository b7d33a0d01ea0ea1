import { createHash } from "node:crypto";
import { InputError, hex } from "../bytes/index.js";
import {
  addReservation,
  decodeU64,
  deleteProperty,
  encodeString,
  encodeU64,
  ensureNode,
  getProperty,
  removeReservations,
  setAddrRanges,
  setProperty,
  type AddrSize,
  type FdtTree,
} from "../fdt/index.js";
import type { Mode } from "../layout/index.js";

/**
 * The `/chosen` edits a kexec'd kernel needs, mirroring what the kernel's own
 * kexec_file path does (drivers/of/kexec.c `of_kexec_alloc_and_setup_fdt`),
 * which is stricter than kexec-tools: stale reservations and properties are
 * removed, seeds are fresh, and the capture properties never leak into a
 * reboot.
 */

/** arm64 COMMAND_LINE_SIZE (arch/arm64/include/uapi/asm/setup.h). */
export const COMMAND_LINE_SIZE = 2048;
/** drivers/of/kexec.c RNG_SEED_SIZE. */
export const RNG_SEED_SIZE = 128;

export interface ChosenInputs {
  readonly mode: Mode;
  /** The new kernel's command line; null or "" deletes `bootargs` (the kernel's rule). */
  readonly commandLine: string | null;
  /** The initrd segment `[address, address + size)`, or null to delete the initrd properties. */
  readonly initrd: AddrSize | null;
  /** Crash only: the elfcorehdr buffer (size = header bytes, not the page-rounded segment). */
  readonly elfcorehdr: AddrSize | null;
  /** Crash only: crashk_res first, then crashk_low_res (drivers/of/fdt.c reads the low range last). */
  readonly usableMemory: readonly AddrSize[];
  /** Any number of bytes; expanded with SHA-256 into `kaslr-seed` and `rng-seed`. */
  readonly seed: Uint8Array;
}

/** One property as written, for the manifest (`null` = deleted). */
export type ChosenValue = string | readonly { address: bigint; size: bigint }[] | bigint | Uint8Array | true | null;

export interface ChosenResult {
  readonly tree: FdtTree;
  /** Each `/chosen` property the edit set or deleted, by name. */
  readonly written: Readonly<Record<string, ChosenValue>>;
  /** The reservation entries removed and added. */
  readonly reservations: { readonly removed: readonly AddrSize[]; readonly added: readonly AddrSize[] };
}

const CHOSEN = "/chosen";

/**
 * Applies the kexec `/chosen` edits to a base tree.
 * @throws InputError when a value does not fit the root's cells (with the
 *   property path and a hint to widen `#address-cells`), or a crash input is missing.
 */
export function editChosen(base: FdtTree, input: ChosenInputs, baseDtbSize: number): ChosenResult {
  const written: Record<string, ChosenValue> = {};
  let t = ensureNode(base, CHOSEN);

  // Reservations of the old DTB and old initrd belong to the previous boot.
  // The kernel deletes the entry covering the old FDT by its address and
  // totalsize; a captured DTB has no address, so an entry of exactly its
  // totalsize is taken to be it.
  const oldInitrd = readInitrd(t);
  const removed: AddrSize[] = [];
  t = removeReservations(t, (e) => {
    const stale =
      e.size === BigInt(baseDtbSize) ||
      (oldInitrd !== null && e.address === oldInitrd.address && (e.size === oldInitrd.size || e.size === pageUp(oldInitrd.size)));
    if (stale) removed.push(e);
    return stale;
  });
  const added: AddrSize[] = [];

  for (const name of ["linux,elfcorehdr", "linux,usable-memory-range"]) {
    t = deleteProperty(t, CHOSEN, name);
    written[name] = null;
  }

  if (input.initrd !== null && input.initrd.size > 0n) {
    // Always u64, end exclusive (the kernel reads either width: of_read_number).
    const { address, size } = input.initrd;
    t = setProperty(t, CHOSEN, "linux,initrd-start", encodeU64(address));
    t = setProperty(t, CHOSEN, "linux,initrd-end", encodeU64(address + size));
    written["linux,initrd-start"] = address;
    written["linux,initrd-end"] = address + size;
    t = addReservation(t, input.initrd);
    added.push(input.initrd);
  } else {
    t = deleteProperty(t, CHOSEN, "linux,initrd-start");
    t = deleteProperty(t, CHOSEN, "linux,initrd-end");
    written["linux,initrd-start"] = null;
    written["linux,initrd-end"] = null;
  }

  if (input.mode === "crash") {
    if (input.elfcorehdr === null || input.usableMemory.length === 0) {
      throw new TypeError("editChosen: crash mode needs elfcorehdr and usableMemory");
    }
    t = setAddrRanges(t, CHOSEN, "linux,elfcorehdr", [input.elfcorehdr]);
    written["linux,elfcorehdr"] = [input.elfcorehdr];
    t = addReservation(t, input.elfcorehdr);
    added.push(input.elfcorehdr);
    t = setAddrRanges(t, CHOSEN, "linux,usable-memory-range", input.usableMemory);
    written["linux,usable-memory-range"] = input.usableMemory;
  }

  const cmdline = input.commandLine ?? "";
  if (cmdline.length + 1 > COMMAND_LINE_SIZE) {
    throw new InputError(
      "CMDLINE_TOO_LONG",
      `Cannot set bootargs: the command line is ${cmdline.length + 1} bytes with its NUL, over arm64's COMMAND_LINE_SIZE of ${COMMAND_LINE_SIZE}`,
      `${CHOSEN}/bootargs`,
      "Shorten --append/--command-line",
    );
  }
  if (cmdline === "") {
    t = deleteProperty(t, CHOSEN, "bootargs");
    written.bootargs = null;
  } else {
    t = setProperty(t, CHOSEN, "bootargs", encodeString(cmdline, `${CHOSEN}/bootargs`));
    written.bootargs = cmdline;
  }

  const seeds = expandSeed(input.seed);
  t = setProperty(t, CHOSEN, "kaslr-seed", encodeU64(seeds.kaslr));
  t = setProperty(t, CHOSEN, "rng-seed", seeds.rng);
  written["kaslr-seed"] = seeds.kaslr;
  written["rng-seed"] = seeds.rng;

  t = setProperty(t, CHOSEN, "linux,booted-from-kexec", new Uint8Array(0));
  written["linux,booted-from-kexec"] = true;

  return { tree: t, written, reservations: { removed, added } };
}

/** The old initrd range named by the base tree's /chosen, if both properties are there. */
function readInitrd(t: FdtTree): AddrSize | null {
  const s = getProperty(t, CHOSEN, "linux,initrd-start");
  const e = getProperty(t, CHOSEN, "linux,initrd-end");
  if (s === undefined || e === undefined) return null;
  const read = (v: Uint8Array, name: string): bigint | null =>
    v.length === 4 ? BigInt(new DataView(v.buffer, v.byteOffset, 4).getUint32(0)) : v.length === 8 ? decodeU64(v, `${CHOSEN}/${name}`) : null;
  const start = read(s, "linux,initrd-start");
  const end = read(e, "linux,initrd-end");
  return start === null || end === null || end <= start ? null : { address: start, size: end - start };
}

function pageUp(v: bigint): bigint {
  return (v + 0xfffn) & ~0xfffn;
}

/**
 * Derives `kaslr-seed` (u64) and `rng-seed` (128 bytes) from a seed of any
 * length: SHA-256 over a label and the seed, so the same `--seed` always
 * gives the same DTB and different labels give unrelated values.
 */
export function expandSeed(seed: Uint8Array): { kaslr: bigint; rng: Uint8Array } {
  const block = (label: string): Buffer => createHash("sha256").update(label).update(seed).digest();
  const kaslr = block("purgatory kaslr-seed").readBigUInt64BE(0);
  const rng = new Uint8Array(RNG_SEED_SIZE);
  for (let i = 0; i < RNG_SEED_SIZE / 32; i++) rng.set(block(`purgatory rng-seed ${i}`), 32 * i);
  return { kaslr, rng };
}

export interface CommandLineOptions {
  readonly mode: Mode;
  /** `--command-line S`: the whole command line. */
  readonly commandLine?: string | undefined;
  /** `--reuse-cmdline`: start from the running kernel's command line. */
  readonly reuse?: string | undefined;
  /** `--append S`: appended with one space. */
  readonly append?: string | undefined;
}

/**
 * Composes the new kernel's command line: the whole `commandLine`, or the
 * running kernel's (`reuse`) followed by `append`, or `append` alone.
 * `--reuse-cmdline` drops `BOOT_IMAGE=` always and `crashkernel=` in crash
 * mode (a capture kernel must not reserve crash memory again), as kexec-tools does.
 * @throws InputError `CMDLINE_CONFLICT` when a whole command line comes with
 *   reuse or with words to append (the usage shows them as alternatives).
 */
export function composeCommandLine(o: CommandLineOptions): string {
  if (o.commandLine !== undefined && o.reuse !== undefined) {
    throw new InputError("CMDLINE_CONFLICT", "Cannot use --command-line with --reuse-cmdline", "--command-line", "Pick one; add words with --append");
  }
  if (o.commandLine !== undefined && o.append !== undefined) {
    throw new InputError("CMDLINE_CONFLICT", "Cannot use --command-line with --append: --command-line is the whole command line", "--append",
      "Write the words of --append into --command-line, or use --reuse-cmdline --append");
  }
  let base = o.commandLine ?? "";
  if (o.reuse !== undefined) {
    base = o.reuse
      .trim()
      .split(/\s+/)
      .filter((w) => w !== "" && !w.startsWith("BOOT_IMAGE=") && !(o.mode === "crash" && w.startsWith("crashkernel=")))
      .join(" ");
  }
  return [base, o.append ?? ""].map((s) => s.trim()).filter((s) => s !== "").join(" ");
}

/** Renders a written value for people ("0x…", "<0x… 0x…>", `"text"`). */
export function formatChosenValue(v: ChosenValue): string {
  if (v === null) return "(deleted)";
  if (v === true) return "(empty)";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return hex(v);
  if (v instanceof Uint8Array) return `[${v.length} bytes]`;
  return v.map((r) => `<${hex(r.address)} ${hex(r.size)}>`).join(", ");
}

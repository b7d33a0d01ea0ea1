import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "../bytes/index.js";
import type { BootFacts } from "../bundle/index.js";

/**
 * The kdump service's state directory (default /var/lib/purgatory,
 * docs/kdump-service.md):
 *
 * | path | what |
 * |---|---|
 * | `kernels/<sha256>.Image` | the raw Image unwrapped from a kernel file whose SHA-256 is the name: content-keyed, so it survives reboots and is reused until the kernel file changes |
 * | `bundle/` | the crash bundle of the current boot (rebuilt by every `arm`) |
 * | `armed.json` | what `arm` loaded: the bundle, its boot, the input files and their digests, the CPUs and memory |
 */

export const DEFAULT_STATE_DIR = "/var/lib/purgatory";
export const ARMED_FORMAT = "purgatory-kdump-armed/1";

export interface InputFile {
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

/** `armed.json`. */
export interface Armed {
  readonly format: typeof ARMED_FORMAT;
  /** The bundle directory loaded. */
  readonly bundle: string;
  /** ISO 8601 UTC time of the load. */
  readonly armedAt: string;
  readonly boot: BootFacts;
  readonly kernel: InputFile;
  readonly initrd: InputFile;
  /** CPUs with crash notes when armed. */
  readonly cpus: readonly number[];
  /** System RAM when armed, "start-end" hex (half-open). */
  readonly memory: readonly string[];
  readonly commandLine: string;
  readonly loader: string;
}

export function statePaths(dir: string): { dir: string; kernels: string; bundle: string; armed: string } {
  return { dir, kernels: join(dir, "kernels"), bundle: join(dir, "bundle"), armed: join(dir, "armed.json") };
}

/** SHA-256 of a file, read in 1 MiB chunks. @throws InputError `READ_FAILED`. */
export function hashFile(path: string): InputFile {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new InputError("READ_FAILED", `Cannot read ${path}: ${(e as Error).message}`, path, "Check the path and its permissions.");
  }
  try {
    const h = createHash("sha256");
    const buf = Buffer.allocUnsafe(1 << 20);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      size += n;
    }
    return { path, sha256: h.digest("hex"), size };
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` through a temporary sibling and a rename. @throws InputError `WRITE_FAILED`. */
export function writeAtomic(path: string, data: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new InputError("WRITE_FAILED", `Cannot write ${path}: ${(e as Error).message}`, path, "Check that the state directory (--state-dir) is writable.");
  }
}

/** The bigint-free JSON of an `Armed` record. */
export function serializeArmed(a: Armed): string {
  const boot = { ...a.boot, vmcoreinfo: hexOrNull(a.boot.vmcoreinfo), kernelCode: hexOrNull(a.boot.kernelCode), crashNotes: a.boot.crashNotes.map((n) => ({ cpu: n.cpu, address: "0x" + n.address.toString(16) })) };
  return JSON.stringify({ ...a, boot }, null, 2) + "\n";
}

const hexOrNull = (v: bigint | null) => (v === null ? null : "0x" + v.toString(16));

/**
 * Reads `armed.json`, or null when there is none.
 * @throws InputError `BAD_STATE` when it exists but is not an armed record.
 */
export function readArmed(path: string): Armed | null {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new InputError("READ_FAILED", `Cannot read ${path}: ${(e as Error).message}`, path);
  }
  const bad = (why: string): never => {
    throw new InputError("BAD_STATE", `Cannot read ${path}: ${why}`, path, "Remove it and run `purgatory kdump arm` again.");
  };
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch (e) {
    return bad((e as Error).message);
  }
  if (o["format"] !== ARMED_FORMAT) bad(`format ${JSON.stringify(o["format"])} is not "${ARMED_FORMAT}"`);
  const b = o["boot"] as Record<string, unknown> | undefined;
  const big = (v: unknown, what: string): bigint | null => (v === null ? null : typeof v === "string" && /^0x[0-9a-f]+$/.test(v) ? BigInt(v) : bad(`${what} is not a hex string`));
  if (typeof b?.["bootId"] !== "string" || !Array.isArray(b["crashNotes"])) bad("boot is not a boot record");
  const boot: BootFacts = {
    bootId: b!["bootId"] as string,
    vmcoreinfo: big(b!["vmcoreinfo"], "boot.vmcoreinfo"),
    kernelCode: big(b!["kernelCode"], "boot.kernelCode"),
    crashNotes: (b!["crashNotes"] as { cpu: number; address: string }[]).map((n) => ({ cpu: n.cpu, address: big(n.address, "boot.crashNotes[].address") ?? 0n })),
  };
  for (const k of ["bundle", "armedAt", "commandLine", "loader"]) if (typeof o[k] !== "string") bad(`${k} is not a string`);
  for (const k of ["kernel", "initrd"]) {
    const f = o[k] as Record<string, unknown> | undefined;
    if (typeof f?.["path"] !== "string" || typeof f["sha256"] !== "string" || typeof f["size"] !== "number") bad(`${k} is not {path, sha256, size}`);
  }
  return { ...(o as unknown as Armed), boot };
}

import { createHash } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError, stableJson } from "../bytes/index.js";
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
 * | `digests.json` | the SHA-256 of input files and cached Images, each valid while the file's device, inode, size and modification time stay the same |
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

export function statePaths(dir: string): { dir: string; kernels: string; bundle: string; armed: string; digests: string } {
  return { dir, kernels: join(dir, "kernels"), bundle: join(dir, "bundle"), armed: join(dir, "armed.json"), digests: join(dir, "digests.json") };
}

export const DIGESTS_FORMAT = "purgatory-kdump-digests/1";

interface DigestEntry {
  readonly dev: string;
  readonly ino: string;
  readonly size: number;
  readonly mtimeNs: string;
  readonly sha256: string;
}

/**
 * Remembered digests (`digests.json`), so that arming at every boot and
 * `status` do not re-read a 30 MiB kernel whose file has not changed: an
 * entry holds while the file's device, inode, size and modification time (ns)
 * are what they were when it was hashed, the way git's index trusts a stat.
 * A file rewritten in place within the same timestamp with the same size
 * would fool it; a file whose modification time is within a second of its
 * hashing is therefore not remembered. A wrong digest cannot reach a crash:
 * the loader's --verify and the purgatory re-hash every segment.
 */
export class DigestMemo {
  private changed = false;

  private constructor(private readonly entries: Map<string, DigestEntry>) {}

  /** Reads `digests.json`; a missing or unreadable one is an empty memo (it is only a cache). */
  static read(path: string): DigestMemo {
    try {
      const o = JSON.parse(readFileSync(path, "utf8")) as { format?: unknown; files?: Record<string, DigestEntry> };
      if (o.format === DIGESTS_FORMAT && typeof o.files === "object" && o.files !== null) return new DigestMemo(new Map(Object.entries(o.files)));
    } catch {
      // Absent or damaged: start afresh.
    }
    return new DigestMemo(new Map());
  }

  /** The digest of `path`: remembered when its stat still matches, else read and hashed (and remembered). @throws InputError `READ_FAILED`. */
  digest(path: string): InputFile & { remembered: boolean } {
    const st = statOf(path);
    const e = this.entries.get(path);
    if (e !== undefined && st !== null && e.dev === st.dev && e.ino === st.ino && e.size === st.size && e.mtimeNs === st.mtimeNs) {
      return { path, sha256: e.sha256, size: e.size, remembered: true };
    }
    const f = hashFile(path);
    if (st !== null && Date.now() - Number(BigInt(st.mtimeNs) / 1_000_000n) > 1000 && f.size === st.size) this.set(path, st, f.sha256);
    return { ...f, remembered: false };
  }

  /** Records the digest of a file this process has just written (its content is known, so its fresh time does not matter). */
  remember(path: string, sha256: string): void {
    const st = statOf(path);
    if (st !== null) this.set(path, st, sha256);
  }

  /** Forgets files that no longer exist; writes `digests.json` when anything changed. @throws InputError `WRITE_FAILED`. */
  save(path: string): void {
    for (const p of this.entries.keys()) {
      if (statOf(p) === null) {
        this.entries.delete(p);
        this.changed = true;
      }
    }
    if (!this.changed) return;
    writeAtomic(path, stableJson({ format: DIGESTS_FORMAT, files: Object.fromEntries(this.entries) }));
    this.changed = false;
  }

  private set(path: string, st: Omit<DigestEntry, "sha256">, sha256: string): void {
    this.entries.set(path, { ...st, sha256 });
    this.changed = true;
  }
}

function statOf(path: string): Omit<DigestEntry, "sha256"> | null {
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return null;
  return { dev: st.dev.toString(), ino: st.ino.toString(), size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
}

/** SHA-256 of a file, read in 1 MiB chunks. @throws InputError `READ_FAILED`. */
function hashFile(path: string): InputFile {
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

/** The JSON of an `Armed` record (the project's one writer: bigints as hex strings). */
export function serializeArmed(a: Armed): string {
  return stableJson(a) + "\n";
}

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

import { createHash } from "node:crypto";
import { closeSync, linkSync, openSync, readSync, writeSync } from "node:fs";
import { mkdtemp, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { InputError } from "../bytes/index.js";

/** A segment copied into the bundle directory rather than held in memory: its size in bytes, SHA-256 and first bytes. */
export interface StagedFile {
  /** The copy in the staging directory, readable until the bundle is committed or discarded. */
  readonly path: string;
  readonly size: number;
  readonly sha256: Uint8Array;
  /** The first `keep` bytes copied (fewer if the file is shorter), for a header check. */
  readonly head: Uint8Array;
}

/** Copy chunk: big enough that per-call costs vanish, small enough to stay in cache while it is hashed and written. */
const CHUNK = 1 << 20;

/**
 * A bundle directory being written atomically: every file goes into a fresh
 * sibling directory, which `commit` renames into place only when all of them
 * are written. An existing bundle at the path (it has a manifest.json) is
 * replaced; any other non-empty directory is refused rather than clobbered.
 * Until `commit`, `discard` (call it in `finally`) leaves nothing behind.
 */
export class BundleDir {
  private committed = false;

  private constructor(
    private readonly target: string,
    private readonly tmp: string,
    private readonly replaces: boolean,
  ) {}

  /** @throws InputError `OUTPUT_EXISTS` for a non-empty directory that is not a bundle. */
  static async open(dir: string): Promise<BundleDir> {
    const target = resolve(dir);
    const existing = await stat(target).catch(() => null);
    if (existing !== null) {
      const names = existing.isDirectory() ? await readdir(target) : null;
      if (names === null || (names.length > 0 && !names.includes("manifest.json"))) {
        throw new InputError("OUTPUT_EXISTS", `Cannot write the bundle to ${dir}: it exists and is not a bundle directory`, dir,
          "Choose a new directory with -o, or remove this one");
      }
    }
    return new BundleDir(target, await mkdtemp(join(dirname(target), `.${basename(target)}.tmp-`)), existing !== null);
  }

  /**
   * Puts the file `from` into the bundle as `name` by a hard link (a copy
   * when linking fails, as across file systems), with the size and digest the
   * caller already knows, so nothing is read but the first `keep` bytes. Only
   * for files that nobody rewrites in place: the kdump state directory's
   * content-keyed Images (docs/kdump-service.md).
   * @throws InputError `READ_FAILED` when `from` cannot be read.
   */
  adopt(name: string, from: string, known: { readonly size: number; readonly sha256: Uint8Array }, keep = 0): StagedFile {
    const path = join(this.tmp, name);
    try {
      linkSync(from, path);
    } catch {
      return this.copy(name, from, keep);
    }
    const head = new Uint8Array(Math.min(keep, known.size));
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new InputError("READ_FAILED", `Cannot read ${from}: ${(e as Error).message}`, from, "Check the path and its permissions.");
    }
    try {
      for (let got = 0; got < head.length; ) {
        const n = readSync(fd, head, got, head.length - got, got);
        if (n === 0) break;
        got += n;
      }
    } finally {
      closeSync(fd);
    }
    return { path, size: known.size, sha256: known.sha256, head };
  }

  /**
   * Copies the file `from` into the bundle as `name`, hashing it on the way in
   * 1 MiB chunks, so that a large initrd or raw Image is read once and never
   * held whole: on a VM, faulting in a 100 MiB buffer costs several times more
   * than hashing it (bench/bundle.ts). What was hashed is the bundle's own
   * copy, so a source changed meanwhile cannot make the digest wrong. `keep` is
   * how many leading bytes to return as `head`.
   * @throws InputError `READ_FAILED` when `from` cannot be read; the write's own error when `name` cannot be written.
   */
  copy(name: string, from: string, keep = 0): StagedFile {
    const readFailed = (e: unknown) =>
      new InputError("READ_FAILED", `Cannot read ${from}: ${(e as Error).message}`, from, "Check the path and its permissions.");
    let src: number;
    try {
      src = openSync(from, "r");
    } catch (e) {
      throw readFailed(e);
    }
    try {
      const path = join(this.tmp, name);
      const dst = openSync(path, "wx");
      try {
        const hash = createHash("sha256");
        const chunk = Buffer.allocUnsafeSlow(CHUNK);
        let size = 0;
        const head = new Uint8Array(keep);
        for (;;) {
          let n: number;
          try {
            n = readSync(src, chunk, 0, CHUNK, null);
          } catch (e) {
            throw readFailed(e);
          }
          if (n === 0) break;
          if (size < keep) head.set(chunk.subarray(0, Math.min(n, keep - size)), size);
          hash.update(chunk.subarray(0, n));
          for (let done = 0; done < n; ) done += writeSync(dst, chunk, done, n - done);
          size += n;
        }
        return { path, size, sha256: new Uint8Array(hash.digest()), head: head.subarray(0, Math.min(size, keep)) };
      } finally {
        closeSync(dst);
      }
    } finally {
      closeSync(src);
    }
  }

  /** Writes `files` beside any copied ones and renames the directory into place. */
  async commit(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    if (this.committed) throw new TypeError(`BundleDir: ${this.target} is already committed`);
    for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) await writeFile(join(this.tmp, name), bytes);
    const old = `${this.tmp}.old`;
    if (this.replaces) await rename(this.target, old);
    await rename(this.tmp, this.target);
    this.committed = true;
    if (this.replaces) await rm(old, { recursive: true, force: true });
  }

  /** Removes the staging directory, unless it was committed. */
  async discard(): Promise<void> {
    if (!this.committed) await rm(this.tmp, { recursive: true, force: true });
  }
}

/**
 * Writes a bundle directory atomically from files in memory (see `BundleDir`).
 * On failure nothing is left behind.
 * @throws InputError `OUTPUT_EXISTS` for a non-empty directory that is not a bundle.
 */
export async function writeDirAtomic(dir: string, files: ReadonlyMap<string, Uint8Array>): Promise<void> {
  const out = await BundleDir.open(dir);
  try {
    await out.commit(files);
  } finally {
    await out.discard();
  }
}

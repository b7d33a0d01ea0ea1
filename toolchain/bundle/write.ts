import { createHash } from "node:crypto";
import { closeSync, existsSync, openSync, readSync, renameSync, rmSync } from "node:fs";
import { link, mkdtemp, open, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
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
 * Bundles being written by this process. A signal that would end it (Ctrl-C
 * is SIGINT) runs no `finally`: without a handler, each would leave its
 * hidden staging directory, as big as the kernel and initrd, beside the
 * output. While any is open, SIGINT, SIGTERM and SIGHUP remove them, then end
 * the process with the same signal, as it would have ended without us.
 */
const writing = new Set<BundleDir>();
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

function onSignal(signal: NodeJS.Signals): void {
  for (const d of writing) d.abandon();
  writing.clear();
  for (const s of SIGNALS) process.off(s, onSignal);
  process.kill(process.pid, signal);
}

function track(d: BundleDir, on: boolean): void {
  const before = writing.size;
  if (on) writing.add(d);
  else writing.delete(d);
  if (before === 0 && writing.size === 1) for (const s of SIGNALS) process.on(s, onSignal);
  if (before > 0 && writing.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
}

/**
 * A bundle directory being written atomically: every file goes into a fresh
 * sibling directory, which `commit` renames into place only when all of them
 * are written. An existing bundle at the path (it has a manifest.json) is
 * replaced; any other non-empty directory is refused rather than clobbered.
 * Until `commit`, `discard` (call it in `finally`) leaves nothing behind, and
 * neither does a signal that ends the process (see `onSignal`).
 */
export class BundleDir {
  private committed = false;
  /** The replaced bundle has been renamed aside to `old`, and the new one is not in place yet. */
  private swapping = false;

  private constructor(
    private readonly target: string,
    private readonly tmp: string,
    private readonly replaces: boolean,
  ) {
    track(this, true);
  }

  private get old(): string {
    return `${this.tmp}.old`;
  }

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
  async adopt(name: string, from: string, known: { readonly size: number; readonly sha256: Uint8Array }, keep = 0): Promise<StagedFile> {
    const path = join(this.tmp, name);
    try {
      await link(from, path);
    } catch {
      return await this.copy(name, from, keep);
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
   *
   * Asynchronous, two buffers: the next chunk is read while this one is
   * hashed, and written while the next is read, so the main thread only
   * hashes, and other work (the initrd check's inflating, on zlib's thread)
   * goes on meanwhile.
   * @throws InputError `READ_FAILED` when `from` cannot be read; the write's own error when `name` cannot be written.
   */
  async copy(name: string, from: string, keep = 0): Promise<StagedFile> {
    const readFailed = (e: unknown) =>
      new InputError("READ_FAILED", `Cannot read ${from}: ${(e as Error).message}`, from, "Check the path and its permissions.");
    const src = await open(from, "r").catch((e: unknown) => {
      throw readFailed(e);
    });
    try {
      const path = join(this.tmp, name);
      const dst = await open(path, "wx");
      try {
        const hash = createHash("sha256");
        const buffers: readonly [Buffer, Buffer] = [Buffer.allocUnsafeSlow(CHUNK), Buffer.allocUnsafeSlow(CHUNK)];
        const read = (b: Buffer) => src.read(b, 0, CHUNK, null).catch((e: unknown) => {
          throw readFailed(e);
        });
        const writeAll = async (b: Buffer, n: number) => {
          for (let done = 0; done < n; ) done += (await dst.write(b, done, n - done)).bytesWritten;
        };
        let size = 0;
        const head = new Uint8Array(keep);
        let reading = read(buffers[0]);
        let writing: Promise<void> = Promise.resolve();
        for (let i = 1; ; i++) {
          const { bytesRead: n, buffer: chunk } = await reading;
          if (n === 0) break;
          // The other buffer is free once its write (the previous chunk's) is done.
          await writing;
          reading = read(i & 1 ? buffers[1] : buffers[0]);
          if (size < keep) head.set(chunk.subarray(0, Math.min(n, keep - size)), size);
          hash.update(chunk.subarray(0, n));
          writing = writeAll(chunk, n);
          writing.catch(() => undefined); // awaited next round or below; not unhandled meanwhile
          size += n;
        }
        await writing;
        return { path, size, sha256: new Uint8Array(hash.digest()), head: head.subarray(0, Math.min(size, keep)) };
      } finally {
        await dst.close();
      }
    } finally {
      await src.close();
    }
  }

  /** Writes `files` beside any copied ones and renames the directory into place. */
  async commit(files: ReadonlyMap<string, Uint8Array>): Promise<void> {
    if (this.committed) throw new TypeError(`BundleDir: ${this.target} is already committed`);
    for (const [name, bytes] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) await writeFile(join(this.tmp, name), bytes);
    if (this.replaces) {
      await rename(this.target, this.old);
      this.swapping = true;
    }
    await rename(this.tmp, this.target);
    this.committed = true;
    this.swapping = false;
    if (this.replaces) await rm(this.old, { recursive: true, force: true });
    track(this, false);
  }

  /** Removes the staging directory, unless it was committed. */
  async discard(): Promise<void> {
    if (!this.committed) await rm(this.tmp, { recursive: true, force: true });
    track(this, false);
  }

  /**
   * What `discard` does, synchronously, for a signal handler: the staging
   * directory goes, and a bundle being replaced is put back (or, once the new
   * one is in place, the old one's copy removed).
   */
  abandon(): void {
    if (this.swapping && !existsSync(this.target)) renameSync(this.old, this.target);
    if (!this.committed) rmSync(this.tmp, { recursive: true, force: true, maxRetries: 3 });
    if (this.replaces) rmSync(this.old, { recursive: true, force: true, maxRetries: 3 });
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

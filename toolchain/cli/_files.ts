import { closeSync, fstatSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "../bytes/index.js";

/** The most any input file may hold: no kernel, initrd or description is larger (the kernel's own unpacking limit is far below). */
export const MAX_INPUT = 512 * 1024 * 1024;

/**
 * Reads a file named on the command line (`-` is stdin), at most `limit`
 * bytes: a regular file is sized first, anything else (a pipe, a device such
 * as /dev/zero) is read in chunks and stopped at the limit, so no input can
 * grow the process without bound.
 * @throws InputError `READ_FAILED`, or `TOO_LARGE` past `limit`.
 */
export function readInput(file: string, limit = MAX_INPUT, hint = "Check the path and its permissions."): Uint8Array {
  const tooLarge = (size: string) =>
    new InputError("TOO_LARGE", `Cannot read ${file}: ${size} bytes is more than the ${limit / 0x10_0000} MiB an input may hold`, file, "Is this the right file?");
  let fd: number | undefined;
  try {
    fd = file === "-" ? 0 : openSync(file, "r");
    const st = fstatSync(fd);
    if (st.isFile()) {
      if (st.size > limit) throw tooLarge(`0x${st.size.toString(16)}`);
      const b = readFileSync(fd);
      // A plain Uint8Array over the Buffer's memory: copying a kernel or initrd
      // costs as much as reading it (bench/bundle.ts). Only a Buffer that shares
      // Node's pool with others (a small file) is copied.
      return b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(1 << 20);
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === "EAGAIN") continue; // a non-blocking stdin with nothing yet
        throw e;
      }
      if (n === 0) break;
      total += n;
      if (total > limit) throw tooLarge(`more than 0x${limit.toString(16)}`);
      chunks.push(chunk.subarray(0, n));
    }
    return new Uint8Array(Buffer.concat(chunks, total));
  } catch (e) {
    if (e instanceof InputError) throw e;
    const err = e as NodeJS.ErrnoException;
    const why = err.code === "ENOENT" ? "no such file (ENOENT)" : err.code === "EISDIR" ? "it is a directory (EISDIR)" : err.message;
    throw new InputError("READ_FAILED", `Cannot read ${file}: ${why}`, undefined, hint);
  } finally {
    if (fd !== undefined && fd !== 0) closeSync(fd);
  }
}

/** `readInput` as UTF-8 text, for descriptions and manifests (at most 64 MiB). */
export function readText(file: string, hint?: string): string {
  return new TextDecoder().decode(readInput(file, 64 * 1024 * 1024, hint));
}

/** Reads the first `length` bytes of a file (fewer if it is shorter). @throws InputError `READ_FAILED`. */
export function readHead(file: string, length: number): Uint8Array {
  try {
    const fd = openSync(file, "r");
    try {
      const head = new Uint8Array(length);
      return head.subarray(0, readSync(fd, head, 0, length, 0));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new InputError("READ_FAILED", `Cannot read ${file}: ${(e as Error).message}`, file, "Check the path and its permissions.");
  }
}

/**
 * Refuses `-` as an output: `-` means stdin where a command reads, and an
 * output written atomically is a file, so `-o -` (or `fdt set -` with the
 * blob on stdin) would otherwise create a file named "-".
 * @throws InputError `BAD_OPTION` (a usage error, exit 2).
 */
export function refuseStdout(path: string): void {
  if (path === "-") {
    throw new InputError("BAD_OPTION", "Cannot write to -: this output is a file, not standard output", "-",
      "Give a file name (-o FILE; for fdt set with the blob on stdin, -o FILE too)");
  }
}

/**
 * Writes to a temporary file beside `path`, then renames it over `path`, so a
 * failure never leaves a half-written output.
 * @throws InputError `WRITE_FAILED`, or `BAD_OPTION` for `-`.
 */
export function writeAtomically(path: string, bytes: Uint8Array | string): void {
  refuseStdout(path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new InputError("WRITE_FAILED", `Cannot write ${path}: ${(e as Error).message}`, path, "Check that the directory exists and is writable.");
  }
}

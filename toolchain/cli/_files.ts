import { closeSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "../bytes/index.js";

/** Reads a file named on the command line (`-` is stdin). @throws InputError `READ_FAILED`. */
export function readInput(file: string): Uint8Array {
  let b: Buffer;
  try {
    b = readFileSync(file === "-" ? 0 : file);
  } catch (e) {
    throw new InputError("READ_FAILED", `Cannot read ${file}: ${(e as Error).message}`, file, "Check the path and its permissions.");
  }
  // A plain Uint8Array over the Buffer's memory: copying a kernel or initrd
  // costs as much as reading it (bench/bundle.ts). Only a Buffer that shares
  // Node's pool with others (a small file) is copied.
  return b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, b.byteOffset, b.byteLength) : new Uint8Array(b);
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
 * Writes to a temporary file beside `path`, then renames it over `path`, so a
 * failure never leaves a half-written output. @throws InputError `WRITE_FAILED`.
 */
export function writeAtomically(path: string, bytes: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new InputError("WRITE_FAILED", `Cannot write ${path}: ${(e as Error).message}`, path, "Check that the directory exists and is writable.");
  }
}

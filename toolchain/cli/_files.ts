import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { InputError } from "../bytes/index.js";

/** Reads a file named on the command line (`-` is stdin). @throws InputError `READ_FAILED`. */
export function readInput(file: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(file === "-" ? 0 : file));
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

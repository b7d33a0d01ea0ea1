import { closeSync, openSync, readSync, readdirSync, readFileSync } from "node:fs";
import { InputError } from "../bytes/index.js";

/**
 * Where `collectTarget` reads a machine's files from: a live root (`/`), a
 * copied tree (`--root DIR`) or a capture made by `examples/collect-target.sh`
 * (`--from FILE`). Paths are relative and use `/` ("proc/iomem").
 */
export interface CaptureSource {
  /** Names the source in messages ("/", "capture.txt"). */
  readonly label: string;
  /** The whole file, or null when it does not exist. Never used for /proc/kcore. */
  read(path: string): Uint8Array | null;
  /** Up to `length` bytes from `offset` (fewer at the end of the file), or null when it does not exist. */
  readAt(path: string, offset: number, length: number): Uint8Array | null;
  /** Entry names in a directory, sorted, or null when it does not exist. */
  list(dir: string): string[] | null;
}

/**
 * Reads files under `root` (`/` for the live system).
 * @throws InputError `NO_ACCESS` (permission denied, with the path) or
 * `READ_FAILED` from every method; a missing file is null, not an error.
 */
export function fsSource(root: string): CaptureSource {
  const full = (p: string) => (root.endsWith("/") ? root : root + "/") + p;
  return {
    label: root,
    read(path) {
      return guard(full(path), () => new Uint8Array(readFileSync(full(path))));
    },
    readAt(path, offset, length) {
      return guard(full(path), () => {
        const fd = openSync(full(path), "r");
        try {
          const buf = new Uint8Array(length);
          let got = 0;
          while (got < length) {
            const n = readSync(fd, buf, got, length - got, offset + got);
            if (n === 0) break;
            got += n;
          }
          return buf.subarray(0, got);
        } finally {
          closeSync(fd);
        }
      });
    },
    list(dir) {
      return guard(full(dir), () => readdirSync(full(dir)).sort());
    },
  };
}

function guard<T>(path: string, f: () => T): T | null {
  try {
    return f();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    if (code === "EACCES" || code === "EPERM") {
      throw new InputError("NO_ACCESS", `Cannot read ${path}: permission denied`, path, "Run as root; under kernel lockdown /proc/kcore stays closed.");
    }
    throw new InputError("READ_FAILED", `Cannot read ${path}: ${(e as Error).message}`, path);
  }
}

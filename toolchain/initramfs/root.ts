import { lstatSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import { InputError } from "../bytes/index.js";

/**
 * A root file system the capture initramfs takes its programs from: the
 * target's own `/`, or a sysroot of unpacked packages off-target. Paths are
 * absolute inside the root ("/lib/aarch64-linux-gnu/libc.so.6"); a symlink's
 * absolute target means a path inside the root, never on the host, which is
 * why the lookups here walk the root themselves instead of asking the host's
 * realpath.
 */
export interface RootFs {
  /** Names the root in messages ("/", "/home/me/sysroot"). */
  readonly label: string;
  /** What is at `path` without following a final symlink, or null when nothing is. */
  kind(path: string): "file" | "dir" | "symlink" | "other" | null;
  /** A regular file's bytes. @throws InputError `READ_FAILED`. */
  read(path: string): Uint8Array;
  /** A symlink's target, as stored. @throws InputError `READ_FAILED`. */
  readlink(path: string): string;
  /** Entry names of a directory, sorted by byte order, or null when it is not a directory. */
  list(dir: string): string[] | null;
}

/** A root on the host's file system at `dir` (`/` for the running system). */
export function fsRoot(dir: string): RootFs {
  const full = (p: string) => (dir.endsWith("/") ? dir.slice(0, -1) : dir) + p;
  const guard = <T>(p: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new InputError("READ_FAILED", `Cannot read ${full(p)}: ${(e as Error).message}`, full(p), "Check the path and its permissions.");
    }
  };
  return {
    label: dir,
    kind(p) {
      let st;
      try {
        st = lstatSync(full(p));
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT" || code === "ENOTDIR") return null;
        throw new InputError("READ_FAILED", `Cannot read ${full(p)}: ${(e as Error).message}`, full(p), "Check the path and its permissions.");
      }
      return st.isSymbolicLink() ? "symlink" : st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
    },
    read: (p) => guard(p, () => new Uint8Array(readFileSync(full(p)))),
    readlink: (p) => guard(p, () => readlinkSync(full(p))),
    list(p) {
      if (this.kind(p) !== "dir") return null;
      return guard(p, () => readdirSync(full(p)).sort(byteOrder));
    },
  };
}

/** A symlink met on the way to a file: where it is (its parent already resolved) and its target as stored. */
export interface Link {
  readonly path: string;
  readonly target: string;
}

export interface Resolved {
  /** The path with every symlink followed, inside the root. */
  readonly path: string;
  readonly kind: "file" | "dir" | "other";
  /** Every symlink followed, in order: an archive that holds them and `path` resolves the original path the same way. */
  readonly links: readonly Link[];
}

/** The kernel's limit on symlinks followed in one lookup (include/linux/namei.h MAXSYMLINKS). */
const MAX_SYMLINKS = 40;

/**
 * Follows `path` inside `root` as the kernel's path walk would with the root
 * as `/`: absolute symlink targets restart at the root, `..` stops there.
 * @returns null when a component is missing, a file is used as a directory,
 *   or the walk meets more than 40 symlinks (ELOOP).
 */
export function resolveIn(root: RootFs, path: string): Resolved | null {
  let rest = components(path);
  let cur = "";
  const links: Link[] = [];
  let kind: "file" | "dir" | "other" = "dir";
  while (rest.length > 0) {
    const [c, ...tail] = rest as [string, ...string[]];
    rest = tail;
    if (c === ".") continue;
    if (c === "..") {
      cur = cur.slice(0, Math.max(0, cur.lastIndexOf("/")));
      kind = "dir";
      continue;
    }
    if (kind !== "dir") return null;
    const next = `${cur}/${c}`;
    const k = root.kind(next);
    if (k === null) return null;
    if (k === "symlink") {
      if (links.length >= MAX_SYMLINKS) return null;
      const target = root.readlink(next);
      links.push({ path: next, target });
      if (target.startsWith("/")) cur = "";
      rest = [...components(target), ...rest];
      kind = "dir";
      continue;
    }
    cur = next;
    kind = k;
  }
  return { path: cur === "" ? "/" : cur, kind, links };
}

function components(path: string): string[] {
  return path.split("/").filter((c) => c !== "");
}

/** Byte order of UTF-8 names: independent of the locale. */
export function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

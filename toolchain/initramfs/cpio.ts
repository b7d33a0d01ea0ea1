/**
 * Deterministic initramfs builder: a newc ("070701") cpio archive, the format
 * the kernel unpacks into rootfs (Documentation/driver-api/early-userspace/
 * buffer-format.rst, init/initramfs.c), optionally gzip-compressed.
 *
 * Same entries in, same bytes out: entries are sorted by path, mtime is 0,
 * uid/gid are 0, inode numbers count up from 0 in path order, a directory's
 * link count is 2 plus its subdirectories (as stat(2) says), and the hex is
 * upper-case. That is byte for byte what `cpio -o -H newc --reproducible`
 * (GNU cpio 2.13) writes for the same tree, except that GNU pads the end to a
 * 512-byte block. Missing parent directories are added (mode 0755), since
 * the kernel does not create them.
 */
import { gzipSync } from "node:zlib";
import { ByteWriter, InputError } from "../bytes/index.js";

/** One archive member. `path` is absolute or relative to the archive root; `mode` holds permission bits only. */
export type CpioEntry =
  | { readonly path: string; readonly mode?: number; readonly data: Uint8Array | string }
  | { readonly path: string; readonly mode?: number; readonly symlink: string }
  | { readonly path: string; readonly mode?: number; readonly directory: true };

export interface CpioOptions {
  /** "gzip" (the kernel needs CONFIG_RD_GZIP) or "none" (default). */
  readonly compress?: "gzip" | "none";
}

/**
 * The gzip level: fixed, so that the same archive always compresses to the
 * same bytes with the same zlib (Node's bundled one; another zlib version may
 * choose other matches, and the header's OS byte and mtime are fixed by
 * node:zlib: 03 and 0).
 */
export const GZIP_LEVEL = 9;

/** `archive` gzip-compressed at GZIP_LEVEL. */
export function gzipArchive(archive: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(archive, { level: GZIP_LEVEL }));
}

// File type bits of st_mode (include/uapi/linux/stat.h).
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

// The newc header: the magic, then 13 fields of 8 ASCII hex digits each, 110
// bytes in all; the name (NUL-terminated) and the data are each padded to a
// multiple of 4 bytes from the start of the archive (buffer-format.rst).
const NEWC_MAGIC = "070701";
const NEWC_FIELDS = [
  ["c_ino", "inode number; only used to spot hard links (nlink > 1)"],
  ["c_mode", "file type and permission bits"],
  ["c_uid", "owner"],
  ["c_gid", "group"],
  ["c_nlink", "link count"],
  ["c_mtime", "modification time, seconds since the epoch"],
  ["c_filesize", "data length in bytes (a symlink's data is its target)"],
  ["c_maj", "device holding the file: major"],
  ["c_min", "device holding the file: minor"],
  ["c_rmaj", "device number of a device node: major"],
  ["c_rmin", "device number of a device node: minor"],
  ["c_namesize", "length of the name including its NUL"],
  ["c_chksum", "0 for newc (070702 archives carry a checksum)"],
] as const;
type NewcField = (typeof NEWC_FIELDS)[number][0];
const NEWC_HEADER_SIZE = NEWC_MAGIC.length + 8 * NEWC_FIELDS.length;
const TRAILER = "TRAILER!!!";
const align4 = (n: number) => (n + 3) & ~3;

const utf8 = new TextEncoder();

/**
 * Builds a newc cpio archive from `entries`.
 * @throws InputError `BAD_PATH` for an empty path or one with `.`/`..`
 *   components, `DUPLICATE` for two entries with one path or a path that
 *   is both a directory and something else, `BAD_VALUE` for a mode outside
 *   0..0o7777, `TOO_LARGE` for data of 4 GiB or more (newc sizes are 32-bit).
 */
export function buildCpio(entries: readonly CpioEntry[], options: CpioOptions = {}): Uint8Array {
  const byPath = new Map<string, CpioEntry>();
  for (const e of entries) {
    const path = normalize(e.path);
    if (byPath.has(path)) {
      throw new InputError("DUPLICATE", `Cannot build cpio archive: two entries for ${path}`, e.path, "Give each path once");
    }
    byPath.set(path, e);
  }
  for (const path of [...byPath.keys()]) {
    for (let dir = parentOf(path); dir !== ""; dir = parentOf(dir)) {
      const e = byPath.get(dir);
      if (e === undefined) byPath.set(dir, { path: dir, directory: true });
      else if (!("directory" in e)) {
        throw new InputError(
          "DUPLICATE",
          `Cannot build cpio archive: ${dir} is a parent of ${path} but not a directory`,
          e.path,
          "Make it a directory entry or move the child",
        );
      }
    }
  }
  // Byte order of UTF-8 names, so the order does not depend on the locale.
  const paths = [...byPath.keys()].sort((a, b) => Buffer.compare(utf8.encode(a), utf8.encode(b)));

  const subdirs = new Map<string, number>(paths.map((p) => [p, 0]));
  for (const [path, e] of byPath) {
    const parent = parentOf(path);
    if ("directory" in e && parent !== "") subdirs.set(parent, (subdirs.get(parent) ?? 0) + 1);
  }

  const members = paths.map((path) => {
    const entry = byPath.get(path) as CpioEntry;
    return { path, entry, ...describe(entry) };
  });
  // The exact size up front: the writer never has to grow.
  const size = [...members, { path: TRAILER, data: new Uint8Array(0) }].reduce(
    (sum, m) => sum + align4(NEWC_HEADER_SIZE + utf8.encode(m.path).length + 1) + align4(m.data.length),
    0,
  );
  const w = new ByteWriter(size);
  members.forEach(({ path, entry: e, type, perm, data }, i) => {
    const mode = e.mode ?? perm;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
      throw new InputError("BAD_VALUE", `Cannot build cpio archive: mode 0o${mode.toString(8)} is not permission bits`, e.path, "Use 0..0o7777; the type comes from the entry kind");
    }
    if (data.length > 0xffffffff) {
      throw new InputError("TOO_LARGE", `Cannot build cpio archive: ${data.length} bytes do not fit newc's 32-bit size`, e.path);
    }
    const nlink = type === S_IFDIR ? 2 + (subdirs.get(path) ?? 0) : 1;
    member(w, path, { c_ino: i, c_mode: type | mode, c_nlink: nlink, c_filesize: data.length }, data);
  });
  member(w, TRAILER, { c_nlink: 1 }, new Uint8Array(0));
  const archive = w.finish();
  return options.compress === "gzip" ? gzipArchive(archive) : archive;
}

function member(w: ByteWriter, name: string, fields: Partial<Record<NewcField, number>>, data: Uint8Array): void {
  const nameBytes = utf8.encode(name);
  const values: Partial<Record<NewcField, number>> = { ...fields, c_namesize: nameBytes.length + 1 };
  let header = NEWC_MAGIC;
  for (const [field] of NEWC_FIELDS) header += (values[field] ?? 0).toString(16).toUpperCase().padStart(8, "0");
  w.bytes(utf8.encode(header)).bytes(nameBytes).u8(0).align(4);
  w.bytes(data).align(4);
}

function describe(e: CpioEntry): { type: number; perm: number; data: Uint8Array } {
  if ("directory" in e) return { type: S_IFDIR, perm: 0o755, data: new Uint8Array(0) };
  if ("symlink" in e) return { type: S_IFLNK, perm: 0o777, data: utf8.encode(e.symlink) };
  return { type: S_IFREG, perm: 0o644, data: typeof e.data === "string" ? utf8.encode(e.data) : e.data };
}

/** "/bin//sh" → "bin/sh"; rejects "", ".", ".." components. */
function normalize(path: string): string {
  const parts = path.split("/").filter((p) => p !== "");
  if (parts.length === 0 || parts.some((p) => p === "." || p === "..")) {
    throw new InputError("BAD_PATH", `Cannot build cpio archive: bad member path ${JSON.stringify(path)}`, path, "Use a path like /bin/sh, without . or .. components");
  }
  return parts.join("/");
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

export interface BusyboxInitramfsOptions extends CpioOptions {
  /** The static busybox binary (it must not need a dynamic linker). */
  readonly busybox: Uint8Array;
  /** Applets to link to /bin/busybox, as /bin/<name> (e.g. sh, mount, cat, echo, ls, poweroff). */
  readonly applets: readonly string[];
  /** The text of /init, the first process (it runs with no environment and stdio on /dev/console). */
  readonly init: string;
  /** More members (e.g. a program and its libraries). */
  readonly extra?: readonly CpioEntry[];
}

/**
 * Builds an initramfs around a static busybox: /bin/busybox, one symlink per
 * applet, empty /dev, /proc and /sys for the caller's /init to mount on, and
 * /init (mode 0755).
 * @throws InputError `NOT_FOUND` when /init's `#!` interpreter is not in the
 *   archive, `BAD_NAME` for an applet name that is not a plain file name,
 *   and everything `buildCpio` throws.
 */
export function busyboxInitramfs(options: BusyboxInitramfsOptions): Uint8Array {
  const entries: CpioEntry[] = [
    { path: "/bin/busybox", mode: 0o755, data: options.busybox },
    { path: "/dev", directory: true },
    { path: "/proc", directory: true },
    { path: "/sys", directory: true },
    { path: "/init", mode: 0o755, data: options.init },
  ];
  for (const applet of new Set(options.applets)) {
    if (applet === "" || applet.includes("/") || applet === "busybox") {
      throw new InputError("BAD_NAME", `Cannot build busybox initramfs: bad applet name ${JSON.stringify(applet)}`, applet, "Give names like sh or poweroff");
    }
    entries.push({ path: `/bin/${applet}`, symlink: "busybox" });
  }
  entries.push(...(options.extra ?? []));
  // The kernel execs /init through its #! line; a missing interpreter fails
  // the boot with only "Failed to execute /init (error -2)".
  const shebang = /^#!\s*(\S+)/.exec(options.init);
  const interpreter = shebang?.[1];
  if (interpreter === undefined || !entries.some((e) => `/${normalize(e.path)}` === interpreter)) {
    throw new InputError(
      "NOT_FOUND",
      `Cannot build busybox initramfs: /init must start with #! and an interpreter in the archive, got ${JSON.stringify(interpreter ?? options.init.slice(0, 20))}`,
      "/init",
      'Start /init with "#!/bin/sh" and include "sh" in the applets',
    );
  }
  return buildCpio(entries, options);
}

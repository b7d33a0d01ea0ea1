import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { decodeLayout, defineLayout } from "../../toolchain/bytes/index.js";

/**
 * The host's side of the dump disk of test/cycle/capture-disk.test.ts: an
 * ext4 image made with mke2fs, read back with debugfs (e2fsprogs) without
 * mounting it, and the header of the kdump-compressed file makedumpfile
 * writes there.
 */

/** A sparse raw image of `mib` MiB holding an empty ext4 file system labelled `label`, with the directories of `tree` (made with mke2fs -d). */
export function makeExt4(path: string, mib: number, label: string, tree: string): void {
  execFileSync("mkfs.ext4", ["-q", "-F", "-L", label, "-E", "root_owner=0:0", "-d", tree, path, `${mib}M`], { stdio: "pipe" });
}

/** Copies directory `dir` of the ext4 image to `out` on the host (debugfs rdump); returns `out`/basename(dir). */
export function copyOut(image: string, dir: string, out: string): string {
  mkdirSync(out, { recursive: true });
  execFileSync("debugfs", ["-R", `rdump ${dir} ${out}`, image], { stdio: "pipe" });
  return join(out, dir.slice(dir.lastIndexOf("/") + 1));
}

/** Names in a host directory, sorted. */
export function names(dir: string): string[] {
  return readdirSync(dir).sort();
}

// The kdump-compressed format's first block (makedumpfile diskdump_mod.h
// struct disk_dump_header, LP64 as on arm64): the signature, the header
// version, the crashed kernel's utsname, then a struct timeval (8-aligned).
const UTS = 65;
export const DISK_DUMP_HEADER = defineLayout("disk_dump_header", 464, [
  { name: "signature", offset: 0, kind: "bytes", size: 8, note: '"KDUMP   "' },
  { name: "header_version", offset: 8, kind: "u32LE", note: "6 for makedumpfile 1.7" },
  { name: "sysname", offset: 12, kind: "bytes", size: UTS, note: "new_utsname.sysname" },
  { name: "release", offset: 12 + 2 * UTS, kind: "bytes", size: UTS, note: "new_utsname.release" },
  { name: "machine", offset: 12 + 4 * UTS, kind: "bytes", size: UTS, note: "new_utsname.machine" },
  { name: "status", offset: 424, kind: "u32LE", note: "DUMP_DH_COMPRESSED_LZO 0x2, DUMP_DH_COMPRESSED_INCOMPLETE 0x8" },
  { name: "block_size", offset: 428, kind: "u32LE", note: "the page size" },
  { name: "sub_hdr_size", offset: 432, kind: "u32LE", note: "blocks of kdump_sub_header" },
  { name: "nr_cpus", offset: 460, kind: "u32LE", note: "CPUs of the crashed kernel" },
] as const);
/** struct kdump_sub_header, in the block after the header: phys_base, then dump_level (-d). */
export const KDUMP_SUB_HEADER = defineLayout("kdump_sub_header", 12, [
  { name: "phys_base", offset: 0, kind: "u64LE", note: "unsigned long" },
  { name: "dump_level", offset: 8, kind: "u32LE", note: "the -d mask" },
] as const);
export const DUMP_DH_COMPRESSED_LZO = 0x2;
export const DUMP_DH_COMPRESSED_INCOMPLETE = 0x8;

export interface KdumpHeader {
  readonly signature: string;
  readonly headerVersion: number;
  readonly sysname: string;
  readonly release: string;
  readonly machine: string;
  readonly status: number;
  readonly blockSize: number;
  readonly nrCpus: number;
  readonly dumpLevel: number;
}

/** Decodes the header and sub header of a kdump-compressed file. */
export function readKdumpHeader(bytes: Uint8Array): KdumpHeader {
  const h = decodeLayout(DISK_DUMP_HEADER, bytes);
  const cstr = (b: Uint8Array) => Buffer.from(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0))).toString("latin1");
  const sub = decodeLayout(KDUMP_SUB_HEADER, bytes, h.block_size);
  return {
    signature: Buffer.from(h.signature).toString("latin1"),
    headerVersion: h.header_version,
    sysname: cstr(h.sysname),
    release: cstr(h.release),
    machine: cstr(h.machine),
    status: h.status,
    blockSize: h.block_size,
    nrCpus: h.nr_cpus,
    dumpLevel: sub.dump_level,
  };
}

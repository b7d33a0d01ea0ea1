import { buildCpio, type CpioEntry } from "../../toolchain/initramfs/index.js";

/**
 * A small capture initramfs whose costs are known from its entries alone
 * (any correct newc writer gives the same counts), and the figures the
 * measurement must find for it.
 */

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251);

export const LONG_TARGET = "/" + "x".repeat(199);

export const ENTRIES: readonly CpioEntry[] = [
  { path: "/bin", directory: true },
  { path: "/data", directory: true },
  { path: "/dev", directory: true },
  { path: "/etc", directory: true },
  { path: "/lib", directory: true },
  { path: "/init", mode: 0o755, data: bytes(200, 1) },
  { path: "/bin/busybox", mode: 0o755, data: bytes(10_000, 2) },
  { path: "/bin/sh", symlink: "busybox" },
  { path: "/lib/long", symlink: LONG_TARGET },
  { path: "/etc/empty", data: new Uint8Array(0) },
  { path: "/data/big", data: bytes(70_000, 3) },
];

/** What `measureInitramfs` must count for ENTRIES: regular files rounded up to pages, plus a page for the one symlink longer than 127 bytes. */
export const EXPECTED = {
  entries: 11,
  files: 4,
  directories: 5,
  symlinks: 2,
  others: 0,
  dataBytes: 200 + 10_000 + 0 + 70_000 + "busybox".length + LONG_TARGET.length,
  tmpfsBytes: {
    4096: 4096 + 12_288 + 0 + 73_728 + 4096,
    16384: 16_384 + 16_384 + 0 + 81_920 + 16_384,
    65536: 65_536 + 65_536 + 0 + 131_072 + 65_536,
  },
} as const;

/** The uncompressed archive (fixtures/capture.cpio.{zst,xz} hold it compressed; see fixtures/README.md). */
export function captureCpio(): Uint8Array {
  return buildCpio(ENTRIES);
}

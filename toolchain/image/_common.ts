import { InputError, hex } from "../bytes/index.js";

/**
 * The most bytes one decompression may produce (512 MiB). Real arm64 kernels
 * are under 100 MiB; the cap keeps a crafted input from exhausting memory.
 */
export const MAX_DECOMPRESSED = 512 << 20;

/**
 * The error every decoder throws when its output would pass `limit` bytes;
 * `what` says what grew ("the gzip data expands").
 */
export function tooLarge(what: string, limit: number, where: number): InputError {
  return new InputError(
    "TOO_LARGE",
    `Cannot load the kernel: ${what} past the limit of ${hex(limit)} bytes (${limit / 1048576} MiB)`,
    where,
    "No arm64 kernel is this large; the file is corrupt or crafted",
  );
}

/**
 * The kernel appends the uncompressed size as a little-endian u32 to its
 * zstd, xz, lzma, lzo and lz4 outputs (`size_append` in scripts/Makefile.lib).
 * Returns true when `tail` is exactly such a trailer for `size` bytes.
 */
export function isSizeTrailer(tail: Uint8Array, size: number): boolean {
  return tail.length === 4 && new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true) === size % 2 ** 32;
}

/** Joins chunks into one array of `total` bytes (no copy for a single chunk). */
export function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

import * as zlib from "node:zlib";

/**
 * CRC-32 (ISO-HDLC, the one gzip and xz use), continuing from `value` like
 * zlib's `crc32(data, value)`. Node has `zlib.crc32` from 20.15 and 22.2
 * only; the target-side commands run on Node 18 (Debian 12), so this falls
 * back to a table-driven version there.
 */
type Crc32 = (data: Uint8Array, value?: number) => number;

const native = (zlib as unknown as { crc32?: Crc32 }).crc32;

let table: Uint32Array | null = null;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The portable version (exported for the test that compares it with zlib's). */
export function crc32Portable(data: Uint8Array, value = 0): number {
  const t = (table ??= makeTable());
  let c = ~value >>> 0;
  for (let i = 0; i < data.length; i++) c = (t[(c ^ (data[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return ~c >>> 0;
}

export const crc32: Crc32 = native ?? crc32Portable;

import { promisify } from "node:util";
import { inflateRaw } from "node:zlib";
import { ByteReader, InputError, crc32, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED, concat, tooLarge } from "./_common.js";

/**
 * gzip (RFC 1952), as in `Image.gz`, a gzip zboot payload and a gzip uImage.
 * We read the member header and trailer ourselves so that the end of the data
 * is exact and trailing bytes are reported, and let node:zlib inflate the
 * deflate stream (with a cap on its output). The asynchronous call, because
 * Node's `inflateRawSync` leaks its zlib handle (about 18 KiB) on every
 * corrupt input: bench/fuzz.ts ran a 256 MiB heap out after 257,000 cases.
 */

const inflateRawAsync = promisify(inflateRaw) as unknown as (b: Uint8Array, o: object) => Promise<{ buffer: Buffer; engine: { bytesWritten: number } }>;

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
const FRESERVED = 0xe0;
const CM_DEFLATE = 8;

export interface Gunzipped {
  readonly data: Uint8Array;
  /** Number of gzip members (concatenated gzip files decompress to the concatenation). */
  readonly members: number;
}

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array, at = 0): boolean {
  return bytes[at] === 0x1f && bytes[at + 1] === 0x8b;
}

/**
 * Decompresses every gzip member in `bytes`, checking each trailer's CRC32 and
 * size. `limit` caps the output in bytes.
 * @throws InputError `BAD_GZIP` (bad header, corrupt data, CRC or size mismatch,
 *   trailing bytes), `TRUNCATED` or `TOO_LARGE`.
 */
export async function gunzip(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Promise<Gunzipped> {
  const out: Uint8Array[] = [];
  let produced = 0;
  let pos = 0;
  let members = 0;
  do {
    const start = pos;
    const r = new ByteReader(bytes, "gzip header", pos);
    r.u16LE("magic");
    const cm = r.u8("compression method");
    if (cm !== CM_DEFLATE) {
      throw new InputError("BAD_GZIP", `Cannot decompress gzip member: compression method ${cm} is not deflate (8)`, start + 2, "The file is corrupt");
    }
    const flg = r.u8("flags");
    if (flg & FRESERVED) {
      throw new InputError("BAD_GZIP", `Cannot decompress gzip member: reserved flag bits set in ${hex(flg)}`, start + 3, "The file is corrupt");
    }
    r.bytesN(6, "mtime, xfl and os");
    if (flg & FEXTRA) r.bytesN(r.u16LE("extra length"), "extra field");
    if (flg & FNAME) skipZeroTerminated(r, "file name");
    if (flg & FCOMMENT) skipZeroTerminated(r, "comment");
    if (flg & FHCRC) r.u16LE("header crc16");

    const deflateAt = r.pos;
    if (produced >= limit) throw tooLarge("the gzip data expands", limit, start);
    let inflated: Uint8Array;
    let consumed: number;
    try {
      const res = await inflateRawAsync(bytes.subarray(deflateAt), { info: true, maxOutputLength: limit - produced });
      inflated = new Uint8Array(res.buffer.buffer, res.buffer.byteOffset, res.buffer.length); // plain, not a Buffer
      consumed = res.engine.bytesWritten;
    } catch (e) {
      if (e instanceof RangeError) throw tooLarge("the gzip data expands", limit, deflateAt);
      const why = e instanceof Error ? e.message : String(e);
      throw new InputError(
        "BAD_GZIP",
        `Cannot decompress gzip data: ${why}`,
        deflateAt,
        why.includes("unexpected end") ? "The file is truncated" : "The compressed data is corrupt",
      );
    }
    const t = new ByteReader(bytes, "gzip trailer", deflateAt + consumed);
    const crc = t.u32LE("crc32");
    const isize = t.u32LE("isize");
    if (crc32(inflated) !== crc) {
      throw new InputError(
        "BAD_GZIP",
        `Cannot decompress gzip data: CRC32 ${hex(crc32(inflated))} of the output does not match the trailer's ${hex(crc)}`,
        t.pos - 8,
        "The compressed data is corrupt",
      );
    }
    if (inflated.length % 2 ** 32 !== isize) {
      throw new InputError(
        "BAD_GZIP",
        `Cannot decompress gzip data: output is ${hex(inflated.length)} bytes but the trailer's ISIZE is ${hex(isize)}`,
        t.pos - 4,
        "The compressed data is corrupt",
      );
    }
    out.push(inflated);
    produced += inflated.length;
    members++;
    pos = t.pos;
  } while (pos < bytes.length && isGzip(bytes, pos));

  if (pos < bytes.length) {
    const fdt = bytes[pos] === 0xd0 && bytes[pos + 1] === 0x0d && bytes[pos + 2] === 0xfe && bytes[pos + 3] === 0xed;
    throw new InputError(
      "BAD_GZIP",
      `Cannot decompress gzip data: ${hex(bytes.length - pos)} bytes follow the end of the gzip stream`,
      pos,
      fdt
        ? "They are a device tree: this is an Image.gz-dtb; cut the gzip part off and pass the DTB separately"
        : "The file has data appended after the compressed kernel; remove it",
    );
  }
  return { data: concat(out, produced), members };
}

function skipZeroTerminated(r: ByteReader, what: string): void {
  while (r.u8(what) !== 0) {
    // advance to the NUL
  }
}

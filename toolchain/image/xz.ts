import { createHash } from "node:crypto";
import { ByteReader, InputError, crc32, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED, concat, tooLarge } from "./_common.js";

/**
 * xz (the .xz file format, tukaani.org xz-file-format 1.2.1), as in `Image.xz`
 * and an "xzkern" zboot payload.
 *
 * Since Linux 6.12, scripts/xz_wrap.sh puts the ARM64 BCJ filter in front of
 * LZMA2 for arm64 whenever XZ Utils is 5.4 or newer, and the only decoder we
 * have, xz-embedded inside xz-decompress 0.2.3 (WebAssembly), knows LZMA2 but
 * not that filter. The design that stays correct for every check type:
 *
 * - We read the container ourselves, from the end as `xz --list` does (stream
 *   footer, index, stream header; §2.1, §4), so every block's position and
 *   sizes are known before anything is decoded, the output cap is enforced up
 *   front, and a truncated file is named with its offset.
 * - For each block we check its header (§3.1) and filter chain, then hand
 *   xz-embedded a minimal stream of its own: the block's compressed bytes
 *   under a header naming LZMA2 alone, check type None, and a one-record
 *   index. xz-embedded does nothing but LZMA2 and cross-checks the sizes.
 * - We undo the BCJ filters on its output, and only then verify the block's
 *   check (§3.4), because the check covers the data after all filters: CRC32
 *   (node:zlib), CRC64 (below, from §6) and SHA-256 (node:crypto).
 *
 * Rewriting the original stream in place (dropping the filter from the block
 * header) would leave xz-embedded verifying the check against the still
 * filtered data, so the check would have to be blanked, which changes the
 * block's size and so the index: every structure would need rewriting anyway.
 */


const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const FOOTER_MAGIC = [0x59, 0x5a];
const STREAM_HEADER_SIZE = 12;
const STREAM_FOOTER_SIZE = 12;

/** Filter IDs (§5.3; RISC-V from XZ Utils 5.6). */
const FILTER_DELTA = 0x03;
const FILTER_ARM64 = 0x0a;
const FILTER_LZMA2 = 0x21;
const FILTER_NAMES: Record<number, string> = {
  0x03: "Delta",
  0x04: "x86 BCJ",
  0x05: "PowerPC BCJ",
  0x06: "IA-64 BCJ",
  0x07: "ARM BCJ",
  0x08: "ARM-Thumb BCJ",
  0x09: "SPARC BCJ",
  0x0a: "ARM64 BCJ",
  0x0b: "RISC-V BCJ",
  0x21: "LZMA2",
};

/** Check IDs (§2.1.1.2): name and size in bytes; the others are reserved. */
const CHECKS: Record<number, { name: string; size: number }> = {
  0x00: { name: "None", size: 0 },
  0x01: { name: "CRC32", size: 4 },
  0x04: { name: "CRC64", size: 8 },
  0x0a: { name: "SHA-256", size: 32 },
};
/** Size of a reserved check ID's field: 0, 4, 4, 4, 8, 8, 8, 16, ... by groups of three (§2.1.1.2). */
const checkSize = (id: number): number => (id === 0 ? 0 : 4 << Math.floor((id - 1) / 3));

/** xz-embedded's enum xz_ret (lib/xz/xz_dec_stream.c in Linux), as xz-decompress reports it. */
const XZ_RET: Record<number, string> = {
  3: "the decoder ran out of memory",
  4: "the dictionary is larger than the decoder allows",
  7: "the LZMA2 data is corrupt",
  8: "the LZMA2 data ends early",
};

export interface Unxzed {
  readonly data: Uint8Array;
  /** Filter chain of the first block, filter 0 first, e.g. ["ARM64 BCJ", "LZMA2"]. */
  readonly filters: readonly string[];
  /** Check type of the first stream: "None", "CRC32", "CRC64" or "SHA-256". */
  readonly check: string;
  readonly sizeTrailer: boolean;
}

/** True when `bytes` starts with the xz stream header magic. */
export function isXz(bytes: Uint8Array, at = 0): boolean {
  return HEADER_MAGIC.every((b, i) => bytes[at + i] === b);
}

interface Block {
  /** File offset of the block header. */
  readonly start: number;
  readonly unpadded: number;
  readonly uncompressed: number;
}

interface Stream {
  readonly start: number;
  readonly check: number;
  readonly blocks: readonly Block[];
}

interface Filter {
  readonly id: number;
  /** ARM64 BCJ: the start offset; LZMA2: the dictionary-size byte. */
  readonly prop: number;
}

/**
 * Decompresses an xz file: one or more streams with optional stream padding,
 * every block's check verified (None, CRC32, CRC64, SHA-256). Filter chains
 * may hold ARM64 BCJ filters (with or without a start offset) in front of
 * LZMA2; any other filter is refused by name. `limit` caps the output in
 * bytes. Four bytes after the last stream are accepted only when they hold the
 * output size (the kernel's `size_append`, scripts/Makefile.lib).
 * @throws InputError `BAD_XZ` (bad header, index or check, corrupt data, an
 *   unsupported filter or check, wrong appended size), `TRUNCATED` or `TOO_LARGE`.
 */
export async function unxz(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Promise<Unxzed> {
  if (!isXz(bytes)) throw new InputError("BAD_XZ", "Cannot decompress xz data: no xz stream header magic", 0, "The file is not xz data");
  const endsWithFooter = (end: number): boolean => end >= 2 && bytes[end - 2] === FOOTER_MAGIC[0] && bytes[end - 1] === FOOTER_MAGIC[1];
  let end = bytes.length;
  let sizeTrailer = false;
  // Four zero bytes there are stream padding (§2.2), not a size.
  const zeroTail = end >= 4 && bytes[end - 1] === 0 && bytes[end - 2] === 0 && bytes[end - 3] === 0 && bytes[end - 4] === 0;
  if (!endsWithFooter(end) && endsWithFooter(end - 4) && !zeroTail) {
    end -= 4;
    sizeTrailer = true;
  }
  const streams = readStreams(bytes, end);
  const total = streams.reduce((n, s) => n + s.blocks.reduce((m, b) => m + b.uncompressed, 0), 0);
  if (total > limit) throw tooLarge("the xz data expands", limit, 0);

  const out: Uint8Array[] = [];
  let firstFilters: string[] | undefined;
  for (const s of streams) {
    for (const b of s.blocks) {
      const { data, filters } = await decodeBlock(bytes, b, s.check);
      firstFilters ??= filters.map((f) => FILTER_NAMES[f.id] ?? hex(f.id));
      out.push(data);
    }
  }
  const data = concat(out, total);
  if (sizeTrailer) {
    const told = new DataView(bytes.buffer, bytes.byteOffset + end, 4).getUint32(0, true);
    if (told !== data.length % 2 ** 32) {
      throw new InputError(
        "BAD_XZ",
        `Cannot decompress xz data: the 4 bytes after the stream say ${hex(told)} but it decompressed to ${hex(data.length)} bytes`,
        end,
        "The file is corrupt or has data appended; remove it",
      );
    }
  }
  const first = streams[0];
  return { data, filters: firstFilters ?? [], check: CHECKS[first?.check ?? 0]?.name ?? "None", sizeTrailer };
}

/** Walks the streams backwards from `end` (§2.2: stream padding is zero bytes, by fours). Returns them in file order. */
function readStreams(bytes: Uint8Array, end: number): Stream[] {
  const streams: Stream[] = [];
  let pos = end;
  while (pos > 0) {
    while (pos >= 4 && bytes[pos - 1] === 0 && bytes[pos - 2] === 0 && bytes[pos - 3] === 0 && bytes[pos - 4] === 0) pos -= 4;
    if (pos === 0) break;
    const s = readStream(bytes, pos);
    streams.unshift(s);
    pos = s.start;
  }
  if (streams.length === 0 || streams[0]?.start !== 0) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the file does not start with a stream", 0, "The file is corrupt");
  }
  return streams;
}

/** The stream whose footer ends at `end`: footer (§2.1.2), index (§4), then its header (§2.1.1). */
function readStream(bytes: Uint8Array, end: number): Stream {
  const footerAt = end - STREAM_FOOTER_SIZE;
  if (footerAt < STREAM_HEADER_SIZE || bytes[end - 2] !== FOOTER_MAGIC[0] || bytes[end - 1] !== FOOTER_MAGIC[1]) {
    throw new InputError(
      "TRUNCATED",
      `Cannot decompress xz data: it does not end with a stream footer ("YZ" at ${hex(Math.max(0, end - 2))})`,
      Math.max(0, end - 2),
      "The file is truncated or has data appended",
    );
  }
  const f = new ByteReader(bytes, "xz stream footer", footerAt);
  const storedCrc = f.u32LE("crc32");
  const backward = f.u32LE("backward size");
  const flags = f.bytesN(2, "stream flags");
  if (crc32(bytes.subarray(footerAt + 4, footerAt + 10)) !== storedCrc) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the stream footer's CRC32 does not match", footerAt, "The file is corrupt or truncated");
  }
  const check = streamFlags(flags, footerAt + 8);
  const indexSize = (backward + 1) * 4;
  const indexAt = footerAt - indexSize;
  if (indexAt < STREAM_HEADER_SIZE) {
    throw new InputError(
      "BAD_XZ",
      `Cannot decompress xz data: the stream footer says the index is ${hex(indexSize)} bytes, more than the stream holds`,
      footerAt + 4,
      "The file is corrupt or truncated",
    );
  }
  const records = readIndex(bytes, indexAt, indexSize);
  let blocksSize = 0;
  for (const r of records) blocksSize += ceil4(r.unpadded);
  const start = indexAt - blocksSize - STREAM_HEADER_SIZE;
  if (start < 0 || !isXz(bytes, start)) {
    throw new InputError(
      "BAD_XZ",
      `Cannot decompress xz data: the index lists ${hex(blocksSize)} bytes of blocks, so the stream would start at ${hex(start)}, where there is no stream header`,
      indexAt,
      "The file is corrupt, or truncated at its start",
    );
  }
  const h = new ByteReader(bytes, "xz stream header", start + 6);
  const headerFlags = h.bytesN(2, "stream flags");
  if (crc32(headerFlags) !== h.u32LE("crc32")) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the stream header's CRC32 does not match", start + 6, "The file is corrupt");
  }
  if (headerFlags[0] !== flags[0] || headerFlags[1] !== flags[1]) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the stream header's flags differ from the stream footer's", start + 6, "The file is corrupt");
  }
  const blocks: Block[] = [];
  let at = start + STREAM_HEADER_SIZE;
  for (const r of records) {
    blocks.push({ start: at, ...r });
    at += ceil4(r.unpadded);
  }
  return { start, check, blocks };
}

/** Stream Flags (§2.1.1.2): returns the check ID; refuses reserved bits and checks we cannot verify. */
function streamFlags(flags: Uint8Array, at: number): number {
  const f0 = flags[0] ?? 0;
  const f1 = flags[1] ?? 0;
  if (f0 !== 0 || (f1 & 0xf0) !== 0) {
    throw new InputError("BAD_XZ", `Cannot decompress xz data: reserved stream flag bits are set (${hex(f0)} ${hex(f1)})`, at, "The file is corrupt or from a newer xz format");
  }
  const id = f1 & 0x0f;
  if (CHECKS[id] === undefined) {
    throw new InputError(
      "BAD_XZ",
      `Cannot decompress xz data: check type ${hex(id)} is reserved (${checkSize(id)} bytes); only None, CRC32, CRC64 and SHA-256 are defined`,
      at + 1,
      "Recompress with `xz --check=crc32` (what the kernel build uses)",
    );
  }
  return id;
}

/** Index (§4): its records, after checking the indicator, padding and CRC32. */
function readIndex(bytes: Uint8Array, at: number, size: number): { unpadded: number; uncompressed: number }[] {
  const end = at + size;
  const r = new ByteReader(bytes.subarray(0, end - 4), "xz index", at);
  if (r.u8("index indicator") !== 0) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: no index where the stream footer puts it", at, "The file is corrupt");
  }
  const count = readVarint(r, "number of records");
  const records: { unpadded: number; uncompressed: number }[] = [];
  for (let i = 0; i < count; i++) {
    const recordAt = r.pos;
    const unpadded = readVarint(r, "unpadded size");
    const uncompressed = readVarint(r, "uncompressed size");
    if (unpadded < 5) throw new InputError("BAD_XZ", `Cannot decompress xz data: index record ${i} has unpadded size ${unpadded}`, recordAt, "The file is corrupt");
    records.push({ unpadded, uncompressed });
  }
  while (r.pos < end - 4) {
    if (r.u8("index padding") !== 0) throw new InputError("BAD_XZ", "Cannot decompress xz data: the index padding is not zero", r.pos - 1, "The file is corrupt");
  }
  const stored = new DataView(bytes.buffer, bytes.byteOffset + end - 4, 4).getUint32(0, true);
  if (crc32(bytes.subarray(at, end - 4)) !== stored) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the index's CRC32 does not match", end - 4, "The file is corrupt");
  }
  return records;
}

/** Reads one block header (§3.1), decodes the block and verifies its sizes and check. */
async function decodeBlock(bytes: Uint8Array, b: Block, checkId: number): Promise<{ data: Uint8Array; filters: Filter[] }> {
  const sizeByte = bytes[b.start] ?? 0;
  if (sizeByte === 0) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the index lists a block where the stream has its index", b.start, "The file is corrupt");
  }
  const headerSize = (sizeByte + 1) * 4;
  const h = new ByteReader(bytes.subarray(0, b.start + headerSize), "xz block header", b.start + 1);
  const crcAt = b.start + headerSize - 4;
  if (crcAt + 4 > bytes.length || crc32(bytes.subarray(b.start, crcAt)) !== new DataView(bytes.buffer, bytes.byteOffset + crcAt, 4).getUint32(0, true)) {
    throw new InputError("BAD_XZ", "Cannot decompress xz data: the block header's CRC32 does not match", b.start, "The file is corrupt");
  }
  const flags = h.u8("block flags");
  if (flags & 0x3c) throw new InputError("BAD_XZ", `Cannot decompress xz data: reserved block flag bits are set (${hex(flags)})`, b.start + 1, "The file is corrupt");
  const compressedSize = b.unpadded - headerSize - checkSize(checkId);
  if (compressedSize <= 0) {
    throw new InputError("BAD_XZ", `Cannot decompress xz data: the index gives the block ${b.unpadded} bytes, no room for compressed data`, b.start, "The file is corrupt");
  }
  const sizeMismatch = (what: string, told: number, index: number, at: number): InputError =>
    new InputError("BAD_XZ", `Cannot decompress xz data: the block header's ${what} ${hex(told)} differs from the index's ${hex(index)}`, at, "The file is corrupt");
  if (flags & 0x40) {
    const at = h.pos;
    const told = readVarint(h, "compressed size");
    if (told !== compressedSize) throw sizeMismatch("compressed size", told, compressedSize, at);
  }
  if (flags & 0x80) {
    const at = h.pos;
    const told = readVarint(h, "uncompressed size");
    if (told !== b.uncompressed) throw sizeMismatch("uncompressed size", told, b.uncompressed, at);
  }
  const filters = readFilters(h, (flags & 3) + 1);
  while (h.pos < crcAt) {
    if (h.u8("header padding") !== 0) throw new InputError("BAD_XZ", "Cannot decompress xz data: the block header padding is not zero", h.pos - 1, "The file is corrupt");
  }
  const dataAt = b.start + headerSize;
  const checkAt = dataAt + ceil4(compressedSize);
  for (let i = dataAt + compressedSize; i < checkAt; i++) {
    if (bytes[i] !== 0) throw new InputError("BAD_XZ", "Cannot decompress xz data: the block padding is not zero", i, "The file is corrupt");
  }

  const lzma2 = filters[filters.length - 1]?.prop ?? 0;
  const data = await decodeLzma2(bytes.subarray(dataAt, dataAt + compressedSize), lzma2, b.uncompressed, dataAt);
  if (data.length !== b.uncompressed) {
    throw new InputError("BAD_XZ", `Cannot decompress xz data: the block decompressed to ${hex(data.length)} bytes but the index says ${hex(b.uncompressed)}`, dataAt, "The file is corrupt");
  }
  // The decoder applies the chain from the last filter back to filter 0 (§5).
  for (let i = filters.length - 2; i >= 0; i--) arm64Decode(data, filters[i]?.prop ?? 0);
  verifyCheck(data, checkId, bytes.subarray(checkAt, checkAt + checkSize(checkId)), checkAt);
  return { data, filters };
}

/** List of Filter Flags (§3.1.5, §5.3): ARM64 BCJ filters, then LZMA2 last; anything else is refused by name. */
function readFilters(h: ByteReader, count: number): Filter[] {
  const filters: Filter[] = [];
  for (let i = 0; i < count; i++) {
    const at = h.pos;
    const id = readVarint(h, "filter id");
    const props = h.bytesN(readVarint(h, "filter properties size"), "filter properties");
    const last = i === count - 1;
    const name = FILTER_NAMES[id] ?? `filter ${hex(id)}`;
    if (id === FILTER_LZMA2 && last) {
      const p = props[0] ?? 0;
      if (props.length !== 1 || p & 0xc0 || p > 40) {
        throw new InputError("BAD_XZ", `Cannot decompress xz data: LZMA2 properties ${Buffer.from(props).toString("hex") || "(none)"} are invalid`, at, "The file is corrupt");
      }
      filters.push({ id, prop: p });
    } else if (id === FILTER_ARM64 && !last) {
      if (props.length !== 0 && props.length !== 4) {
        throw new InputError("BAD_XZ", `Cannot decompress xz data: the ARM64 BCJ filter has ${props.length} bytes of properties, not 0 or 4`, at, "The file is corrupt");
      }
      const start = props.length === 4 ? new DataView(props.buffer, props.byteOffset, 4).getUint32(0, true) : 0;
      // §5.3.2: the start offset must be a multiple of the filter's alignment, 4 for ARM64.
      if (start % 4 !== 0) {
        throw new InputError("BAD_XZ", `Cannot decompress xz data: the ARM64 BCJ start offset ${hex(start)} is not a multiple of 4`, at, "The file is corrupt");
      }
      filters.push({ id, prop: start });
    } else if (id === FILTER_LZMA2 || id === FILTER_ARM64) {
      throw new InputError(
        "BAD_XZ",
        `Cannot decompress xz data: the ${name} filter is ${last ? "last" : "not last"} in the block's chain, which the format forbids`,
        at,
        "The file is corrupt",
      );
    } else {
      throw new InputError(
        "UNSUPPORTED_FORMAT",
        `Cannot decompress xz data: the block uses the ${name} filter (id ${hex(id)}), which is not supported (ARM64 BCJ and LZMA2 are)` +
          (id === FILTER_DELTA ? "" : FILTER_NAMES[id] !== undefined ? "; it is for another architecture" : ""),
        at,
        "Recompress the arm64 Image with `xz --check=crc32 --arm64 --lzma2=dict=32MiB` (scripts/xz_wrap.sh), or decompress it with `xz -d` and pass the raw Image",
      );
    }
  }
  return filters;
}

/**
 * Undoes the ARM64 BCJ filter in place (XZ Utils src/liblzma/simple/arm64.c,
 * the filter's definition): every 4-byte-aligned word that is a BL has its
 * 26-bit immediate made relative again, and every ADRP whose immediate lies
 * within +/-512 MiB likewise, with pc = start offset + position. A tail of
 * fewer than 4 bytes is left as it is.
 */
export function arm64Decode(buf: Uint8Array, start: number): void {
  const end = buf.length & ~3;
  for (let i = 0; i < end; i += 4) {
    const instr = ((buf[i] ?? 0) | ((buf[i + 1] ?? 0) << 8) | ((buf[i + 2] ?? 0) << 16) | ((buf[i + 3] ?? 0) << 24)) >>> 0;
    const pc = (start + i) >>> 0;
    let out: number;
    if (instr >>> 26 === 0x25) {
      out = 0x94000000 | ((instr - (pc >>> 2)) & 0x03ffffff);
    } else if ((instr & 0x9f000000) >>> 0 === 0x90000000) {
      const src = ((instr >>> 29) & 3) | ((instr >>> 3) & 0x001ffffc);
      if ((src + 0x00020000) & 0x001c0000) continue;
      const dest = (src - (pc >>> 12)) >>> 0;
      out = (instr & 0x9000001f) | ((dest & 3) << 29) | ((dest & 0x0003fffc) << 3) | (-(dest & 0x00020000) & 0x00e00000);
    } else {
      continue;
    }
    buf[i] = out & 0xff;
    buf[i + 1] = (out >>> 8) & 0xff;
    buf[i + 2] = (out >>> 16) & 0xff;
    buf[i + 3] = out >>> 24;
  }
}

/** CRC64 (ECMA-182 polynomial, reflected, as §6 defines it): the table as low and high 32-bit halves. */
const CRC64_LO = new Uint32Array(256);
const CRC64_HI = new Uint32Array(256);
for (let i = 0; i < 256; i++) {
  let lo = i;
  let hi = 0;
  for (let j = 0; j < 8; j++) {
    const odd = lo & 1;
    lo = ((lo >>> 1) | ((hi & 1) << 31)) >>> 0;
    hi >>>= 1;
    if (odd) {
      lo = (lo ^ 0xd7870f42) >>> 0;
      hi = (hi ^ 0xc96c5795) >>> 0;
    }
  }
  CRC64_LO[i] = lo;
  CRC64_HI[i] = hi;
}

/** CRC64 of `data` as the .xz format stores it (§6). */
export function crc64(data: Uint8Array): bigint {
  let lo = 0xffffffff;
  let hi = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    const t = (lo ^ (data[i] ?? 0)) & 0xff;
    lo = (((lo >>> 8) | (hi << 24)) ^ (CRC64_LO[t] ?? 0)) >>> 0;
    hi = ((hi >>> 8) ^ (CRC64_HI[t] ?? 0)) >>> 0;
  }
  return (BigInt(~hi >>> 0) << 32n) | BigInt(~lo >>> 0);
}

function verifyCheck(data: Uint8Array, id: number, stored: Uint8Array, at: number): void {
  let computed: Uint8Array;
  if (id === 0) return;
  if (id === 0x01) {
    computed = new Uint8Array(4);
    new DataView(computed.buffer).setUint32(0, crc32(data), true);
  } else if (id === 0x04) {
    computed = new Uint8Array(8);
    new DataView(computed.buffer).setBigUint64(0, crc64(data), true);
  } else {
    computed = new Uint8Array(createHash("sha256").update(data).digest());
  }
  if (computed.length !== stored.length || computed.some((v, i) => v !== stored[i])) {
    const name = CHECKS[id]?.name ?? hex(id);
    throw new InputError(
      "BAD_XZ",
      `Cannot decompress xz data: the block's ${name} is ${Buffer.from(stored).toString("hex")} but the output's is ${Buffer.from(computed).toString("hex")}`,
      at,
      "The file is corrupt",
    );
  }
}

/** A multibyte integer (§1.2): 7 bits a byte, at most 9 bytes, no trailing zero byte; kept to a safe integer. */
function readVarint(r: ByteReader, what: string): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const at = r.pos;
    const byte = r.u8(what);
    if (i > 0 && byte === 0) throw new InputError("BAD_XZ", `Cannot read xz ${what}: the integer has a redundant zero byte`, at, "The file is corrupt");
    v += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) return v;
    if (i === 7) throw new InputError("BAD_XZ", `Cannot read xz ${what}: the integer is too large`, at, "The file is corrupt");
  }
  return v;
}

const ceil4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Encodes a multibyte integer (§1.2). */
function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n % 0x80) | 0x80);
    n = Math.floor(n / 0x80);
  }
  out.push(n);
  return out;
}

function withCrc32(body: number[]): Uint8Array {
  const out = new Uint8Array(body.length + 4);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(out.subarray(0, body.length)), true);
  return out;
}

/**
 * Raw LZMA2 through xz-embedded: the compressed bytes wrapped in a one-block
 * stream with check None, so that the decoder checks the LZMA2 data's end and
 * the sizes against the index, and nothing else. `at` is the data's file
 * offset, for errors. The output is exactly `size` bytes or an error.
 */
async function decodeLzma2(compressed: Uint8Array, dictByte: number, size: number, at: number): Promise<Uint8Array> {
  const flags = [0x00, 0x00]; // check None
  const streamHeader = new Uint8Array([...HEADER_MAGIC, ...flags, ...u32le(crc32(new Uint8Array(flags)))]);
  // Block header (12 bytes, size byte 2): flags (one filter, no sizes), LZMA2 and its dictionary byte, padding, CRC32.
  const blockHeader = withCrc32([0x02, 0x00, FILTER_LZMA2, 0x01, dictByte, 0x00, 0x00, 0x00]);
  const padding = new Uint8Array(ceil4(compressed.length) - compressed.length);
  const index = [0x00, 0x01, ...varint(blockHeader.length + compressed.length), ...varint(size)];
  while ((index.length + 4) % 4 !== 0) index.push(0);
  const indexBytes = withCrc32(index);
  // Stream footer: its CRC32 comes first, over backward size and flags (§2.1.2).
  const backward = [...u32le(indexBytes.length / 4 - 1), ...flags];
  const footer = new Uint8Array([...u32le(crc32(new Uint8Array(backward))), ...backward, ...FOOTER_MAGIC]);
  const stream = new Blob([streamHeader, blockHeader, compressed, padding, indexBytes, footer]).stream();

  // Loaded on the first xz input only: a CommonJS package with WebAssembly that every command would pay for.
  const { XzReadableStream } = (await import("xz-decompress")).default;
  const reader = new XzReadableStream(stream).getReader();
  const out: Uint8Array[] = [];
  let produced = 0;
  let done = false;
  const mismatch = (): InputError =>
    new InputError("BAD_XZ", `Cannot decompress xz data: the block decompresses past the ${hex(size)} bytes the index gives it`, at, "The file is corrupt");
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      produced += next.value.length;
      if (produced > size) throw mismatch();
      out.push(next.value);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    done = true; // an errored stream has already released its decoder
    const why = e instanceof Error ? e.message : String(e);
    const code = /error code (\d+)/.exec(why)?.[1];
    const text = (code !== undefined ? XZ_RET[Number(code)] : undefined) ?? "the LZMA2 data does not match the block's sizes";
    throw new InputError("BAD_XZ", `Cannot decompress xz data: ${text}`, at, "The file is corrupt");
  } finally {
    // xz-decompress serialises decoders behind a mutex that only a finished or
    // cancelled stream releases; stopping early without cancel would block
    // every later call.
    if (!done) await reader.cancel().catch(() => undefined);
  }
  return concat(out, produced);
}

function u32le(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
}

/**
 * The LZMA2 dictionary size in bytes of the first block: what a decoder that
 * allocates as it goes (the kernel's xz_dec in XZ_DYNALLOC mode) holds at
 * most. Null when the input is not xz or its first block cannot be read.
 */
export function xzDictionarySize(bytes: Uint8Array): number | null {
  if (!isXz(bytes) || bytes.length < 13) return null;
  const sizeByte = bytes[12] ?? 0;
  if (sizeByte === 0) return null;
  try {
    const h = new ByteReader(bytes.subarray(0, 12 + (sizeByte + 1) * 4), "xz block header", 13);
    const flags = h.u8("block flags");
    if (flags & 0x40) readVarint(h, "compressed size");
    if (flags & 0x80) readVarint(h, "uncompressed size");
    const lzma2 = readFilters(h, (flags & 3) + 1).at(-1);
    if (lzma2 === undefined) return null;
    // LZMA2 dictionary byte (§5.3.1): 40 means 4 GiB - 1, else (2 | b & 1) << (b / 2 + 11).
    return lzma2.prop === 40 ? 2 ** 32 - 1 : (2 | (lzma2.prop & 1)) * 2 ** (Math.floor(lzma2.prop / 2) + 11);
  } catch (e) {
    if (e instanceof InputError) return null;
    throw e;
  }
}

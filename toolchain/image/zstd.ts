import type { XXHashAPI } from "xxhash-wasm";
import { ByteReader, InputError, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED, concat, isSizeTrailer, tooLarge } from "./_common.js";

/**
 * Zstandard (RFC 8878), as in `Image.zst`, a zstd zboot payload and a zstd
 * uImage. We walk the frame and block headers ourselves (cheap: block sizes
 * are in the headers) to find where the data ends, to refuse a window or
 * content size past the limit before anything is allocated, and to recognise
 * the kernel's appended size.
 *
 * fzstd 0.1.1 decodes. Its streaming decoder counts the output as it grows,
 * but moves its whole window once a block: time grows with window x output.
 * We shrink the declared window to what the frame can produce (the kernel's
 * `zstd -22 --ultra` from a pipe declares 128 MiB); when it stays over
 * ONE_SHOT_WINDOW and the output size is known (frame content size, the kernel's
 * appended size, or the zboot header) and the frame carries its content
 * checksum, decode in one shot into a buffer of that size, which is linear
 * (bench/image-decompress.ts has the figures), and let the checksum prove the
 * output exact. fzstd does not check the content checksum (XXH64, low 32
 * bits); we do, with xxhash-wasm 1.1.0.
 */

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames: magic 0x184D2A50..0x184D2A5F, then a u32 length. */
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** RFC 8878 §3.1.1.2: Block_Maximum_Size is at most 128 KiB. */
const BLOCK_MAX = 128 << 10;
/** With a window up to this size, streaming beats fzstd's one-shot decoder (bench/image-decompress.ts). */
const ONE_SHOT_WINDOW = 16 << 20;

export interface Unzstded {
  readonly data: Uint8Array;
  readonly frames: number;
  /** True when the kernel's 4-byte size (`size_append`) followed the frames and matched. */
  readonly sizeTrailer: boolean;
}

/** True when `bytes` starts with a zstd frame or a skippable frame. */
export function isZstd(bytes: Uint8Array, at = 0): boolean {
  if (bytes.length < at + 4) return false;
  const m = readU32LE(bytes, at);
  return m === ZSTD_MAGIC || (m & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC;
}

interface Frame {
  readonly start: number;
  readonly end: number;
  readonly skippable: boolean;
  /** Frame_Content_Size, when the header has it. */
  readonly contentSize?: number;
  /** The stored Content_Checksum, when present. */
  readonly checksum?: number;
  /** Offset of the Window_Descriptor byte, when the frame has one. */
  readonly windowAt?: number;
  readonly window: number;
  /** Most bytes the frame can produce: raw and RLE block sizes plus Block_Maximum_Size per compressed block. */
  readonly maxOutput: number;
}

let xxh: Promise<XXHashAPI> | undefined;
/** The decoders, loaded on the first zstd input only: most kernels are not zstd, and every command pays for what it imports. */
const codecs = () => Promise.all([import("fzstd"), (xxh ??= import("xxhash-wasm").then((m) => m.default()))]);

/**
 * Decompresses every zstd frame in `bytes`. `limit` caps the output in bytes;
 * `size` is the output size an outer container states (zboot), if any. Four
 * bytes after the last frame are accepted only when they hold the output
 * size (the kernel's `size_append`).
 * @throws InputError `BAD_ZSTD` (bad header, corrupt data, checksum mismatch,
 *   trailing bytes, wrong appended size), `TRUNCATED` or `TOO_LARGE`.
 */
export async function unzstd(bytes: Uint8Array, limit = MAX_DECOMPRESSED, size?: number): Promise<Unzstded> {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos < bytes.length && isZstd(bytes, pos)) {
    const f = walkFrame(bytes, pos, limit);
    frames.push(f);
    pos = f.end;
  }
  const data = frames.filter((f) => !f.skippable);
  if (data.length === 0) {
    throw new InputError("BAD_ZSTD", "Cannot decompress zstd data: it holds no zstd frame", pos, "The file holds only skippable frames");
  }
  const tail = bytes.subarray(pos);
  const trailerSize = tail.length === 4 ? new DataView(tail.buffer, tail.byteOffset, 4).getUint32(0, true) : undefined;
  const [{ Decompress, decompress }, { create64 }] = await codecs();
  const out: Uint8Array[] = [];
  let produced = 0;
  for (const f of data) {
    const frame = bytes.subarray(f.start, f.end);
    const known = f.contentSize ?? (data.length === 1 ? (size ?? trailerSize) : undefined);
    const stream = shrinkWindow(frame, f);
    let chunk: Uint8Array;
    if (known !== undefined && f.checksum !== undefined && known <= limit - produced && stream.window > ONE_SHOT_WINDOW) {
      chunk = new Uint8Array(known);
      try {
        decompress(frame, chunk);
      } catch (e) {
        throw corrupt(e, f.start);
      }
      checkDigest(create64().update(chunk).digest(), f, known);
    } else {
      const hash = create64();
      const parts: Uint8Array[] = [];
      let n = 0;
      const d = new Decompress((c) => {
        n += c.length;
        if (produced + n > limit) throw tooLarge("the zstd data expands", limit, f.start);
        hash.update(c);
        parts.push(c);
      });
      try {
        d.push(stream.frame, true);
      } catch (e) {
        throw e instanceof InputError ? e : corrupt(e, f.start);
      }
      chunk = concat(parts, n);
      if (f.checksum !== undefined) checkDigest(hash.digest(), f, undefined);
      if (f.contentSize !== undefined && n !== f.contentSize) {
        throw new InputError(
          "BAD_ZSTD",
          `Cannot decompress zstd frame: it produced ${hex(n)} bytes but its header says ${hex(f.contentSize)}`,
          f.start,
          "The compressed data is corrupt",
        );
      }
    }
    out.push(chunk);
    produced += chunk.length;
  }
  let sizeTrailer = false;
  if (tail.length > 0) {
    if (!isSizeTrailer(tail, produced)) {
      throw new InputError(
        "BAD_ZSTD",
        `Cannot decompress zstd data: ${hex(tail.length)} bytes follow the last frame and are not the kernel's 4-byte size of the output (${hex(produced)})`,
        pos,
        "The file is corrupt or has data appended; remove it",
      );
    }
    sizeTrailer = true;
  }
  return { data: concat(out, produced), frames: data.length, sizeTrailer };
}

/**
 * The largest window any zstd frame in `bytes` declares, in bytes (0 for
 * none): what a streaming decoder such as the kernel's lib/decompress_unzstd.c
 * sizes its workspace by (`zstd_dstream_workspace_bound(windowSize)`).
 * @throws InputError `ZSTD`, `TRUNCATED` or `TOO_LARGE` as `unzstd` does for the headers.
 */
export function zstdWindow(bytes: Uint8Array, limit = MAX_DECOMPRESSED): number {
  let pos = 0;
  let window = 0;
  while (pos < bytes.length && isZstd(bytes, pos)) {
    const f = walkFrame(bytes, pos, limit);
    if (!f.skippable && f.window > window) window = f.window;
    pos = f.end;
  }
  return window;
}

/**
 * fzstd's streaming decoder allocates the declared window and moves all of it
 * once per block. No match reaches further back than the frame's output, so a
 * copy of the frame declaring the smallest window that covers `maxOutput`
 * decodes to the same bytes, faster. Returns the frame to stream and its window.
 */
function shrinkWindow(frame: Uint8Array, f: Frame): { frame: Uint8Array; window: number } {
  if (f.windowAt === undefined) return { frame, window: f.window };
  const need = Math.max(f.maxOutput, 1024);
  for (let e = 0; e < 32; e++) {
    const base = 2 ** (10 + e);
    for (let m = 0; m < 8; m++) {
      const w = base + (base / 8) * m;
      if (w < need) continue;
      if (w >= f.window) return { frame, window: f.window };
      const copy = frame.slice();
      copy[f.windowAt - f.start] = (e << 3) | m;
      return { frame: copy, window: w };
    }
  }
  return { frame, window: f.window };
}

function corrupt(e: unknown, at: number): InputError {
  const why = e instanceof Error ? e.message : String(e);
  return new InputError("BAD_ZSTD", `Cannot decompress zstd frame: ${why}`, at, "The compressed data is corrupt");
}

/** RFC 8878 §3.1.1: Content_Checksum is the low 32 bits of XXH64 (seed 0) of the frame's output. */
function checkDigest(digest: bigint, f: Frame, assumed: number | undefined): void {
  const got = Number(digest & 0xffffffffn);
  if (got !== f.checksum) {
    throw new InputError(
      "BAD_ZSTD",
      `Cannot decompress zstd frame: content checksum ${hex(got)} does not match the stored ${hex(f.checksum ?? 0)}` +
        (assumed !== undefined ? ` (output taken as ${hex(assumed)} bytes, the size the file states)` : ""),
      f.end - 4,
      assumed !== undefined ? "The compressed data or the stated size is corrupt" : "The compressed data is corrupt",
    );
  }
}

/** Finds the end of the frame at `start` from its headers (RFC 8878 §3.1). */
function walkFrame(bytes: Uint8Array, start: number, limit: number): Frame {
  const r = new ByteReader(bytes, "zstd frame", start);
  const magic = r.u32LE("magic");
  if (magic !== ZSTD_MAGIC) {
    const len = r.u32LE("skippable frame size");
    r.bytesN(len, "skippable frame");
    return { start, end: r.pos, skippable: true, window: 0, maxOutput: 0 };
  }
  const fhd = r.u8("frame header descriptor");
  const fcsFlag = fhd >> 6;
  const single = (fhd & 0x20) !== 0;
  if (fhd & 0x08) {
    throw new InputError("BAD_ZSTD", `Cannot decompress zstd frame: reserved bit set in frame header descriptor ${hex(fhd)}`, start + 4, "The file is corrupt");
  }
  const checksum = (fhd & 0x04) !== 0;
  let window = 0;
  const windowAt = single ? undefined : r.pos;
  if (!single) {
    const wd = r.u8("window descriptor");
    const base = 2 ** (10 + (wd >> 3));
    window = base + (base / 8) * (wd & 7);
  }
  const didBytes = [0, 1, 2, 4][fhd & 3] ?? 0;
  let dictId = 0;
  for (let i = 0; i < didBytes; i++) dictId += r.u8("dictionary id") * 2 ** (8 * i);
  if (dictId !== 0) {
    throw new InputError(
      "BAD_ZSTD",
      `Cannot decompress zstd frame: it needs dictionary ${dictId}`,
      start + 5,
      "Kernel images are never compressed with a dictionary; recompress without one",
    );
  }
  const fcsBytes = fcsFlag === 0 ? (single ? 1 : 0) : 2 ** fcsFlag;
  let contentSize: bigint | undefined;
  if (fcsBytes > 0) {
    const raw = r.bytesN(fcsBytes, "frame content size");
    contentSize = 0n;
    for (let i = fcsBytes - 1; i >= 0; i--) contentSize = (contentSize << 8n) | BigInt(raw[i] ?? 0);
    if (fcsBytes === 2) contentSize += 256n;
  }
  if (single) window = Number(contentSize ?? 0n);
  if ((contentSize !== undefined && contentSize > BigInt(limit)) || window > limit) {
    throw tooLarge("the zstd data expands", limit, start);
  }
  const blockMax = Math.min(BLOCK_MAX, Math.max(window, 1));
  let maxOutput = 0;
  for (;;) {
    const at = r.pos;
    const b = r.bytesN(3, "block header");
    const h = (b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16);
    const last = (h & 1) === 1;
    const type = (h >> 1) & 3;
    const size = h >>> 3;
    if (type === 3) {
      throw new InputError("BAD_ZSTD", "Cannot decompress zstd frame: block type 3 is reserved", at, "The compressed data is corrupt");
    }
    if (size > blockMax) {
      throw new InputError(
        "BAD_ZSTD",
        `Cannot decompress zstd frame: block size ${hex(size)} exceeds the maximum ${hex(blockMax)}`,
        at,
        "The compressed data is corrupt",
      );
    }
    r.bytesN(type === 1 ? 1 : size, "block");
    maxOutput += type === 2 ? blockMax : size;
    if (last) break;
  }
  const stored = checksum ? r.u32LE("content checksum") : undefined;
  return {
    start,
    end: r.pos,
    skippable: false,
    window,
    maxOutput,
    ...(windowAt !== undefined ? { windowAt } : {}),
    ...(contentSize !== undefined ? { contentSize: Number(contentSize) } : {}),
    ...(stored !== undefined ? { checksum: stored } : {}),
  };
}

function readU32LE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] ?? 0) | ((bytes[at + 1] ?? 0) << 8) | ((bytes[at + 2] ?? 0) << 16) | ((bytes[at + 3] ?? 0) << 24)) >>> 0;
}

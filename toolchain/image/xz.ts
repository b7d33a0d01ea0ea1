import { ByteReader, InputError, hex } from "../bytes/index.js";
import { MAX_DECOMPRESSED, concat, tooLarge } from "./_common.js";

/**
 * xz (the .xz file format, tukaani.org xz-file-format-1.2.0), as in
 * `Image.xz` and an "xzkern" zboot payload. xz-decompress 0.2.3 (xz-embedded
 * in WebAssembly) decodes it as a stream, so the output is counted as it
 * grows. We read the stream and first block headers ourselves to name what
 * that decoder cannot do: the ARM64 BCJ filter, which the rewritten
 * scripts/xz_wrap.sh (2024) applies to arm64 kernels (it needs XZ Utils 5.4),
 * and the SHA-256 check.
 */


const HEADER_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00];
const STREAM_HEADER_SIZE = 12;

/** Filter IDs from the .xz specification §5.3 and XZ Utils 5.4. */
const FILTERS: Record<number, string> = {
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
/** Filters the xz-embedded build inside xz-decompress 0.2.3 is known to lack. */
const UNSUPPORTED_FILTERS = new Set([0x03, 0x0a, 0x0b]);
const CHECK_SHA256 = 0x0a;
const LZMA2 = 0x21;

/** xz-embedded's enum xz_ret (linux/xz.h), as reported by xz-decompress. */
const XZ_RET: Record<number, string> = {
  2: "the integrity check type is not supported",
  3: "the decoder ran out of memory",
  4: "the dictionary is larger than the decoder allows",
  5: "the data is not in the .xz format",
  6: "the stream uses options or filters the decoder does not support",
  7: "the compressed data is corrupt",
  8: "the data ends before the stream does",
};

export interface Unxzed {
  readonly data: Uint8Array;
  /** Filter chain of the first block, e.g. ["LZMA2"]. */
  readonly filters: readonly string[];
  readonly sizeTrailer: boolean;
}

/** True when `bytes` starts with the xz stream header magic. */
export function isXz(bytes: Uint8Array, at = 0): boolean {
  return HEADER_MAGIC.every((b, i) => bytes[at + i] === b);
}

/**
 * Decompresses an xz file (one or more streams). `limit` caps the output in
 * bytes. Four bytes after the stream footer are accepted only when they hold
 * the output size (the kernel's `size_append`).
 * @throws InputError `BAD_XZ` (unsupported filter or check, corrupt data, wrong
 *   appended size), `TRUNCATED` or `TOO_LARGE`.
 */
export async function unxz(bytes: Uint8Array, limit = MAX_DECOMPRESSED): Promise<Unxzed> {
  const filters = readFirstBlock(bytes).filters;
  // Every stream ends with the footer magic "YZ"; the kernel may add 4 bytes.
  const endsWithFooter = (end: number): boolean => end >= 2 && bytes[end - 2] === 0x59 && bytes[end - 1] === 0x5a;
  let end = bytes.length;
  let sizeTrailer = false;
  if (!endsWithFooter(end)) {
    if (!endsWithFooter(end - 4)) {
      throw new InputError(
        "BAD_XZ",
        'Cannot decompress xz data: it does not end with a stream footer ("YZ")',
        Math.max(0, bytes.length - 2),
        "The file is truncated or has data appended",
      );
    }
    end -= 4;
    sizeTrailer = true;
  }
  const { data, failure } = await decode(bytes.subarray(0, end), limit);
  if (failure !== undefined) {
    const code = /error code (\d+)/.exec(failure)?.[1];
    const why = (code !== undefined ? XZ_RET[Number(code)] : undefined) ?? failure;
    throw new InputError("BAD_XZ", `Cannot decompress xz data: ${why}`, 0, code === "8" ? "The file is truncated" : "The file is corrupt");
  }
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
  return { data, filters, sizeTrailer };
}

/**
 * The LZMA2 dictionary size of the first block, in bytes: what a decoder that
 * allocates as it goes (the kernel's lib/decompress_unxz.c, XZ_DYNALLOC)
 * holds while decoding. Null for an empty stream.
 * @throws InputError `XZ` or `TRUNCATED` as `unxz` does for the headers.
 */
export function xzDictionarySize(bytes: Uint8Array): number | null {
  return readFirstBlock(bytes).dictionarySize;
}

/**
 * Stream header (§2.1.1) and first block header (§3.1): names the filter
 * chain, refuses what cannot be decoded, and reads the LZMA2 dictionary size
 * (§5.3.1: one property byte, `(2 | (b & 1)) << (b / 2 + 11)`, 40 = 4 GiB - 1).
 */
function readFirstBlock(bytes: Uint8Array): { filters: string[]; dictionarySize: number | null } {
  const r = new ByteReader(bytes, "xz stream header");
  if (!isXz(bytes)) throw new InputError("BAD_XZ", "Cannot decompress xz data: no xz stream header magic", 0, "The file is not xz data");
  r.bytesN(6, "magic");
  const flags = r.bytesN(2, "stream flags");
  r.u32LE("crc32");
  if (flags[1] === CHECK_SHA256) {
    throw new InputError(
      "BAD_XZ",
      "Cannot decompress xz data: the stream uses the SHA-256 check, which the xz decoder (xz-decompress, xz-embedded) does not support",
      6,
      "Recompress with `xz --check=crc32` (what the kernel build uses)",
    );
  }
  const b = new ByteReader(bytes, "xz block header", STREAM_HEADER_SIZE);
  const sizeByte = b.u8("header size");
  if (sizeByte === 0) return { filters: [], dictionarySize: null }; // index follows at once: an empty stream
  const blockFlags = b.u8("block flags");
  const count = (blockFlags & 3) + 1;
  if (blockFlags & 0x40) readVarint(b, "compressed size");
  if (blockFlags & 0x80) readVarint(b, "uncompressed size");
  const names: string[] = [];
  let dictionarySize: number | null = null;
  for (let i = 0; i < count; i++) {
    const at = b.pos;
    const id = readVarint(b, "filter id");
    const props = b.bytesN(readVarint(b, "filter properties size"), "filter properties");
    if (id === LZMA2 && props.length === 1) {
      const p = props[0] ?? 0;
      dictionarySize = p >= 40 ? 2 ** 32 - 1 : (2 | (p & 1)) * 2 ** (Math.floor(p / 2) + 11);
    }
    const name = FILTERS[id] ?? `filter ${hex(id)}`;
    if (UNSUPPORTED_FILTERS.has(id)) {
      throw new InputError(
        "BAD_XZ",
        `Cannot decompress xz data: the first block uses the ${name} filter (id ${hex(id)}), which the xz decoder (xz-decompress 0.2.3, xz-embedded) does not support`,
        at,
        "Decompress it with `xz -d` (XZ Utils >= 5.4) and pass the raw Image",
      );
    }
    names.push(name);
  }
  return { filters: names, dictionarySize };
}

/** A multibyte integer (§1.2): 7 bits a byte, at most 9 bytes; kept to a safe integer. */
function readVarint(r: ByteReader, what: string): number {
  let v = 0;
  for (let i = 0; i < 9; i++) {
    const at = r.pos;
    const byte = r.u8(what);
    v += (byte & 0x7f) * 2 ** (7 * i);
    if (!(byte & 0x80)) return v;
    if (i === 7) throw new InputError("BAD_XZ", `Cannot read xz ${what}: the integer is too large`, at, "The file is corrupt");
  }
  return v;
}

/** Runs the stream decoder; stops (and releases the decoder) as soon as the output passes `limit`. */
async function decode(input: Uint8Array, limit: number): Promise<{ data: Uint8Array; failure?: string }> {
  // Loaded on the first xz input only: a CommonJS package with WebAssembly that every command would pay for.
  const { XzReadableStream } = (await import("xz-decompress")).default;
  const stream = new XzReadableStream(new Blob([input]).stream());
  const reader = stream.getReader();
  const out: Uint8Array[] = [];
  let produced = 0;
  let done = false;
  try {
    for (;;) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      produced += next.value.length;
      if (produced > limit) throw tooLarge("the xz data expands", limit, 0);
      out.push(next.value);
    }
  } catch (e) {
    if (e instanceof InputError) throw e;
    done = true; // an errored stream has already released its decoder
    return { data: new Uint8Array(0), failure: e instanceof Error ? e.message : String(e) };
  } finally {
    // The package serialises decoders behind a mutex that only a finished or
    // cancelled stream releases; stopping early without cancel would block
    // every later call.
    if (!done) await reader.cancel().catch(() => undefined);
  }
  return { data: concat(out, produced) };
}

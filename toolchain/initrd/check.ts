import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { createInflateRaw } from "node:zlib";
import { InputError, crc32, hex } from "../bytes/index.js";
import { CpioWalker } from "./cpio.js";

/**
 * Checks that an initrd is whole before it goes into a bundle: a truncated
 * initramfs passes every size check, loads, and then boots into a root file
 * system with files missing or cut, or none.
 *
 * The walk follows the kernel's unpacker, unpack_to_rootfs() in
 * init/initramfs.c: newc cpio entries at 4-byte-aligned offsets, zero bytes
 * skipped wherever they are, and compressed data recognised by the magic
 * numbers of lib/decompress.c, each stream followed by whatever comes next
 * (a microcode cpio, then a compressed one, is the usual concatenation).
 *
 * What is checked, per part:
 * - cpio: every entry's header, name and data lie inside the file, and the
 *   archive ends with its TRAILER!!! entry (every cpio writer adds it, so an
 *   archive without one was cut at an entry boundary).
 * - gzip: inflated to its end (the only way to find where deflate data ends),
 *   its CRC32 and size checked, and the cpio inside walked as above.
 * - zstd: the frame's block headers walked to its end (RFC 8878); xz: the
 *   stream's footer found and tied back by its index to its header (the .xz
 *   format, §2.1 and §4). The data inside is not decompressed: the structure
 *   alone proves the stream was not cut.
 * - bzip2, lzma, lzo and lz4, which the kernel can also unpack, are passed
 *   unchecked from there on, with a note.
 *
 * Data that is no archive at all is legal: the kernel then keeps the initrd
 * as an initrd image (/initrd.image, for a ramdisk). Only data following an
 * archive that the kernel would stop at ("junk in compressed archive") is refused.
 */

/** Random access to the initrd's bytes, so that a file need not be held whole. */
export interface ByteSource {
  /** Length in bytes. */
  readonly size: number;
  /** `length` bytes from `offset`, fewer only at the end. */
  read(offset: number, length: number): Uint8Array;
}

/** A ByteSource over bytes in memory. */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

/**
 * Runs `f` with a ByteSource reading the file at `path`, closing it after.
 * @throws InputError `READ_FAILED` when the file cannot be opened.
 */
export async function withFileSource<T>(path: string, f: (source: ByteSource) => Promise<T>): Promise<T> {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new InputError("READ_FAILED", `Cannot read ${path}: ${(e as Error).message}`, path, "Check the path and its permissions.");
  }
  try {
    const size = fstatSync(fd).size;
    return await f({
      size,
      read: (offset, length) => {
        const buf = Buffer.allocUnsafe(Math.max(0, Math.min(length, size - offset)));
        let got = 0;
        while (got < buf.length) {
          const n = readSync(fd, buf, got, buf.length - got, offset + got);
          if (n === 0) break;
          got += n;
        }
        return new Uint8Array(buf.buffer, buf.byteOffset, got);
      },
    });
  } finally {
    closeSync(fd);
  }
}

export type InitrdPartKind = "cpio" | "padding" | "gzip" | "zstd" | "xz";

/** One stretch of the initrd. Offsets and sizes in bytes from the start of the file. */
export interface InitrdPart {
  readonly kind: InitrdPartKind;
  readonly offset: number;
  readonly size: number;
  /** cpio entries (TRAILER!!! included) in the part, or inside the gzip data. */
  readonly entries?: number;
  /** gzip: bytes inflated. */
  readonly decompressedSize?: number;
}

export interface InitrdCheck {
  /** "initramfs" when the kernel will unpack it, "image" when it will keep it as an initrd image. */
  readonly kind: "initramfs" | "image";
  readonly parts: readonly InitrdPart[];
  /** What was not checked, or how the kernel will take the file. */
  readonly notes: readonly string[];
}

/** Read size for walking and inflating: large enough that call overheads vanish. */
const CHUNK = 1 << 20;

/** Compressors lib/decompress.c knows that we pass unchecked, by their first two bytes. */
const UNCHECKED: readonly [number, number, string][] = [
  [0x1f, 0x9e, "gzip (old magic)"],
  [0x42, 0x5a, "bzip2"],
  [0x5d, 0x00, "lzma"],
  [0x89, 0x4c, "lzo"],
  [0x02, 0x21, "lz4"],
];

/**
 * Walks the initrd as the kernel's unpacker will (see the file comment) and
 * refuses one that was cut short. Error offsets are file offsets, or
 * "gzip@0x…+0x…" for an offset into the data inflated from the gzip member at
 * that file offset.
 * @throws InputError `TRUNCATED` (a cpio entry or compressed stream cut off,
 *   a cpio archive without its trailer), `BAD_CPIO` (an odc archive, a
 *   corrupt header), `BAD_GZIP`/`BAD_ZSTD`/`BAD_XZ` (corrupt compressed data) or
 *   `TRAILING_DATA` (data after an archive that the kernel would stop at).
 */
export async function checkInitrd(input: ByteSource | Uint8Array): Promise<InitrdCheck> {
  const src = input instanceof Uint8Array ? bytesSource(input) : input;
  const { size } = src;
  const parts: InitrdPart[] = [];
  const notes: string[] = [];
  const top = new CpioWalker((o) => o);
  let archive = false;
  let pos = 0;
  const noTrailer = (at: number, followed: boolean): InputError =>
    new InputError(
      "TRUNCATED",
      `Cannot use the initrd: the cpio archive at ${hex(top.archiveStart)} ends after ${top.entries} entries (the last ${JSON.stringify(top.lastName)}) without its TRAILER!!! entry${followed ? `, and other data follows at ${hex(at)}` : ""}`,
      at,
      "The initramfs is truncated; build or copy it again",
    );
  while (pos < size) {
    // cpio entries and zero padding, straight from the file.
    const start = pos;
    const before = top.entries;
    top.resume(pos);
    while (pos < size) {
      const chunk = src.read(pos, Math.min(CHUNK, size - pos));
      const took = top.push(chunk);
      pos += took;
      if (took < chunk.length) break;
    }
    if (top.entries > before) {
      archive = true;
      parts.push({ kind: "cpio", offset: start, size: pos - start, entries: top.entries - before });
    } else if (pos > start) {
      parts.push({ kind: "padding", offset: start, size: pos - start });
    }
    if (pos >= size) break;
    if (top.open) throw noTrailer(pos, true);

    const head = src.read(pos, 6);
    const [b0, b1] = [head[0] ?? 0, head[1] ?? 0];
    if (b0 === 0x1f && b1 === 0x8b) {
      const g = await gzipPart(src, pos);
      parts.push(g.part);
      if (g.image) {
        notes.push(`the gzip data at ${hex(pos)} holds no cpio archive: the kernel will keep the initrd as an initrd image`);
        return { kind: archive ? "initramfs" : "image", parts, notes };
      }
      pos += g.part.size;
    } else if (b0 === 0x28 && b1 === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      const end = zstdFrameEnd(src, pos);
      parts.push({ kind: "zstd", offset: pos, size: end - pos });
      pos = end;
    } else if (b0 === 0xfd && b1 === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) {
      const end = xzStreamEnd(src, pos);
      parts.push({ kind: "xz", offset: pos, size: end - pos });
      pos = end;
    } else {
      const unchecked = UNCHECKED.find(([m0, m1]) => m0 === b0 && m1 === b1);
      if (unchecked !== undefined) {
        notes.push(`the ${unchecked[2]} data at ${hex(pos)} and anything after it were not checked`);
        return { kind: "initramfs", parts, notes };
      }
      if (!archive) {
        notes.push(
          `no initramfs archive${pos > 0 ? ` after ${hex(pos)} zero bytes` : ""} (byte ${hex(b0)} at ${hex(pos)}): the kernel will keep the file as an initrd image`,
        );
        return { kind: "image", parts: [], notes };
      }
      throw new InputError(
        "TRAILING_DATA",
        `Cannot use the initrd: ${hex(size - pos)} bytes at ${hex(pos)} follow the archive and are neither zero padding, a cpio archive nor compressed data the kernel knows (byte ${hex(b0)})`,
        pos,
        'The kernel stops there with "junk in compressed archive" and discards the initramfs; remove them',
      );
    }
    archive = true;
    top.resume(pos);
  }
  top.finish(size);
  if (top.open) throw noTrailer(size, false);
  if (!archive) notes.push("the initrd holds only zero bytes");
  return { kind: archive ? "initramfs" : "image", parts, notes };
}

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;

/**
 * One gzip member (RFC 1952) from `start`: inflates it with node:zlib,
 * streaming, walks the cpio it holds, checks CRC32 and ISIZE. `image` is true
 * when the data inflated is not a cpio archive (a compressed initrd image).
 */
async function gzipPart(src: ByteSource, start: number): Promise<{ part: InitrdPart; image: boolean }> {
  const truncated = (why: string, at: number): InputError =>
    new InputError("TRUNCATED", `Cannot use the initrd: the gzip member at ${hex(start)} ${why}`, at, "The initramfs is truncated; build or copy it again");
  const h = src.read(start, Math.min(1 << 16, src.size - start));
  let p = 10;
  const need = (n: number): void => {
    if (p + n > h.length) throw truncated(`ends inside its header: it needs ${hex(start + p + n)} bytes but the initrd ends at ${hex(src.size)}`, src.size);
  };
  need(0);
  if (h[2] !== 8) throw new InputError("BAD_GZIP", `Cannot use the initrd: the gzip member at ${hex(start)} uses compression method ${h[2] ?? 0}, not deflate (8)`, start + 2, "The initramfs is corrupt");
  const flg = h[3] ?? 0;
  if (flg & FEXTRA) {
    need(2);
    p += 2 + ((h[p] ?? 0) | ((h[p + 1] ?? 0) << 8));
  }
  for (const f of [FNAME, FCOMMENT]) {
    if (!(flg & f)) continue;
    while (h[p] !== 0) {
      need(1);
      p++;
    }
    p++;
  }
  if (flg & FHCRC) p += 2;
  need(0);
  const deflateAt = start + p;

  const walker = new CpioWalker((o) => `gzip@${hex(start)}+${hex(o)}`);
  let image = false;
  let produced = 0;
  let crc = 0;
  let failure: unknown;
  // Output in CHUNK pieces: zlib's default 16 KiB makes per-chunk overhead half the cost.
  const inflate = createInflateRaw({ chunkSize: CHUNK });
  inflate.on("data", (c: Buffer) => {
    produced += c.length;
    crc = crc32(c, crc);
    if (image || failure !== undefined) return;
    try {
      const took = walker.push(c);
      if (took < c.length) {
        if (walker.entries === 0) image = true;
        else {
          const at = walker.pos;
          throw new InputError(
            "TRAILING_DATA",
            `Cannot use the initrd: the data inflated from the gzip member at ${hex(start)} has bytes after its cpio archive that are neither zero padding nor a cpio header (byte ${hex(c[took] ?? 0)} at +${hex(at)})`,
            `gzip@${hex(start)}+${hex(at)}`,
            'The kernel stops there with "junk in compressed archive"; rebuild the initramfs',
          );
        }
      }
    } catch (e) {
      failure = e;
    }
  });
  const done = new Promise<Error | null>((resolve) => {
    inflate.on("end", () => resolve(null));
    inflate.on("error", (e) => resolve(e));
  });
  let fed = deflateAt;
  while (fed < src.size) {
    const chunk = src.read(fed, Math.min(CHUNK, src.size - fed));
    fed += chunk.length;
    // On corrupt data zlib errors and never calls the write's callback: wait for either.
    const wrote = new Promise<boolean>((resolve) => inflate.write(chunk, (e) => resolve(e === null || e === undefined)));
    const ok = await Promise.race([wrote, done.then(() => false)]);
    // Fewer bytes consumed than fed: the deflate stream ended inside this chunk.
    if (!ok || failure !== undefined || inflate.bytesWritten < fed - deflateAt) break;
  }
  if (!inflate.destroyed) inflate.end();
  const err = await done;
  if (failure !== undefined) throw failure;
  if (err !== null) {
    const code = (err as Error & { code?: string }).code;
    if (code === "Z_BUF_ERROR") throw truncated(`ends early: its deflate data runs on to the end of the initrd at ${hex(src.size)}`, src.size);
    throw new InputError("BAD_GZIP", `Cannot use the initrd: the gzip data at ${hex(start)} is corrupt: ${err.message}`, deflateAt, "The initramfs is corrupt; build it again");
  }
  const trailerAt = deflateAt + inflate.bytesWritten;
  const t = src.read(trailerAt, 8);
  if (t.length < 8) throw truncated(`ends without its 8-byte trailer (CRC32, ISIZE) at ${hex(trailerAt)}: the initrd ends at ${hex(src.size)}`, src.size);
  const v = new DataView(t.buffer, t.byteOffset, 8);
  if (v.getUint32(0, true) !== crc >>> 0 || v.getUint32(4, true) !== produced % 2 ** 32) {
    throw new InputError(
      "BAD_GZIP",
      `Cannot use the initrd: the gzip member at ${hex(start)} inflates to ${hex(produced)} bytes with CRC32 ${hex(crc >>> 0)} but its trailer says ${hex(v.getUint32(4, true))} bytes, CRC32 ${hex(v.getUint32(0, true))}`,
      trailerAt,
      "The initramfs is corrupt; build it again",
    );
  }
  if (!image) {
    walker.finish(produced);
    if (walker.open) {
      throw new InputError(
        "TRUNCATED",
        `Cannot use the initrd: the cpio archive at +${hex(walker.archiveStart)} inflated from the gzip member at ${hex(start)} ends after ${walker.entries} entries (the last ${JSON.stringify(walker.lastName)}) without its TRAILER!!! entry`,
        `gzip@${hex(start)}+${hex(produced)}`,
        "The initramfs was cut before it was compressed; build it again",
      );
    }
  }
  return { part: { kind: "gzip", offset: start, size: trailerAt + 8 - start, entries: walker.entries, decompressedSize: produced }, image };
}

/**
 * The end of the zstd frame at `start`, from its headers (RFC 8878 §3.1.1):
 * frame header, then blocks by their 3-byte headers to the last one, then
 * the optional content checksum.
 */
function zstdFrameEnd(src: ByteSource, start: number): number {
  const truncated = (what: string, need: number): InputError =>
    new InputError(
      "TRUNCATED",
      `Cannot use the initrd: the zstd frame at ${hex(start)} ends early: its ${what} needs the data up to ${hex(need)} but the initrd ends at ${hex(src.size)}`,
      src.size,
      "The initramfs is truncated; build or copy it again",
    );
  const h = src.read(start, 18);
  const fhd = h[4] ?? 0;
  const single = (fhd & 0x20) !== 0;
  const fcsFlag = fhd >> 6;
  const headerSize = 5 + (single ? 0 : 1) + ([0, 1, 2, 4][fhd & 3] ?? 0) + (fcsFlag === 0 ? (single ? 1 : 0) : 2 ** fcsFlag);
  if (headerSize > h.length) throw truncated("frame header", start + headerSize);
  let p = start + headerSize;
  for (;;) {
    const b = src.read(p, 3);
    if (b.length < 3) throw truncated(`block header at ${hex(p)}`, p + 3);
    const bh = (b[0] ?? 0) | ((b[1] ?? 0) << 8) | ((b[2] ?? 0) << 16);
    const type = (bh >> 1) & 3;
    if (type === 3) throw new InputError("BAD_ZSTD", `Cannot use the initrd: the zstd block at ${hex(p)} has the reserved type 3`, p, "The initramfs is corrupt");
    const end = p + 3 + (type === 1 ? 1 : bh >>> 3);
    if (end > src.size) throw truncated(`block at ${hex(p)}`, end);
    p = end;
    if (bh & 1) break;
  }
  if (fhd & 0x04) {
    if (p + 4 > src.size) throw truncated("content checksum", p + 4);
    p += 4;
  }
  return p;
}

/**
 * The end of the xz stream at `start`. Block headers need not give sizes, so
 * the stream footer is searched for (4-byte aligned, "YZ" at its end, §2.1.2)
 * and a candidate is taken only when its CRC32 holds and its index (§4) holds,
 * with blocks that add up to exactly the distance back to the stream header.
 */
function xzStreamEnd(src: ByteSource, start: number): number {
  const flags = src.read(start + 6, 2);
  let p = start + 12;
  while (p < src.size) {
    const chunk = src.read(p, Math.min(CHUNK + 12, src.size - p));
    // Footers start at start + 4k; "YZ" is at footer + 10.
    for (let i = (4 - ((p - start - 2) % 4)) % 4; i + 2 <= chunk.length; i += 4) {
      if (chunk[i] !== 0x59 || chunk[i + 1] !== 0x5a) continue;
      const footer = p + i - 10;
      if (footer >= start + 12 && isStreamFooter(src, start, footer, flags)) return footer + 12;
    }
    p += Math.max(chunk.length - 12, 1);
  }
  throw new InputError(
    "TRUNCATED",
    `Cannot use the initrd: the xz stream at ${hex(start)} has no stream footer before the end of the initrd at ${hex(src.size)}`,
    src.size,
    "The initramfs is truncated; build or copy it again",
  );
}

function isStreamFooter(src: ByteSource, start: number, footer: number, flags: Uint8Array): boolean {
  const f = src.read(footer, 12);
  if (f.length < 12) return false;
  const v = new DataView(f.buffer, f.byteOffset, 12);
  if (crc32(f.subarray(4, 10)) !== v.getUint32(0, true) || f[8] !== flags[0] || f[9] !== flags[1]) return false;
  const indexSize = (v.getUint32(4, true) + 1) * 4;
  const indexAt = footer - indexSize;
  if (indexAt < start + 12) return false;
  const index = src.read(indexAt, indexSize);
  if (index[0] !== 0 || crc32(index.subarray(0, indexSize - 4)) !== new DataView(index.buffer, index.byteOffset).getUint32(indexSize - 4, true)) return false;
  let q = 1;
  const varint = (): number => {
    let n = 0;
    for (let k = 0; k < 9 && q < indexSize - 4; k++) {
      const b = index[q++] ?? 0;
      n += (b & 0x7f) * 2 ** (7 * k);
      if (!(b & 0x80)) return n;
    }
    return -1;
  };
  const count = varint();
  let blocks = 0;
  for (let r = 0; r < count && q < indexSize - 4; r++) {
    const unpadded = varint();
    if (unpadded < 0 || varint() < 0) return false;
    blocks += Math.ceil(unpadded / 4) * 4;
  }
  return count >= 0 && indexAt === start + 12 + blocks;
}

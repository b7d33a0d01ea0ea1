import { InputError, hex } from "../bytes/index.js";
import { gunzip, isGzip, isXz, isZstd, unxz, unzstd, xzDictionarySize, zstdWindow } from "../image/index.js";

/**
 * What a capture initramfs costs the capture kernel, measured from the file
 * the way init/initramfs.c `unpack_to_rootfs()` walks it: newc cpio archives
 * ("070701", or "070702" with checksums; Documentation/driver-api/early-userspace/buffer-format.rst),
 * NUL padding between them, and compressed parts, each holding more of the
 * same. Every regular file becomes a tmpfs (or ramfs) file whose data takes
 * whole pages; the compressed file itself stays in memory, with the
 * decompressor's buffers, until unpacking ends (`free_initrd_mem()`).
 *
 * A compressed part must run to the end of the file (the decoders here find
 * its end only that way); a cpio part may come before it, as with an early
 * microcode archive.
 */

/** The page sizes arm64 kernels use; tmpfs data is counted for each. */
export const TMPFS_PAGE_SIZES = [4096, 16384, 65536] as const;
export type TmpfsPageSize = (typeof TMPFS_PAGE_SIZES)[number];

/** mm/shmem.c `SHORT_SYMLINK_LEN`: a symlink target this long (with its NUL) or shorter lives in the inode, a longer one takes a page. */
const SHORT_SYMLINK_LEN = 128;
/** lib/decompress_inflate.c: a 32 KiB output buffer and `zlib_inflate_workspacesize()` (the 32 KiB window plus the inflate state); bounded here at 128 KiB. */
const GZIP_BUFFERS = 128 << 10;
/** lib/decompress_unzstd.c: input and output buffers of `ZSTD_BLOCKSIZE_MAX` (128 KiB) and the decoder state beside the window; bounded at 384 KiB. */
const ZSTD_BUFFERS = 384 << 10;
/** lib/decompress_unxz.c: `XZ_IOBUF_SIZE` buffers and the LZMA2 decoder's probability tables beside the dictionary; bounded at 64 KiB. */
const XZ_BUFFERS = 64 << 10;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const NEWC_HEADER = 110;
const TRAILER = "TRAILER!!!";

/** One part of the file, in file order. */
export interface InitramfsPart {
  /** File offset where the part starts. */
  readonly offset: number;
  readonly format: "cpio" | "gzip" | "zstd" | "xz";
  /** Bytes of the file the part takes (compressed size, or the cpio bytes with padding). */
  readonly size: number;
  /** Bytes of cpio data it holds (its decompressed size). */
  readonly cpioBytes: number;
  /** Bytes the kernel's decompressor holds while unpacking it (window or dictionary plus buffers); 0 for cpio. */
  readonly decompressorBytes: number;
}

export interface InitramfsMeasure {
  /** Bytes of the file: the initrd segment, in memory until unpacking ends. */
  readonly fileBytes: number;
  readonly parts: readonly InitramfsPart[];
  /** Bytes of cpio data after decompression. */
  readonly cpioBytes: number;
  /** Archive members, without the trailers. */
  readonly entries: number;
  readonly files: number;
  readonly directories: number;
  readonly symlinks: number;
  /** Device nodes, FIFOs and sockets. */
  readonly others: number;
  /** Bytes of file data (regular files and symlink targets). */
  readonly dataBytes: number;
  /** Data pages the unpacked files take, in bytes, for each page size: every file rounded up to whole pages. */
  readonly tmpfsBytes: Readonly<Record<TmpfsPageSize, number>>;
  /** The most any one decompressor holds at once, in bytes. */
  readonly decompressorBytes: number;
}

/** Magics of codecs the kernel can unpack (lib/decompress.c) but this tool cannot, with the command that undoes them. */
const UNSUPPORTED: readonly { name: string; magic: readonly number[]; undo: string }[] = [
  { name: "bzip2", magic: [0x42, 0x5a, 0x68], undo: "bunzip2" },
  { name: "lzma", magic: [0x5d, 0x00, 0x00], undo: "unlzma" },
  { name: "lzo", magic: [0x89, 0x4c, 0x5a, 0x4f], undo: "lzop -d" },
  { name: "lz4", magic: [0x02, 0x21, 0x4c, 0x18], undo: "lz4 -d" },
];

/**
 * Measures an initramfs file.
 * @throws InputError `BAD_CPIO` (where = file offset, or `"<codec>@<part offset>+<offset>"`
 *   inside a compressed part) for a malformed archive or junk between parts,
 *   `UNSUPPORTED_FORMAT` for bzip2, lzma, lzo or lz4 parts, and the
 *   decoders' `GZIP`, `ZSTD`, `XZ`, `TRUNCATED` or `TOO_LARGE`.
 */
export async function measureInitramfs(bytes: Uint8Array): Promise<InitramfsMeasure> {
  const tally = new Tally();
  const parts = await walkParts(bytes, tally);
  if (tally.entries === 0) {
    throw new InputError("BAD_CPIO", "Cannot measure the initramfs: it holds no cpio archive", 0, "Give the initramfs (a cpio archive, maybe gzip/zstd/xz-compressed)");
  }
  return {
    fileBytes: bytes.length,
    parts,
    cpioBytes: parts.reduce((n, p) => n + p.cpioBytes, 0),
    entries: tally.entries,
    files: tally.files,
    directories: tally.directories,
    symlinks: tally.symlinks,
    others: tally.others,
    dataBytes: tally.dataBytes,
    tmpfsBytes: { ...tally.tmpfs },
    decompressorBytes: parts.reduce((m, p) => Math.max(m, p.decompressorBytes), 0),
  };
}

/**
 * The contents of the regular files at `paths` (absolute, e.g.
 * "/etc/purgatory/capture.conf") in an initramfs, as the kernel would leave
 * them: a later archive member of the same name replaces an earlier one.
 * Paths not in the archive are absent from the map.
 * @throws InputError as `measureInitramfs`.
 */
export async function readInitramfsFiles(bytes: Uint8Array, paths: readonly string[]): Promise<Map<string, Uint8Array>> {
  const tally = new Tally(new Set(paths.map((p) => p.replace(/^\/+/, ""))));
  await walkParts(bytes, tally);
  return new Map([...tally.found].map(([name, data]) => [`/${name}`, data]));
}

/** Walks every part of the file, adding each member to `tally`; returns the parts. */
async function walkParts(bytes: Uint8Array, tally: Tally): Promise<InitramfsPart[]> {
  const parts: InitramfsPart[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    if (bytes[pos] === 0) {
      pos++;
      continue;
    }
    if (bytes[pos] === 0x30 && pos % 4 === 0) {
      const end = walkCpio(bytes, pos, tally, (off) => off);
      parts.push({ offset: pos, format: "cpio", size: end - pos, cpioBytes: end - pos, decompressorBytes: 0 });
      pos = end;
      continue;
    }
    const rest = bytes.subarray(pos);
    const at = pos;
    let format: InitramfsPart["format"];
    let data: Uint8Array;
    let decompressorBytes: number;
    if (isGzip(rest)) {
      format = "gzip";
      data = (await gunzip(rest)).data;
      decompressorBytes = GZIP_BUFFERS;
    } else if (isZstd(rest)) {
      format = "zstd";
      decompressorBytes = zstdWindow(rest) + ZSTD_BUFFERS;
      data = (await unzstd(rest)).data;
    } else if (isXz(rest)) {
      format = "xz";
      decompressorBytes = (xzDictionarySize(rest) ?? 0) + XZ_BUFFERS;
      data = (await unxz(rest)).data;
    } else {
      const u = UNSUPPORTED.find((c) => c.magic.every((b, i) => rest[i] === b));
      if (u !== undefined) {
        throw new InputError("UNSUPPORTED_FORMAT", `Cannot measure the initramfs: the part at ${hex(at)} is ${u.name}-compressed, which this tool cannot decompress`, at,
          `Recompress it with gzip, zstd or xz (the kernel reads all three), or measure the \`${u.undo}\` output`);
      }
      const head = Buffer.from(rest.subarray(0, 4)).toString("hex");
      throw new InputError("BAD_CPIO", `Cannot measure the initramfs: bytes ${head} at ${hex(at)} start neither a cpio archive (aligned "0707") nor a compressed part`, at,
        pos === 0 ? "Give the initramfs (a cpio archive, maybe gzip/zstd/xz-compressed)" : "The file has junk between its parts");
    }
    walkDecompressed(data, tally, format, at);
    parts.push({ offset: at, format, size: rest.length, cpioBytes: data.length, decompressorBytes });
    pos = bytes.length;
  }
  return parts;
}

class Tally {
  entries = 0;
  files = 0;
  directories = 0;
  symlinks = 0;
  others = 0;
  dataBytes = 0;
  tmpfs: Record<TmpfsPageSize, number> = { 4096: 0, 16384: 0, 65536: 0 };
  /** Contents of the wanted regular files seen, by path without the leading "/". */
  readonly found = new Map<string, Uint8Array>();

  constructor(private readonly wanted: ReadonlySet<string> = new Set()) {}

  add(mode: number, size: number, name: string, data: Uint8Array): void {
    this.entries++;
    const type = mode & S_IFMT;
    const path = name.replace(/^(\.?\/)+/, "");
    if (this.wanted.has(path)) {
      if (type === S_IFREG) this.found.set(path, data);
      else this.found.delete(path);
    }
    if (type === S_IFREG) {
      this.files++;
      this.dataBytes += size;
      for (const p of TMPFS_PAGE_SIZES) this.tmpfs[p] += Math.ceil(size / p) * p;
    } else if (type === S_IFDIR) this.directories++;
    else if (type === S_IFLNK) {
      this.symlinks++;
      this.dataBytes += size;
      if (size + 1 > SHORT_SYMLINK_LEN) for (const p of TMPFS_PAGE_SIZES) this.tmpfs[p] += p;
    } else this.others++;
  }
}

/** A compressed part's output: cpio archives and NUL padding only ("junk within compressed archive" otherwise). */
function walkDecompressed(data: Uint8Array, tally: Tally, format: string, partAt: number): void {
  const where = (off: number) => `${format}@${hex(partAt)}+${hex(off)}`;
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) {
      pos++;
      continue;
    }
    if (data[pos] !== 0x30 || pos % 4 !== 0) {
      throw new InputError("BAD_CPIO", `Cannot measure the initramfs: junk within the ${format} part at ${hex(pos)} of its output`, where(pos),
        "Compressed parts hold cpio archives only");
    }
    pos = walkCpio(data, pos, tally, where);
  }
}

/**
 * Walks one newc archive from `start` to just past its TRAILER!!! entry and
 * its padding to 4 bytes, adding every member to `tally`.
 */
function walkCpio(b: Uint8Array, start: number, tally: Tally, where: (off: number) => number | string): number {
  const bad = (why: string, off: number): never => {
    throw new InputError("BAD_CPIO", `Cannot measure the initramfs: ${why}`, where(off), "The cpio archive is damaged; rebuild it (newc format, `cpio -H newc`)");
  };
  let pos = start;
  for (;;) {
    if (pos + NEWC_HEADER > b.length) bad(`the cpio header at ${hex(pos)} is cut short`, pos);
    const magic = ascii(b, pos, 6);
    if (magic !== "070701" && magic !== "070702") {
      bad(`magic ${JSON.stringify(magic)} at ${hex(pos)} is not newc ("070701" or "070702"), the only cpio formats the kernel reads`, pos);
    }
    const field = (i: number): number => {
      const text = ascii(b, pos + 6 + 8 * i, 8);
      if (!/^[0-9a-fA-F]{8}$/.test(text)) bad(`cpio header field ${i} ${JSON.stringify(text)} at ${hex(pos + 6 + 8 * i)} is not 8 hex digits`, pos + 6 + 8 * i);
      return parseInt(text, 16);
    };
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    if (nameSize === 0) bad(`the cpio entry at ${hex(pos)} has an empty name`, pos);
    const nameAt = pos + NEWC_HEADER;
    const dataAt = start + align4(nameAt + nameSize - start);
    if (nameAt + nameSize > b.length) bad(`the cpio name at ${hex(nameAt)} runs past the end`, nameAt);
    const name = ascii(b, nameAt, nameSize - 1);
    const next = start + align4(dataAt + size - start);
    if (dataAt + size > b.length) bad(`the data of ${JSON.stringify(name)} (${hex(size)} bytes at ${hex(dataAt)}) runs past the end`, dataAt);
    if (name === TRAILER) return Math.min(next, b.length);
    tally.add(mode, size, name, b.subarray(dataAt, dataAt + size));
    pos = next;
  }
}

const align4 = (n: number): number => (n + 3) & ~3;

function ascii(b: Uint8Array, at: number, n: number): string {
  let s = "";
  for (let i = at; i < at + n && i < b.length; i++) s += String.fromCharCode(b[i] ?? 0);
  return s;
}


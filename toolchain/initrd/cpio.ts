import { InputError, hex } from "../bytes/index.js";

/**
 * A newc cpio walker that follows the kernel's initramfs unpacker
 * (init/initramfs.c) over data pushed in chunks, without holding it: entries
 * ("070701", or "070702" with checksums) at 4-byte-aligned offsets, each a
 * 110-byte header, the name padded so that header and name end 4-aligned, the
 * data padded to 4; zero bytes between entries and archives; the archive
 * closed by an entry named "TRAILER!!!".
 *
 * It reads only headers and names and counts the rest, so it costs next to
 * nothing beside whatever produced the chunks.
 */

const HEADER_SIZE = 110;
const NEWC = "070701";
const NEWC_CRC = "070702";
const ODC = "070707";
const TRAILER = "TRAILER!!!";
/** init/initramfs.c skips names longer than PATH_MAX; we keep as much for messages. */
const NAME_KEEP = 256;

/** N_ALIGN in init/initramfs.c: the name's size once padded so that header + name end 4-aligned. */
const nAlign = (len: number): number => ((len + 1) & ~3) + 2;

export interface CpioState {
  /** Entries read so far, TRAILER!!! entries included. */
  readonly entries: number;
  /** True while an archive has entries and no TRAILER!!! yet. */
  readonly open: boolean;
  /** Offset of the first entry of the archive being read (or last read). */
  readonly archiveStart: number;
  /** True at an entry boundary (between entries, or in zero padding). */
  readonly atBoundary: boolean;
}

/**
 * Walks newc entries and zero padding. `push` returns how many bytes of the
 * chunk it took: fewer than given means it met, at an entry boundary, a byte
 * that is neither zero nor the start of an aligned cpio header, and stopped
 * there (the caller decides what that byte starts). `where(offset)` names an
 * offset of the walked data in errors.
 */
export class CpioWalker implements CpioState {
  entries = 0;
  open = false;
  archiveStart = 0;
  /** Offset of the next byte pushed, from the start of the walked data. */
  pos: number;
  private header: Uint8Array | null = null;
  private headerFill = 0;
  private entryStart = 0;
  private name = "";
  private nameBytes: number[] = [];
  private nameLeft = 0;
  /** Bytes of the entry after its name (data and padding) still to skip. */
  private skip = 0;
  private stopped = false;

  constructor(
    private readonly where: (offset: number) => number | string,
    start = 0,
  ) {
    this.pos = start;
  }

  get atBoundary(): boolean {
    return this.header === null && this.nameLeft === 0 && this.skip === 0;
  }

  /** Continues after a stop, at offset `at` of the walked data (past what the caller read itself). */
  resume(at: number): void {
    this.pos = at;
    this.stopped = false;
  }

  /** The last entry's name, for messages. */
  get lastName(): string {
    return this.name;
  }

  /**
   * Takes bytes from `chunk`; returns how many it took (all of them unless it stopped).
   * @throws InputError `BAD_CPIO` for an odc archive or a header field that is not hex.
   */
  push(chunk: Uint8Array): number {
    if (this.stopped) return 0;
    let i = 0;
    while (i < chunk.length) {
      if (this.header !== null) {
        const n = Math.min(HEADER_SIZE - this.headerFill, chunk.length - i);
        this.header.set(chunk.subarray(i, i + n), this.headerFill);
        this.headerFill += n;
        i += n;
        this.pos += n;
        if (this.headerFill === HEADER_SIZE) this.parseHeader();
      } else if (this.nameLeft > 0) {
        const n = Math.min(this.nameLeft, chunk.length - i);
        for (let k = 0; k < n && this.nameBytes.length < NAME_KEEP; k++) this.nameBytes.push(chunk[i + k] ?? 0);
        this.nameLeft -= n;
        i += n;
        this.pos += n;
        if (this.nameLeft === 0) this.endName();
      } else if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        this.pos += n;
      } else {
        const b = chunk[i] ?? 0;
        if (b === 0) {
          i++;
          this.pos++;
        } else if (b === 0x30 && this.pos % 4 === 0) {
          this.header = new Uint8Array(HEADER_SIZE);
          this.headerFill = 0;
          this.entryStart = this.pos;
        } else {
          this.stopped = true;
          return i;
        }
      }
    }
    return i;
  }

  /**
   * Call at the end of the walked data: it must end at an entry boundary.
   * @throws InputError `TRUNCATED` when it ends inside an entry.
   */
  finish(end: number): void {
    if (this.atBoundary) return;
    const what = this.header !== null ? "header" : this.nameLeft > 0 ? "name" : "data";
    const need = this.header !== null ? this.entryStart + HEADER_SIZE : this.pos + this.nameLeft + this.skip;
    throw new InputError(
      "TRUNCATED",
      `Cannot use the initrd: cpio entry ${this.header !== null ? this.entries + 1 : this.entries}${what === "data" ? ` ${JSON.stringify(this.name)}` : ""} at ${hex(this.entryStart)} ends inside its ${what}: it needs the data up to ${hex(need)} but the data ends at ${hex(end)}`,
      this.where(end),
      "The initramfs is truncated; build or copy it again",
    );
  }

  private parseHeader(): void {
    const h = this.header ?? new Uint8Array(0);
    const magic = String.fromCharCode(...h.subarray(0, 6));
    if (magic === ODC) {
      throw new InputError(
        "BAD_CPIO",
        `Cannot use the initrd: the cpio archive at ${hex(this.entryStart)} is in the old portable format (magic ${ODC}), which the kernel refuses ("incorrect cpio method used: use -H newc option", init/initramfs.c)`,
        this.where(this.entryStart),
        "Rebuild it with `cpio -o -H newc`",
      );
    }
    if (magic !== NEWC && magic !== NEWC_CRC) {
      throw new InputError(
        "BAD_CPIO",
        `Cannot use the initrd: no newc cpio magic at ${hex(this.entryStart)} (found ${JSON.stringify(magic)}, expected "${NEWC}" or "${NEWC_CRC}")`,
        this.where(this.entryStart),
        "The initramfs is corrupt; build it again",
      );
    }
    const field = (index: number, what: string): number => {
      const text = String.fromCharCode(...h.subarray(6 + 8 * index, 14 + 8 * index));
      if (!/^[0-9a-fA-F]{8}$/.test(text)) {
        throw new InputError(
          "BAD_CPIO",
          `Cannot use the initrd: the cpio header at ${hex(this.entryStart)} has ${what} ${JSON.stringify(text)}, not 8 hex digits`,
          this.where(this.entryStart + 6 + 8 * index),
          "The initramfs is corrupt; build it again",
        );
      }
      return parseInt(text, 16);
    };
    const fileSize = field(6, "c_filesize");
    const nameSize = field(11, "c_namesize");
    this.header = null;
    this.entries++;
    if (!this.open) this.archiveStart = this.entryStart;
    this.open = true;
    this.nameBytes = [];
    this.name = "";
    // Header, padded name and data, then padding to the next multiple of 4 (next_header in do_header).
    const end = (this.entryStart + HEADER_SIZE + nAlign(nameSize) + fileSize + 3) & ~3;
    this.nameLeft = nameSize;
    this.skip = end - this.pos - nameSize;
    if (nameSize === 0) this.endName();
  }

  private endName(): void {
    const nul = this.nameBytes.indexOf(0);
    this.name = new TextDecoder().decode(Uint8Array.from(nul < 0 ? this.nameBytes : this.nameBytes.slice(0, nul)));
    if (this.name === TRAILER) this.open = false;
  }
}

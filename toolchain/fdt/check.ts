import type { ErrorCode } from "../bytes/index.js";
import { InputError, decodeLayout, hex } from "../bytes/index.js";
import {
  FDT_FIRST_READ_VERSION,
  FDT_HEADER,
  FDT_HEADER_V16,
  FDT_MAGIC,
  FDT_VERSION,
} from "./spec.js";

/**
 * Header and block validation, done before anything walks the blob (like
 * libfdt's `fdt_check_header`): every block must lie inside `totalsize`,
 * after the header, with the spec's alignment, and `totalsize` must match
 * the input exactly.
 */

/** A checked header: the fields under their spec names, plus what they imply. */
export interface FdtHeader {
  readonly magic: number;
  readonly totalsize: number;
  readonly off_dt_struct: number;
  readonly off_dt_strings: number;
  readonly off_mem_rsvmap: number;
  readonly version: number;
  readonly last_comp_version: number;
  readonly boot_cpuid_phys: number;
  readonly size_dt_strings: number;
  /** Absent before version 17. */
  readonly size_dt_struct: number | undefined;
  /** 36 bytes for version 16, 40 from version 17 on. */
  readonly headerSize: number;
}

/** The hint for a blob whose layout cannot be repaired. */
export const DAMAGED = "The blob is damaged; take a fresh copy from its source";

const FIELD_AT = Object.fromEntries(FDT_HEADER.fields.map((f) => [f.name, f.offset])) as Record<
  (typeof FDT_HEADER.fields)[number]["name"],
  number
>;

/**
 * Reads and validates the header of `bytes`, which must be exactly one blob.
 * @throws InputError with the offset of the offending header field:
 *   `TRUNCATED`, `BAD_MAGIC`, `BAD_VERSION`, `BAD_LAYOUT`, `TRAILING_DATA`.
 */
export function checkFdtHeader(bytes: Uint8Array): FdtHeader {
  const fail = (code: ErrorCode, field: keyof typeof FIELD_AT, why: string, hint?: string): never => {
    throw new InputError(code, `Cannot parse FDT header: ${why}`, FIELD_AT[field], hint);
  };
  if (bytes.length < 4 || new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) !== FDT_MAGIC) {
    const dts = new TextDecoder().decode(bytes.subarray(0, 8)) === "/dts-v1/";
    throw new InputError(
      bytes.length < 4 ? "TRUNCATED" : "BAD_MAGIC",
      `Cannot parse FDT header: magic is not ${hex(FDT_MAGIC)}`,
      0,
      dts
        ? "This is device tree source; compile it with `dtc -I dts -O dtb -o OUT.dtb FILE`"
        : "This is not a flattened device tree (DTB); check the file name",
    );
  }
  if (bytes.length < FDT_HEADER_V16.size) {
    fail("TRUNCATED", "totalsize", `input is ${bytes.length} bytes, the header alone needs ${FDT_HEADER_V16.size}`);
  }
  const v16 = decodeLayout(FDT_HEADER_V16, bytes);
  const convert = "Convert it with `dtc -I dtb -O dtb -V 17 -o OUT FILE`";
  if (v16.version < FDT_FIRST_READ_VERSION) {
    fail("BAD_VERSION", "version", `version ${v16.version} is older than ${FDT_FIRST_READ_VERSION}`, convert);
  }
  if (v16.last_comp_version > FDT_VERSION || v16.last_comp_version > v16.version) {
    fail(
      "BAD_VERSION",
      "last_comp_version",
      `last_comp_version ${v16.last_comp_version} (version ${v16.version}) is not readable as version ${FDT_VERSION}`,
      convert,
    );
  }
  const headerSize = v16.version >= 17 ? FDT_HEADER.size : FDT_HEADER_V16.size;
  if (bytes.length < headerSize) {
    fail("TRUNCATED", "totalsize", `input is ${bytes.length} bytes, a version ${v16.version} header needs ${headerSize}`);
  }
  const size_dt_struct = v16.version >= 17 ? decodeLayout(FDT_HEADER, bytes).size_dt_struct : undefined;
  const h: FdtHeader = { ...v16, size_dt_struct, headerSize };

  if (h.totalsize < headerSize) {
    fail("BAD_LAYOUT", "totalsize", `totalsize ${hex(h.totalsize)} is smaller than the ${headerSize}-byte header`, DAMAGED);
  }
  if (h.totalsize > bytes.length) {
    fail(
      "TRUNCATED",
      "totalsize",
      `totalsize ${hex(h.totalsize)} exceeds input length ${hex(bytes.length)}`,
      "The blob was cut short; copy it again from its source",
    );
  }
  if (bytes.length > h.totalsize) {
    throw new InputError(
      "TRAILING_DATA",
      `Cannot parse FDT: ${bytes.length - h.totalsize} bytes follow totalsize ${hex(h.totalsize)}`,
      h.totalsize,
      `If they are padding, keep only the blob: \`head -c ${h.totalsize} FILE > OUT\``,
    );
  }
  const inside = (off: number, size: number) => off >= headerSize && off + size <= h.totalsize;
  const range = `${hex(headerSize)}..${hex(h.totalsize)}`;
  // dtc reads misaligned blocks and writes them aligned; libfdt (and so the
  // kernel) refuses them. A block outside the blob cannot be repaired.
  const realign = "Realign it with `dtc -I dtb -O dtb -o OUT FILE`";
  if (!inside(h.off_mem_rsvmap, 0)) fail("BAD_LAYOUT", "off_mem_rsvmap", `off_mem_rsvmap ${hex(h.off_mem_rsvmap)} is outside ${range}`, DAMAGED);
  if (h.off_mem_rsvmap % 8 !== 0) fail("BAD_LAYOUT", "off_mem_rsvmap", `off_mem_rsvmap ${hex(h.off_mem_rsvmap)} is not 8-aligned`, realign);
  if (!inside(h.off_dt_struct, 0)) fail("BAD_LAYOUT", "off_dt_struct", `off_dt_struct ${hex(h.off_dt_struct)} is outside ${range}`, DAMAGED);
  if (h.off_dt_struct % 4 !== 0) fail("BAD_LAYOUT", "off_dt_struct", `off_dt_struct ${hex(h.off_dt_struct)} is not 4-aligned`, realign);
  if (h.size_dt_struct !== undefined && !inside(h.off_dt_struct, h.size_dt_struct)) {
    fail("BAD_LAYOUT", "size_dt_struct", `structure block ${hex(h.off_dt_struct)}+${hex(h.size_dt_struct)} ends past totalsize ${hex(h.totalsize)}`, DAMAGED);
  }
  if (!inside(h.off_dt_strings, 0)) fail("BAD_LAYOUT", "off_dt_strings", `off_dt_strings ${hex(h.off_dt_strings)} is outside ${range}`, DAMAGED);
  if (!inside(h.off_dt_strings, h.size_dt_strings)) {
    fail("BAD_LAYOUT", "size_dt_strings", `strings block ${hex(h.off_dt_strings)}+${hex(h.size_dt_strings)} ends past totalsize ${hex(h.totalsize)}`, DAMAGED);
  }
  return h;
}

/** A block's extent once its length is known: `[start, end)` in bytes. */
export interface BlockExtent {
  readonly name: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Refuses blocks that overlap (empty blocks overlap nothing). The error points
 * at the start of the later block.
 * @throws InputError `BAD_LAYOUT`.
 */
export function checkNoOverlap(blocks: readonly BlockExtent[]): void {
  const sorted = blocks.filter((b) => b.end > b.start).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1]!;
    const b = sorted[i]!;
    if (b.start < a.end) {
      throw new InputError(
        "BAD_LAYOUT",
        `Cannot parse FDT: the ${b.name} (${hex(b.start)}..${hex(b.end)}) overlaps the ${a.name} (${hex(a.start)}..${hex(a.end)})`,
        b.start,
        DAMAGED,
      );
    }
  }
}

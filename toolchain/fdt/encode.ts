import { InputError, hex } from "../bytes/index.js";
import type { AddrSize } from "./types.js";

/**
 * Typed property values (DTSpec 2.2.4, Table 2.3): big-endian u32 cells, u64
 * as two cells, NUL-terminated strings, string lists, and `<address size>`
 * pairs whose widths come from `#address-cells`/`#size-cells`. Raw bytes need
 * no coder: a property value is a `Uint8Array`.
 *
 * `where` names the property in errors (`/chosen/linux,elfcorehdr`).
 * Decoders refuse a value of the wrong length instead of reading part of it.
 */

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

/** Encodes one or more u32 cells. @throws InputError `BAD_VALUE` for a value outside 0..0xffffffff. */
export function encodeU32(value: number | readonly number[], where?: string): Uint8Array {
  const values = typeof value === "number" ? [value] : value;
  const out = new Uint8Array(4 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v > U32_MAX) {
      throw new InputError("BAD_VALUE", `Cannot encode ${String(v)} as a u32 cell`, where, "Give a whole number from 0 to 0xffffffff");
    }
    view.setUint32(4 * i, v, false);
  });
  return out;
}

/** Encodes one or more u64 values (two cells each). @throws InputError `BAD_VALUE` outside 0..2^64-1. */
export function encodeU64(value: bigint | readonly bigint[], where?: string): Uint8Array {
  const values = typeof value === "bigint" ? [value] : value;
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    if (v < 0n || v > U64_MAX) {
      throw new InputError("BAD_VALUE", `Cannot encode ${String(v)} as a u64`, where, "Give a whole number from 0 to 0xffffffffffffffff");
    }
    view.setBigUint64(8 * i, v, false);
  });
  return out;
}

/** Decodes exactly one u32 cell. @throws InputError `BAD_VALUE` unless the value is 4 bytes. */
export function decodeU32(bytes: Uint8Array, where?: string): number {
  if (bytes.length !== 4) throw wrongLength(bytes, "one u32 cell (4 bytes)", where);
  return new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false);
}

/** Decodes a list of u32 cells. @throws InputError `BAD_VALUE` unless the length is a multiple of 4. */
export function decodeU32s(bytes: Uint8Array, where?: string): number[] {
  if (bytes.length % 4 !== 0) throw wrongLength(bytes, "u32 cells (a multiple of 4 bytes)", where);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / 4 }, (_, i) => view.getUint32(4 * i, false));
}

/** Decodes exactly one u64. @throws InputError `BAD_VALUE` unless the value is 8 bytes. */
export function decodeU64(bytes: Uint8Array, where?: string): bigint {
  if (bytes.length !== 8) throw wrongLength(bytes, "one u64 (8 bytes)", where);
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false);
}

/** Decodes a list of u64 values. @throws InputError `BAD_VALUE` unless the length is a multiple of 8. */
export function decodeU64s(bytes: Uint8Array, where?: string): bigint[] {
  if (bytes.length % 8 !== 0) throw wrongLength(bytes, "u64 values (a multiple of 8 bytes)", where);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return Array.from({ length: bytes.length / 8 }, (_, i) => view.getBigUint64(8 * i, false));
}

/** Encodes a NUL-terminated UTF-8 string. @throws InputError `BAD_VALUE` if `s` holds a NUL. */
export function encodeString(s: string, where?: string): Uint8Array {
  return encodeStrings([s], where);
}

/** Encodes a string list: each string UTF-8 and NUL-terminated, back to back. */
export function encodeStrings(list: readonly string[], where?: string): Uint8Array {
  for (const s of list) {
    if (s.includes("\0")) {
      throw new InputError("BAD_VALUE", `Cannot encode ${JSON.stringify(s)} as a string: it holds a NUL`, where, "Pass each string separately");
    }
  }
  return new TextEncoder().encode(list.map((s) => s + "\0").join(""));
}

/**
 * Decodes one NUL-terminated string (UTF-8; invalid sequences become U+FFFD).
 * @throws InputError `BAD_VALUE` unless the value ends with its only NUL.
 */
export function decodeString(bytes: Uint8Array, where?: string): string {
  const nul = bytes.indexOf(0);
  if (nul < 0 || nul !== bytes.length - 1) {
    throw new InputError(
      "BAD_VALUE",
      nul < 0 ? "Cannot decode a string: the value has no terminating NUL" : `Cannot decode one string: the value holds a NUL at byte ${nul} of ${bytes.length}`,
      where,
      nul < 0 ? "Read it as bytes" : "Read it as a string list",
    );
  }
  return utf8(bytes.subarray(0, nul));
}

/** Decodes a string list (empty value: no strings). @throws InputError `BAD_VALUE` without a final NUL. */
export function decodeStrings(bytes: Uint8Array, where?: string): string[] {
  if (bytes.length === 0) return [];
  if (bytes[bytes.length - 1] !== 0) {
    throw new InputError("BAD_VALUE", "Cannot decode a string list: the value does not end with a NUL", where, "Read it as bytes");
  }
  return utf8(bytes.subarray(0, bytes.length - 1)).split("\0");
}

/**
 * Cell counts for `<address size>` values, and the node each was read from
 * (for errors and hints), as `cellsFor` in edit.ts finds them.
 */
export interface Cells {
  readonly addressCells: number;
  readonly sizeCells: number;
  /** Path of the node whose `#address-cells` applies, or "/" when the default applies. */
  readonly addressFrom: string;
  readonly sizeFrom: string;
}

/**
 * Encodes `<address size>` pairs, each field as big-endian cells of the
 * widths in `cells`.
 * @throws InputError `VALUE_TOO_WIDE` at `where` when a value does not fit,
 *   with a hint naming the node whose `#address-cells`/`#size-cells` to widen.
 */
export function encodeAddrRanges(ranges: readonly AddrSize[], cells: Cells, where: string): Uint8Array {
  const stride = 4 * (cells.addressCells + cells.sizeCells);
  const out = new Uint8Array(stride * ranges.length);
  ranges.forEach((r, i) => {
    putCells(out, i * stride, cells.addressCells, r.address, "address", "#address-cells", cells.addressFrom, where);
    putCells(out, i * stride + 4 * cells.addressCells, cells.sizeCells, r.size, "size", "#size-cells", cells.sizeFrom, where);
  });
  return out;
}

/**
 * Decodes `<address size>` pairs (values wider than 64 bits are refused).
 * @throws InputError `BAD_VALUE` when the length is not a whole number of pairs
 *   or a value exceeds 64 bits.
 */
export function decodeAddrRanges(bytes: Uint8Array, cells: Cells, where: string): AddrSize[] {
  const stride = 4 * (cells.addressCells + cells.sizeCells);
  if (stride === 0 || bytes.length % stride !== 0) {
    throw wrongLength(bytes, `<address size> pairs of ${cells.addressCells}+${cells.sizeCells} cells`, where);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const read = (at: number, n: number): bigint => {
    let v = 0n;
    for (let i = 0; i < n; i++) v = (v << 32n) | BigInt(view.getUint32(at + 4 * i, false));
    if (v > U64_MAX) throw new InputError("BAD_VALUE", `Cannot decode ${hex(v)}: it exceeds 64 bits`, where);
    return v;
  };
  return Array.from({ length: bytes.length / stride }, (_, i) => ({
    address: read(i * stride, cells.addressCells),
    size: read(i * stride + 4 * cells.addressCells, cells.sizeCells),
  }));
}

function putCells(
  out: Uint8Array,
  at: number,
  n: number,
  v: bigint,
  what: string,
  prop: string,
  from: string,
  where: string,
): void {
  if (v < 0n || v > U64_MAX) throw new InputError("BAD_VALUE", `Cannot encode ${what} ${String(v)}: it is not a u64`, where);
  if (v >> BigInt(32 * n) !== 0n) {
    const node = from === "/" ? "the root node" : from;
    throw new InputError(
      "VALUE_TOO_WIDE",
      `Cannot encode ${what} ${hex(v)}: it does not fit ${prop} = <${n}> (${32 * n} bits) that applies here`,
      where,
      `Set ${prop} = <2> in ${node}`,
    );
  }
  const view = new DataView(out.buffer, out.byteOffset, out.length);
  for (let i = n - 1; i >= 0; i--, v >>= 32n) view.setUint32(at + 4 * i, Number(v & 0xffff_ffffn), false);
}

function wrongLength(bytes: Uint8Array, want: string, where: string | undefined): InputError {
  return new InputError("BAD_VALUE", `Cannot decode ${bytes.length} bytes as ${want}`, where);
}

function utf8(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

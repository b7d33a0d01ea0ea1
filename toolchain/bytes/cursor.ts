import { InputError } from "./error.js";

/**
 * Byte reader and writer with the byte order in every name and `bigint` for
 * every 64-bit value. There is no default byte order.
 */

const U32_MAX = 0xffff_ffff;
const U64_MAX = (1n << 64n) - 1n;

/** Formats a number or bigint as `0x…` (lower case, no padding). */
export function hex(v: number | bigint): string {
  return "0x" + v.toString(16);
}

/** Formats a u64 as `0x` + 16 hex digits (the manifest's 64-bit form). */
export function hex64(v: bigint): string {
  if (v < 0n || v > U64_MAX) throw new RangeError(`hex64: ${v} is not a u64`);
  return "0x" + v.toString(16).padStart(16, "0");
}

/**
 * Converts a bigint to a number, refusing values above 2^53 - 1.
 * @throws InputError `TOO_LARGE` with `where` when the value cannot be a safe integer.
 */
export function toNumber(v: bigint, what: string, where?: number | string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new InputError("TOO_LARGE", `Cannot use ${what} ${hex(v)}: it exceeds the largest safe integer`, where);
  }
  return Number(v);
}

/** A view over exactly `bytes` (offset and length honoured). */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Sequential, bounds-checked reader. Every read past the end throws
 * `InputError` code `TRUNCATED` with the offset of the read.
 * `context` names what is being read, for messages ("FDT header").
 */
export class ByteReader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos: number;
  readonly context: string;

  constructor(bytes: Uint8Array, context: string, pos = 0) {
    this.bytes = bytes;
    this.view = viewOf(bytes);
    this.pos = pos;
    this.context = context;
  }

  get remaining(): number {
    return this.bytes.length - this.pos;
  }

  private need(n: number, what: string): number {
    const at = this.pos;
    if (at < 0 || n < 0 || at + n > this.bytes.length) {
      throw new InputError(
        "TRUNCATED",
        `Cannot read ${this.context} ${what}: needs ${n} bytes, ${Math.max(0, this.bytes.length - at)} left`,
        at,
      );
    }
    this.pos = at + n;
    return at;
  }

  u8(what = "u8"): number {
    return this.view.getUint8(this.need(1, what));
  }
  u16LE(what = "u16"): number {
    return this.view.getUint16(this.need(2, what), true);
  }
  u16BE(what = "u16"): number {
    return this.view.getUint16(this.need(2, what), false);
  }
  u32LE(what = "u32"): number {
    return this.view.getUint32(this.need(4, what), true);
  }
  u32BE(what = "u32"): number {
    return this.view.getUint32(this.need(4, what), false);
  }
  u64LE(what = "u64"): bigint {
    return this.view.getBigUint64(this.need(8, what), true);
  }
  u64BE(what = "u64"): bigint {
    return this.view.getBigUint64(this.need(8, what), false);
  }
  /** A subarray (no copy) of `n` bytes. */
  bytesN(n: number, what = "bytes"): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }
}

/**
 * Growable writer. Writes are range-checked and never wrap: a value that does
 * not fit its width throws `RangeError` (a writer is fed by our own code).
 */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  length = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, initialCapacity));
    this.view = viewOf(this.buf);
  }

  /** Reserves `n` bytes and returns their offset; may replace `buf` and `view`, so call it before reading them. */
  private grow(n: number): number {
    const at = this.length;
    const need = at + n;
    if (need > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = viewOf(next);
    }
    this.length = need;
    return at;
  }

  u8(v: number): this {
    checkUint(v, 0xff, "u8");
    const at = this.grow(1);
    this.view.setUint8(at, v);
    return this;
  }
  u16LE(v: number): this {
    checkUint(v, 0xffff, "u16");
    const at = this.grow(2);
    this.view.setUint16(at, v, true);
    return this;
  }
  u16BE(v: number): this {
    checkUint(v, 0xffff, "u16");
    const at = this.grow(2);
    this.view.setUint16(at, v, false);
    return this;
  }
  u32LE(v: number): this {
    checkUint(v, U32_MAX, "u32");
    const at = this.grow(4);
    this.view.setUint32(at, v, true);
    return this;
  }
  u32BE(v: number): this {
    checkUint(v, U32_MAX, "u32");
    const at = this.grow(4);
    this.view.setUint32(at, v, false);
    return this;
  }
  u64LE(v: bigint): this {
    checkU64(v);
    const at = this.grow(8);
    this.view.setBigUint64(at, v, true);
    return this;
  }
  u64BE(v: bigint): this {
    checkU64(v);
    const at = this.grow(8);
    this.view.setBigUint64(at, v, false);
    return this;
  }
  bytes(b: Uint8Array): this {
    const at = this.grow(b.length);
    this.buf.set(b, at);
    return this;
  }
  zeros(n: number): this {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`zeros: bad count ${n}`);
    const at = this.grow(n);
    this.buf.fill(0, at, this.length);
    return this;
  }
  /** Pads with zeros up to a multiple of `align` (a power of two). */
  align(align: number): this {
    const pad = (align - (this.length % align)) % align;
    return this.zeros(pad);
  }
  /** Overwrites a u32BE at an earlier offset (for headers written last). */
  patchU32BE(at: number, v: number): this {
    checkUint(v, U32_MAX, "u32");
    if (at < 0 || at + 4 > this.length) throw new RangeError(`patchU32BE: offset ${at} outside 0..${this.length}`);
    this.view.setUint32(at, v, false);
    return this;
  }
  /** The written bytes (a copy, exactly `length` long). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range: ${v}`);
}

function checkU64(v: bigint): void {
  if (typeof v !== "bigint" || v < 0n || v > U64_MAX) throw new RangeError(`u64 out of range: ${String(v)}`);
}

/** Reads a big-endian u32 at `at` without a cursor; throws `TRUNCATED` past the end. */
export function readU32BE(bytes: Uint8Array, at: number, context: string): number {
  return new ByteReader(bytes, context, at).u32BE();
}

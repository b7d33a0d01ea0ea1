import { InputError } from "./error.js";
import { viewOf } from "./cursor.js";

/**
 * On-disk layouts declared once, as tables, with reading and writing derived
 * from them. A table lists each field's name, byte offset, kind
 * (byte order in the name) and a short note; `decodeLayout` and
 * `encodeLayout` are the only code that touches the bytes.
 */

export type FieldKind = "u8" | "u16LE" | "u16BE" | "u32LE" | "u32BE" | "u64LE" | "u64BE" | "bytes";

export interface Field {
  readonly name: string;
  readonly offset: number;
  readonly kind: FieldKind;
  /** Length in bytes, for `bytes` fields only. */
  readonly size?: number;
  readonly note: string;
}

export interface Layout<F extends readonly Field[] = readonly Field[]> {
  readonly name: string;
  /** Total size in bytes (fields may leave gaps, which encode as zeros). */
  readonly size: number;
  readonly fields: F;
}

type ValueOf<K extends FieldKind> = K extends "u64LE" | "u64BE" ? bigint : K extends "bytes" ? Uint8Array : number;

/** The decoded record of a layout: one property per field. */
export type Record_<F extends readonly Field[]> = { readonly [P in F[number] as P["name"]]: ValueOf<P["kind"]> };

const WIDTH: Record<Exclude<FieldKind, "bytes">, number> = {
  u8: 1,
  u16LE: 2,
  u16BE: 2,
  u32LE: 4,
  u32BE: 4,
  u64LE: 8,
  u64BE: 8,
};

/** Width in bytes of one field. */
export function fieldWidth(f: Field): number {
  if (f.kind === "bytes") {
    if (f.size === undefined) throw new TypeError(`field ${f.name}: bytes field needs a size`);
    return f.size;
  }
  return WIDTH[f.kind];
}

/** Declares a layout, checking that fields fit and do not overlap. */
export function defineLayout<const F extends readonly Field[]>(name: string, size: number, fields: F): Layout<F> {
  const sorted = [...fields].sort((a, b) => a.offset - b.offset);
  let end = 0;
  for (const f of sorted) {
    if (f.offset < end) throw new TypeError(`layout ${name}: field ${f.name} overlaps the previous field`);
    end = f.offset + fieldWidth(f);
    if (end > size) throw new TypeError(`layout ${name}: field ${f.name} ends past size ${size}`);
  }
  return { name, size, fields };
}

/**
 * Reads a record at `at`.
 * @throws InputError `TRUNCATED` when fewer than `layout.size` bytes remain.
 */
export function decodeLayout<F extends readonly Field[]>(layout: Layout<F>, bytes: Uint8Array, at = 0): Record_<F> {
  if (at < 0 || at + layout.size > bytes.length) {
    throw new InputError(
      "TRUNCATED",
      `Cannot read ${layout.name}: needs ${layout.size} bytes, ${Math.max(0, bytes.length - at)} left`,
      at,
    );
  }
  const v = viewOf(bytes);
  const out: Record<string, number | bigint | Uint8Array> = {};
  for (const f of layout.fields) {
    const o = at + f.offset;
    switch (f.kind) {
      case "u8": out[f.name] = v.getUint8(o); break;
      case "u16LE": out[f.name] = v.getUint16(o, true); break;
      case "u16BE": out[f.name] = v.getUint16(o, false); break;
      case "u32LE": out[f.name] = v.getUint32(o, true); break;
      case "u32BE": out[f.name] = v.getUint32(o, false); break;
      case "u64LE": out[f.name] = v.getBigUint64(o, true); break;
      case "u64BE": out[f.name] = v.getBigUint64(o, false); break;
      case "bytes": out[f.name] = bytes.slice(o, o + fieldWidth(f)); break;
    }
  }
  return out as Record_<F>;
}

/**
 * Writes a record into `into` at `at` (or into a new zeroed buffer).
 * @throws RangeError when a value does not fit its field.
 */
export function encodeLayout<F extends readonly Field[]>(
  layout: Layout<F>,
  values: Record_<F>,
  into: Uint8Array = new Uint8Array(layout.size),
  at = 0,
): Uint8Array {
  if (at < 0 || at + layout.size > into.length) throw new RangeError(`${layout.name}: no room at ${at}`);
  const v = viewOf(into);
  const vals = values as Record<string, number | bigint | Uint8Array>;
  for (const f of layout.fields) {
    const o = at + f.offset;
    const x = vals[f.name];
    if (f.kind === "bytes") {
      if (!(x instanceof Uint8Array) || x.length !== fieldWidth(f)) {
        throw new RangeError(`${layout.name}.${f.name}: needs ${fieldWidth(f)} bytes`);
      }
      into.set(x, o);
    } else if (f.kind === "u64LE" || f.kind === "u64BE") {
      if (typeof x !== "bigint" || x < 0n || x >= 1n << 64n) throw new RangeError(`${layout.name}.${f.name}: not a u64`);
      v.setBigUint64(o, x, f.kind === "u64LE");
    } else {
      const max = 2 ** (8 * WIDTH[f.kind]) - 1;
      if (typeof x !== "number" || !Number.isInteger(x) || x < 0 || x > max) {
        throw new RangeError(`${layout.name}.${f.name}: ${String(x)} does not fit ${f.kind}`);
      }
      if (f.kind === "u8") v.setUint8(o, x);
      else if (f.kind === "u16LE" || f.kind === "u16BE") v.setUint16(o, x, f.kind === "u16LE");
      else v.setUint32(o, x, f.kind === "u32LE");
    }
  }
  return into;
}

/**
 * A hand assembler for test blobs, independent of serialize.ts (like libfdt's
 * tests/trees.S): tokens and header fields are written exactly as given, so a
 * test can build blobs that are valid in unusual ways (NOPs, version 16, gaps)
 * or broken in one precise place.
 */

export type Token =
  | { readonly begin: string }
  | { readonly end: true }
  | { readonly prop: number; readonly value: Uint8Array | string }
  | { readonly nop: true }
  | { readonly fin: true }
  | { readonly word: number };

export const begin = (name: string): Token => ({ begin: name });
export const end: Token = { end: true };
export const nop: Token = { nop: true };
export const fin: Token = { fin: true };
export const word = (w: number): Token => ({ word: w });
/** A property token; a string value is written as UTF-8 plus NUL. */
export const prop = (nameoff: number, value: Uint8Array | string): Token => ({ prop: nameoff, value });

export interface Assembly {
  readonly tokens: readonly Token[];
  /** The strings block, as text (NULs included by the caller). */
  readonly strings: string;
  readonly reservations?: readonly (readonly [bigint, bigint])[];
  readonly version?: number;
  /** Header fields to overwrite after layout, by spec name. */
  readonly header?: Partial<Record<HeaderField, number>>;
  /** Bytes appended after totalsize. */
  readonly trailing?: number;
}

type HeaderField =
  | "magic" | "totalsize" | "off_dt_struct" | "off_dt_strings" | "off_mem_rsvmap"
  | "version" | "last_comp_version" | "boot_cpuid_phys" | "size_dt_strings" | "size_dt_struct";

const FIELDS: readonly HeaderField[] = [
  "magic", "totalsize", "off_dt_struct", "off_dt_strings", "off_mem_rsvmap",
  "version", "last_comp_version", "boot_cpuid_phys", "size_dt_strings", "size_dt_struct",
];

/** Layout: header, reservations at 0x28, structure, strings; like dtc unless fields are overridden. */
export function assemble(a: Assembly): Uint8Array {
  const bytes: number[] = [];
  const u32 = (v: number) => bytes.push((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  const pad = () => {
    while (bytes.length % 4) bytes.push(0);
  };
  for (const t of a.tokens) {
    if ("begin" in t) {
      u32(1);
      bytes.push(...Buffer.from(t.begin, "latin1"), 0);
      pad();
    } else if ("end" in t) u32(2);
    else if ("prop" in t) {
      const v = typeof t.value === "string" ? Buffer.from(t.value + "\0") : t.value;
      u32(3);
      u32(v.length);
      u32(t.prop);
      bytes.push(...v);
      pad();
    } else if ("nop" in t) u32(4);
    else if ("fin" in t) u32(9);
    else u32(t.word);
  }
  const rsv = a.reservations ?? [];
  const version = a.version ?? 17;
  const offRsv = 40;
  const offStruct = offRsv + 16 * (rsv.length + 1);
  const strings = Buffer.from(a.strings, "latin1");
  const offStrings = offStruct + bytes.length;
  const total = offStrings + strings.length;
  const out = new Uint8Array(total + (a.trailing ?? 0));
  const view = new DataView(out.buffer);
  rsv.forEach(([addr, size], i) => {
    view.setBigUint64(offRsv + 16 * i, addr);
    view.setBigUint64(offRsv + 16 * i + 8, size);
  });
  out.set(bytes, offStruct);
  out.set(strings, offStrings);
  const header: Record<HeaderField, number> = {
    magic: 0xd00dfeed,
    totalsize: total,
    off_dt_struct: offStruct,
    off_dt_strings: offStrings,
    off_mem_rsvmap: offRsv,
    version,
    last_comp_version: 16,
    boot_cpuid_phys: 0,
    size_dt_strings: strings.length,
    size_dt_struct: version >= 17 ? bytes.length : 0,
    ...a.header,
  };
  FIELDS.forEach((f, i) => view.setUint32(4 * i, header[f]));
  return out;
}

/** Offset of a header field, for expected error offsets. */
export const at = (f: HeaderField): number => 4 * FIELDS.indexOf(f);

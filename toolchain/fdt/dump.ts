import type { AddrSize, FdtNode, FdtTree } from "./types.js";

/**
 * Trees as text and as plain data, for people and for `--json`. The text is
 * what `dtc -I dtb -O dts` prints for the same blob (checked against dtc
 * 1.6.1 in the tests), so a dump can be diffed against dtc's and compiled back
 * with `dtc -I dts -O dtb`. A blob carries no types, so each value's type is
 * guessed the way dtc guesses it (`guessType`).
 */

/** How a value reads: no bytes, NUL-terminated printable strings, whole u32 cells, or bytes. */
export type ValueType = "empty" | "string" | "u32" | "bytes";

/**
 * dtc's guess: a string list when the value ends in NUL, every byte is
 * printable ASCII, NUL or one of \a\b\t\n\v\f\r, and NULs are at most half
 * of the bytes; else u32 cells when the length is a multiple of 4; else bytes.
 */
export function guessType(value: Uint8Array): ValueType {
  const n = value.length;
  if (n === 0) return "empty";
  let nul = 0;
  let text = value[n - 1] === 0;
  for (let i = 0; text && i < n; i++) {
    const c = value[i]!;
    if (c === 0) nul++;
    else if (!((c >= 0x20 && c <= 0x7e) || (c >= 0x07 && c <= 0x0d))) text = false;
  }
  if (text && nul <= n - nul) return "string";
  return n % 4 === 0 ? "u32" : "bytes";
}

const ESCAPES: Record<number, string> = { 7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 0: "\\0", 0x22: '\\"', 0x5c: "\\\\" };

/** A value in dts syntax as dtc writes it: `"a\0b"`, `<0x01 0x8003>`, `[01 02]`, or "" for empty. */
export function formatValue(value: Uint8Array): string {
  switch (guessType(value)) {
    case "empty":
      return "";
    case "string": {
      let s = '"';
      for (let i = 0; i < value.length - 1; i++) {
        const c = value[i]!;
        s += ESCAPES[c] ?? String.fromCharCode(c);
      }
      return s + '"';
    }
    case "u32": {
      const view = new DataView(value.buffer, value.byteOffset, value.length);
      const cells = Array.from({ length: value.length / 4 }, (_, i) => "0x" + view.getUint32(4 * i, false).toString(16).padStart(2, "0"));
      return `<${cells.join(" ")}>`;
    }
    case "bytes":
      return `[${Array.from(value, (b) => b.toString(16).padStart(2, "0")).join(" ")}]`;
  }
}

/** The whole tree as dts text, byte for byte what `dtc -I dtb -O dts` prints. */
export function formatDts(tree: FdtTree): string {
  let out = "/dts-v1/;\n\n";
  for (const r of tree.reservations) out += `/memreserve/\t${hex16(r.address)} ${hex16(r.size)};\n`;
  const node = (n: FdtNode, depth: number): void => {
    const pad = "\t".repeat(depth);
    out += `${pad}${depth === 0 ? "/" : n.name} {\n`;
    for (const p of n.properties) {
      out += p.value.length === 0 ? `${pad}\t${p.name};\n` : `${pad}\t${p.name} = ${formatValue(p.value)};\n`;
    }
    for (const c of n.children) {
      out += "\n";
      node(c, depth + 1);
    }
    out += `${pad}};\n`;
  };
  node(tree.root, 0);
  return out;
}

/** One property as plain data: its guessed type and decoded value (bytes stay bytes). */
export interface PropertyData {
  readonly name: string;
  readonly type: ValueType;
  /** empty: null; string: the strings; u32: the cells; bytes: the bytes. */
  readonly value: null | string[] | number[] | Uint8Array;
}

export interface NodeData {
  readonly name: string;
  readonly path: string;
  readonly properties: readonly PropertyData[];
  readonly children: readonly NodeData[];
}

export interface TreeData {
  readonly bootCpuidPhys: number;
  readonly reservations: readonly AddrSize[];
  readonly root: NodeData;
}

/** The tree as plain data for JSON reports. */
export function describeFdt(tree: FdtTree): TreeData {
  const node = (n: FdtNode, path: string): NodeData => ({
    name: n.name,
    path,
    properties: n.properties.map((p) => ({ name: p.name, ...decodeGuessed(p.value) })),
    children: n.children.map((c) => node(c, (path === "/" ? "" : path) + "/" + c.name)),
  });
  return { bootCpuidPhys: tree.bootCpuidPhys, reservations: tree.reservations, root: node(tree.root, "/") };
}

/** A value decoded as its guessed type. */
export function decodeGuessed(value: Uint8Array): Pick<PropertyData, "type" | "value"> {
  const type = guessType(value);
  switch (type) {
    case "empty":
      return { type, value: null };
    case "string":
      return { type, value: Buffer.from(value.buffer, value.byteOffset, value.length - 1).toString("latin1").split("\0") };
    case "u32": {
      const view = new DataView(value.buffer, value.byteOffset, value.length);
      return { type, value: Array.from({ length: value.length / 4 }, (_, i) => view.getUint32(4 * i, false)) };
    }
    case "bytes":
      return { type, value: value.slice() };
  }
}

function hex16(v: bigint): string {
  return "0x" + v.toString(16).padStart(16, "0");
}

import type { AddrSize, FdtNode, FdtTree } from "./types.js";
import { decodeAddrRanges, decodeU64s } from "./encode.js";

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

/** One property as plain data: its type and decoded value (bytes stay bytes). */
export interface PropertyData {
  readonly name: string;
  /** dtc's guess, or what the devicetree spec says the property is (`describeProperty`). */
  readonly type: ValueType | "reg" | "ranges" | "u64";
  /**
   * empty: null; string: the strings; u32: the cells; bytes: the bytes;
   * reg: `{address, size}` pairs; ranges: `{child, parent, size}` triples;
   * u64: the values. Addresses, sizes and u64 values are bigints, which the
   * JSON writer prints as "0x…" strings.
   */
  readonly value: null | string[] | number[] | Uint8Array | AddrSize[] | BusRange[] | bigint[];
}

/** One entry of `ranges` or `dma-ranges`: a child bus address, the parent bus address it maps to, and the length. */
export interface BusRange {
  readonly child: bigint;
  readonly parent: bigint;
  readonly size: bigint;
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

/**
 * The tree as plain data for JSON reports: each property decoded as
 * `describeProperty` does.
 */
export function describeFdt(tree: FdtTree): TreeData {
  const root = ownCells(tree.root);
  const node = (n: FdtNode, path: string, parent: OwnCells): NodeData => {
    const own = ownCells(n);
    return {
      name: n.name,
      path,
      properties: n.properties.map((p) => ({ name: p.name, ...decodeKnown(p.name, p.value, path, parent, own, root) })),
      children: n.children.map((c) => node(c, (path === "/" ? "" : path) + "/" + c.name, own)),
    };
  };
  return { bootCpuidPhys: tree.bootCpuidPhys, reservations: tree.reservations, root: node(tree.root, "/", root) };
}

/** A node's own #address-cells and #size-cells, with the spec's defaults (2 and 1) when absent or malformed. */
interface OwnCells {
  readonly address: number;
  readonly size: number;
}

function ownCells(n: FdtNode): OwnCells {
  const cell = (name: string, fallback: number): number => {
    const v = n.properties.find((p) => p.name === name)?.value;
    if (v === undefined || v.length !== 4) return fallback;
    const c = new DataView(v.buffer, v.byteOffset, 4).getUint32(0, false);
    return c <= 4 ? c : fallback;
  };
  return { address: cell("#address-cells", 2), size: cell("#size-cells", 1) };
}

/**
 * One property decoded by what the devicetree spec makes it, else by dtc's
 * guess (`decodeGuessed`):
 * - `reg`: `<address size>` pairs in the parent's #address-cells and
 *   #size-cells (Devicetree Specification 0.4 §2.3.6);
 * - `ranges`, `dma-ranges`: `<child parent size>` triples, the child address in
 *   the node's own #address-cells, the parent's in the parent's (§2.3.8);
 * - in /chosen, `linux,usable-memory-range` and `linux,elfcorehdr`: pairs in
 *   the root's cells, `linux,initrd-start` and `linux,initrd-end`: one
 *   address of 32 or 64 bits, `kaslr-seed`: one u64 (the kernel's
 *   Documentation/devicetree/bindings/chosen.txt, now dtschema's chosen.yaml).
 * A value whose length does not fit its meaning keeps the guess, and so do
 * cells wider than 64 bits (a PCI bus's 3-cell addresses are not one number).
 * Returns undefined when the node or property does not exist.
 */
export function describeProperty(tree: FdtTree, path: string, name: string): Pick<PropertyData, "type" | "value"> | undefined {
  const names = path.split("/").filter((c) => c !== "");
  const chain: FdtNode[] = [tree.root];
  for (const c of names) {
    const next = chain.at(-1)!.children.find((k) => k.name === c || k.name.split("@")[0] === c);
    if (next === undefined) return undefined;
    chain.push(next);
  }
  const node = chain.at(-1)!;
  const p = node.properties.find((q) => q.name === name);
  if (p === undefined) return undefined;
  const parent = chain.length > 1 ? ownCells(chain.at(-2)!) : ownCells(tree.root);
  return decodeKnown(name, p.value, "/" + names.join("/"), parent, ownCells(node), ownCells(tree.root));
}

function decodeKnown(name: string, value: Uint8Array, path: string, parent: OwnCells, own: OwnCells, root: OwnCells): Pick<PropertyData, "type" | "value"> {
  const pairs = (c: OwnCells): Pick<PropertyData, "type" | "value"> | null =>
    c.address <= 2 && c.size <= 2 && c.address + c.size > 0 && value.length > 0 && value.length % (4 * (c.address + c.size)) === 0
      ? { type: "reg", value: decodeAddrRanges(value, { addressCells: c.address, sizeCells: c.size, addressFrom: "", sizeFrom: "" }, `${path}/${name}`) }
      : null;
  const known = (() => {
    if (name === "reg") return pairs(parent);
    if (name === "ranges" || name === "dma-ranges") {
      const stride = 4 * (own.address + parent.address + own.size);
      if (own.address > 2 || parent.address > 2 || own.size > 2 || stride === 0 || value.length === 0 || value.length % stride !== 0) return null;
      const view = new DataView(value.buffer, value.byteOffset, value.length);
      const read = (at: number, n: number): bigint => {
        let v = 0n;
        for (let i = 0; i < n; i++) v = (v << 32n) | BigInt(view.getUint32(at + 4 * i, false));
        return v;
      };
      const list: BusRange[] = [];
      for (let at = 0; at < value.length; at += stride) {
        list.push({ child: read(at, own.address), parent: read(at + 4 * own.address, parent.address), size: read(at + 4 * (own.address + parent.address), own.size) });
      }
      return { type: "ranges" as const, value: list };
    }
    if (path !== "/chosen") return null;
    if (name === "linux,usable-memory-range" || name === "linux,elfcorehdr") return pairs(root);
    if ((name === "linux,initrd-start" || name === "linux,initrd-end") && (value.length === 4 || value.length === 8)) {
      return { type: "u64" as const, value: [value.length === 8 ? decodeU64s(value)[0]! : BigInt(new DataView(value.buffer, value.byteOffset, 4).getUint32(0, false))] };
    }
    if (name === "kaslr-seed" && value.length === 8) return { type: "u64" as const, value: decodeU64s(value) };
    return null;
  })();
  return known ?? decodeGuessed(value);
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

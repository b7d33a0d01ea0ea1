import { InputError, encodeLayout, hex } from "../bytes/index.js";
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_HEADER,
  FDT_LAST_COMP_VERSION,
  FDT_MAGIC,
  FDT_MAX_DEPTH,
  FDT_PROP,
  FDT_RESERVE_ENTRY_SIZE,
  FDT_VERSION,
} from "./spec.js";
import type { FdtNode, FdtTree } from "./types.js";

/**
 * Tree to blob, in dtc's layout so that our output and `dtc -O dtb` agree
 * byte for byte (dtc flattree.c `dt_to_blob`, checked against dtc 1.6.1):
 *
 *   header (40 bytes, version 17, last_comp_version 16)
 *   reservation block at 0x28, entries then a (0, 0) terminator
 *   structure block right after it, in tree order, FDT_NOP-free
 *   strings block right after that, names in first-use order; a name that
 *   already occurs in the table, whole or as the tail of a longer name, is
 *   not added again (dtc `stringtable_insert`, libfdt `fdt_find_add_string_`)
 *   optional zero padding up to `totalSize` (like `dtc -S`)
 *
 * The header is written last, when every size is known. The writer refuses
 * only what `parseFdt` would refuse, so parse(serialize(t)) equals t.
 */

const U64_MAX = (1n << 64n) - 1n;

export interface SerializeOptions {
  /** Pad with zeros at the end up to this many bytes (free space for in-place edits, like `dtc -S`). */
  readonly totalSize?: number;
}

/**
 * Serializes `tree` to a version 17 blob of minimal size (or `totalSize`).
 * @throws InputError with the node path: `BAD_NAME` (NUL, a character above
 *   0xff, a named root or an unnamed child), `DUPLICATE`, `TOO_DEEP`, and
 *   `BAD_VALUE` (a size-0 reservation, which would end the list early, or a
 *   `totalSize` smaller than the tree).
 */
export function serializeFdt(tree: FdtTree, options: SerializeOptions = {}): Uint8Array {
  const strings = new StringTable();
  const nameOffsets: number[] = []; // one per property, in tree order
  let structSize = 4; // FDT_END

  // Name -> serial of the last node that used it, for the duplicate checks
  // without a set per node: each node's names are all checked before any
  // descendant's.
  const propOwner = new Map<string, number>();
  const childOwner = new Map<string, number>();
  let serial = 0;
  const measure = (node: FdtNode, path: string, depth: number): void => {
    const self = serial++;
    const below = (name: string) => `${path === "/" ? "" : path}/${name}`;
    if (depth >= FDT_MAX_DEPTH) {
      throw new InputError("TOO_DEEP", `Cannot serialize FDT: ${path} is ${depth} levels below the root; the kernel reads at most ${FDT_MAX_DEPTH - 1}`, path);
    }
    if (depth === 0 ? node.name !== "" : node.name === "") {
      throw new InputError("BAD_NAME", `Cannot serialize FDT: ${depth === 0 ? "the root must have an empty name" : "a child node has an empty name"}`, path);
    }
    checkName(node.name, () => path);
    structSize += 4 + align4(node.name.length + 1) + 4; // BEGIN_NODE name ... END_NODE
    for (const { name, value } of node.properties) {
      if (propOwner.get(name) === self) throw new InputError("DUPLICATE", `Cannot serialize FDT: property ${name} appears twice`, below(name));
      propOwner.set(name, self);
      structSize += 12 + align4(value.length);
      nameOffsets.push(strings.add(name, () => below(name)));
    }
    for (const { name } of node.children) {
      if (childOwner.get(name) === self) throw new InputError("DUPLICATE", `Cannot serialize FDT: node ${name} appears twice`, below(name));
      childOwner.set(name, self);
    }
    for (const child of node.children) measure(child, below(child.name), depth + 1);
  };
  measure(tree.root, "/", 0);

  for (const [i, r] of tree.reservations.entries()) {
    if (r.size === 0n) {
      throw new InputError("BAD_VALUE", `Cannot serialize FDT: reservation ${i} has size 0, which would end the list there`, `reservations[${i}]`, "Remove the entry");
    }
    if (r.address < 0n || r.address > U64_MAX || r.size < 0n || r.size > U64_MAX) {
      throw new InputError("BAD_VALUE", `Cannot serialize FDT: reservation ${i} is not a pair of u64`, `reservations[${i}]`);
    }
  }
  const table = strings.bytes();
  const offRsv = FDT_HEADER.size;
  const offStruct = offRsv + FDT_RESERVE_ENTRY_SIZE * (tree.reservations.length + 1);
  const offStrings = offStruct + structSize;
  const used = offStrings + table.length;
  const total = options.totalSize ?? used;
  if (!Number.isInteger(total) || total < used || total > 0xffff_ffff) {
    throw new InputError(
      "BAD_VALUE",
      `Cannot serialize FDT to ${total} bytes: the tree needs ${hex(used)}, and totalsize is a u32`,
      "totalsize",
      `Ask for at least ${used} bytes`,
    );
  }

  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let p = offRsv;
  for (const r of tree.reservations) {
    view.setBigUint64(p, r.address, false);
    view.setBigUint64(p + 8, r.size, false);
    p += FDT_RESERVE_ENTRY_SIZE;
  }
  p = offStruct;
  let prop = 0;
  const write = (node: FdtNode): void => {
    view.setUint32(p, FDT_BEGIN_NODE, false);
    p = writeName(out, p + 4, node.name);
    for (const { value } of node.properties) {
      view.setUint32(p, FDT_PROP, false);
      view.setUint32(p + 4, value.length, false);
      view.setUint32(p + 8, nameOffsets[prop++]!, false);
      p += 12;
      // Most values are a few cells; a loop beats TypedArray.set's call cost there.
      if (value.length > 32) out.set(value, p);
      else for (let i = 0; i < value.length; i++) out[p + i] = value[i]!;
      p = align4(p + value.length);
    }
    for (const child of node.children) write(child);
    view.setUint32(p, FDT_END_NODE, false);
    p += 4;
  };
  write(tree.root);
  view.setUint32(p, FDT_END, false);
  out.set(table, offStrings);

  encodeLayout(
    FDT_HEADER,
    {
      magic: FDT_MAGIC,
      totalsize: total,
      off_dt_struct: offStruct,
      off_dt_strings: offStrings,
      off_mem_rsvmap: offRsv,
      version: FDT_VERSION,
      last_comp_version: FDT_LAST_COMP_VERSION,
      boot_cpuid_phys: tree.bootCpuidPhys,
      size_dt_strings: table.length,
      size_dt_struct: structSize,
    },
    out,
  );
  return out;
}

/** dtc's string table: first-use order, reusing any earlier occurrence (also as a tail). */
class StringTable {
  private text = "";
  private readonly known = new Map<string, number>();

  /** The offset of `name`, added if new (and then checked: `where` names it in errors). */
  add(name: string, where: () => string): number {
    let at = this.known.get(name);
    if (at === undefined) {
      checkName(name, where);
      at = this.text.indexOf(name + "\0");
      if (at < 0) {
        at = this.text.length;
        this.text += name + "\0";
      }
      this.known.set(name, at);
    }
    return at;
  }

  bytes(): Uint8Array {
    return Uint8Array.from(Buffer.from(this.text, "latin1"));
  }
}

function checkName(name: string, where: () => string): void {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0 || c > 0xff) {
      throw new InputError("BAD_NAME", `Cannot serialize FDT: the name "${name}" holds character ${hex(c)}, which is not one byte other than NUL`, where());
    }
  }
}

/** Writes a NUL-terminated latin1 name and zero padding; returns the next 4-aligned offset. */
function writeName(out: Uint8Array, at: number, name: string): number {
  for (let i = 0; i < name.length; i++) out[at + i] = name.charCodeAt(i);
  return align4(at + name.length + 1);
}

function align4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

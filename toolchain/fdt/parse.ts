import type { ErrorCode } from "../bytes/index.js";
import { InputError, hex } from "../bytes/index.js";
import { DAMAGED, checkFdtHeader, checkNoOverlap } from "./check.js";
import {
  FDT_BEGIN_NODE,
  FDT_END,
  FDT_END_NODE,
  FDT_MAX_DEPTH,
  FDT_NOP,
  FDT_PROP,
  FDT_RESERVE_ENTRY_SIZE,
} from "./spec.js";
import type { AddrSize, FdtNode, FdtProperty, FdtTree } from "./types.js";

/**
 * Blob to tree. The header and every block are checked against `totalsize`
 * first (check.ts); then the reservation block and the structure block are
 * walked with every read bounded by its block, so nothing allocates more than
 * the input holds.
 */

interface Open {
  readonly name: string;
  /** Numbers the nodes in order, for the duplicate-property check. */
  readonly serial: number;
  readonly properties: FdtProperty[];
  readonly children: FdtNode[];
  /** Names of the children so far; made at the second child. */
  childNames: Set<string> | undefined;
}

/**
 * Parses one flattened device tree of version 17 (or 16). `bytes` must be
 * exactly the blob: no bytes past `totalsize`. `FDT_NOP` tokens are dropped.
 * Property values are views into one private copy of the blob, never into `bytes`.
 * @throws InputError with a byte offset; codes are `FDT_PARSE_ERROR_CODES`.
 */
export function parseFdt(bytes: Uint8Array): FdtTree {
  const h = checkFdtHeader(bytes);
  // One copy at offset 0 of its own buffer (a Node Buffer's slice() would not
  // copy, and may sit inside a shared pool); values are views into it.
  const blob = new Uint8Array(h.totalsize);
  blob.set(bytes.subarray(0, h.totalsize));
  const view = new DataView(blob.buffer);

  // Memory-reservation block: 16-byte entries up to the terminator. libfdt
  // (`fdt_num_mem_rsv`), dtc and the kernel (`early_init_fdt_scan_reserved_mem`)
  // all stop at the first entry whose size is 0, so we do too.
  const reservations: AddrSize[] = [];
  let at = h.off_mem_rsvmap;
  for (;;) {
    if (at + FDT_RESERVE_ENTRY_SIZE > h.totalsize) {
      throw new InputError("BAD_LAYOUT", "Cannot parse FDT reservation block: no terminating entry (size 0) before totalsize", at, DAMAGED);
    }
    const address = view.getBigUint64(at, false);
    const size = view.getBigUint64(at + 8, false);
    at += FDT_RESERVE_ENTRY_SIZE;
    if (size === 0n) break;
    reservations.push({ address, size });
  }
  const rsvEnd = at;

  const root = walkStructure(blob, view, h.off_dt_struct, h.size_dt_struct, h.totalsize, h.off_dt_strings, h.size_dt_strings);
  checkNoOverlap([
    { name: "header", start: 0, end: h.headerSize },
    { name: "reservation block", start: h.off_mem_rsvmap, end: rsvEnd },
    { name: "structure block", start: h.off_dt_struct, end: root.end },
    { name: "strings block", start: h.off_dt_strings, end: h.off_dt_strings + h.size_dt_strings },
  ]);
  return { bootCpuidPhys: h.boot_cpuid_phys, reservations, root: root.node };
}

function walkStructure(
  blob: Uint8Array,
  view: DataView,
  start: number,
  size: number | undefined,
  totalsize: number,
  stringsAt: number,
  stringsSize: number,
): { node: FdtNode; end: number } {
  // Version 16 has no size_dt_struct: the block may run up to totalsize.
  const limit = size === undefined ? totalsize : start + size;
  const names = new Map<number, string>(); // nameoff -> property name
  // Property name -> serial of the last node that had it. A node's properties
  // all come before its children (checked below), so one map serves every node.
  const lastOwner = new Map<string, number>();
  let serial = 0;
  const stack: Open[] = [];
  let root: FdtNode | undefined;
  let p = start;
  const bad: (why: string, where: number, code?: ErrorCode) => never = (why, where, code = "BAD_STRUCTURE") => {
    throw new InputError(code, `Cannot parse FDT structure block: ${why}`, where, DAMAGED);
  };

  for (;;) {
    if (p + 4 > limit) bad("it ends without FDT_END", p);
    const tagAt = p;
    const tag = view.getUint32(p, false);
    p += 4;
    if (tag === FDT_BEGIN_NODE) {
      if (root !== undefined) bad("a second root node follows the first", tagAt);
      const nul = findNul(blob, p, limit);
      if (nul < 0) bad("a node name runs past the end of the block", p, "BAD_STRING");
      const name = latin1(blob, p, nul);
      const parent = stack[stack.length - 1];
      if (parent === undefined && name !== "") bad(`the root node is named "${name}"; it must have an empty name`, p, "BAD_NAME");
      if (parent !== undefined) {
        if (name === "") bad("a child node has an empty name", p, "BAD_NAME");
        const first = parent.children[0];
        if (first !== undefined) {
          parent.childNames ??= new Set([first.name]);
          if (parent.childNames.has(name)) bad(`node "${name}" appears twice in one parent`, tagAt, "DUPLICATE");
          parent.childNames.add(name);
        }
      }
      if (stack.length >= FDT_MAX_DEPTH) {
        throw new InputError(
          "TOO_DEEP",
          `Cannot parse FDT: node "${name}" is nested ${stack.length} levels below the root; the kernel reads at most ${FDT_MAX_DEPTH - 1}`,
          tagAt,
          "Flatten the tree in its source; Linux skips deeper nodes (FDT_MAX_DEPTH in drivers/of/fdt.c)",
        );
      }
      p = align4(nul + 1);
      stack.push({ name, serial: serial++, properties: [], children: [], childNames: undefined });
    } else if (tag === FDT_END_NODE) {
      const open = stack.pop();
      if (open === undefined) bad("FDT_END_NODE without a node to end", tagAt);
      const node: FdtNode = { name: open.name, properties: open.properties, children: open.children };
      const parent = stack[stack.length - 1];
      if (parent === undefined) root = node;
      else parent.children.push(node);
    } else if (tag === FDT_PROP) {
      const node = stack[stack.length - 1];
      if (node === undefined) bad("a property outside any node", tagAt);
      if (node.children.length > 0) bad(`property after child nodes in "${node.name}" (properties come first, DTSpec 5.4.2)`, tagAt);
      if (p + 8 > limit) bad("a property header runs past the end of the block", p);
      const len = view.getUint32(p, false);
      const nameoff = view.getUint32(p + 4, false);
      p += 8;
      if (len > limit - p) bad(`property length ${hex(len)} runs past the end of the block`, p - 8);
      let name = names.get(nameoff);
      if (name === undefined) {
        if (nameoff >= stringsSize) bad(`nameoff ${hex(nameoff)} is outside the ${hex(stringsSize)}-byte strings block`, p - 4, "BAD_STRING");
        const s = stringsAt + nameoff;
        const nul = findNul(blob, s, stringsAt + stringsSize);
        if (nul < 0) bad(`the name at nameoff ${hex(nameoff)} is not NUL-terminated inside the strings block`, p - 4, "BAD_STRING");
        name = latin1(blob, s, nul);
        names.set(nameoff, name);
      }
      if (lastOwner.get(name) === node.serial) bad(`property "${name}" appears twice in node "${node.name}"`, tagAt, "DUPLICATE");
      lastOwner.set(name, node.serial);
      node.properties.push({ name, value: blob.subarray(p, p + len) });
      p = align4(p + len);
    } else if (tag === FDT_NOP) {
      continue;
    } else if (tag === FDT_END) {
      if (stack.length > 0) bad(`FDT_END inside node "${stack[stack.length - 1]!.name}"`, tagAt);
      if (root === undefined) bad("FDT_END before any node", tagAt);
      if (size !== undefined && p !== limit) {
        throw new InputError("TRAILING_DATA", `Cannot parse FDT structure block: ${limit - p} bytes follow FDT_END inside size_dt_struct`, p, DAMAGED);
      }
      return { node: root, end: p };
    } else {
      bad(`unknown token ${hex(tag)}`, tagAt);
    }
    if (p > limit) bad("padding runs past the end of the block", limit);
  }
}

function align4(n: number): number {
  return n + ((4 - (n % 4)) % 4);
}

/** Offset of the first NUL in `[start, end)`, or -1. */
function findNul(b: Uint8Array, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === 0) return i;
  return -1;
}

/** One character per byte, so any name survives a round trip. */
function latin1(b: Uint8Array, start: number, end: number): string {
  if (end - start > 64) return Buffer.from(b.buffer, b.byteOffset + start, end - start).toString("latin1");
  let s = "";
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]!);
  return s;
}

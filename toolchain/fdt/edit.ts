import { InputError, hex } from "../bytes/index.js";
import { type Cells, decodeU32, encodeAddrRanges } from "./encode.js";
import {
  FDT_MAX_DEPTH,
  FDT_MAX_NCELLS,
  OF_ROOT_NODE_ADDR_CELLS_DEFAULT,
  OF_ROOT_NODE_SIZE_CELLS_DEFAULT,
} from "./spec.js";
import type { AddrSize, FdtNode, FdtProperty, FdtTree } from "./types.js";

/**
 * Reading and editing a tree by path. Every edit is a pure function: it
 * returns a new tree that shares all untouched nodes with the old one, and
 * returns the very same tree object when there is nothing to change (so a
 * caller can tell with `===`).
 *
 * Paths are absolute (`/`, `/chosen`, `/soc/serial@9000000`). A component
 * matches a child by its full name; a component without `@` also matches a
 * child `name@unit` when exactly one such child exists (libfdt's
 * `fdt_subnode_offset` takes the first; we refuse to guess).
 *
 * New properties and nodes are appended after their siblings (libfdt puts them
 * first; sibling order carries no meaning in the devicetree).
 */

/** The node at `path`, or undefined. @throws InputError `BAD_PATH`, `AMBIGUOUS`. */
export function findNode(tree: FdtTree, path: string): FdtNode | undefined {
  return locate(tree, path)?.chain.at(-1);
}

/** A property's value, or undefined when the node or the property is absent. @throws InputError `BAD_PATH`, `AMBIGUOUS`. */
export function getProperty(tree: FdtTree, path: string, name: string): Uint8Array | undefined {
  return findNode(tree, path)?.properties.find((p) => p.name === name)?.value;
}

/**
 * Sets a property, replacing it in place or appending it.
 * @throws InputError `NOT_FOUND` (no such node; see `ensureNode`), `BAD_NAME`
 *   (characters outside DTSpec Table 2.2), `BAD_PATH`, `AMBIGUOUS`.
 */
export function setProperty(tree: FdtTree, path: string, name: string, value: Uint8Array): FdtTree {
  const where = join(path, name);
  if (!PROPERTY_NAME.test(name)) {
    throw new InputError("BAD_NAME", `Cannot set ${where}: "${name}" is not a property name`, where, "Use 1 or more of 0-9 a-z A-Z , . _ + ? # - (DTSpec 2.2.4)");
  }
  const found = mustLocate(tree, path, `Cannot set ${where}`);
  return update(tree, found.indices, (node) => {
    const i = node.properties.findIndex((p) => p.name === name);
    const prop: FdtProperty = { name, value };
    const properties = i < 0 ? [...node.properties, prop] : node.properties.map((p, j) => (j === i ? prop : p));
    return { ...node, properties };
  });
}

/** Deletes a property; the same tree when the node or property is absent. @throws InputError `BAD_PATH`, `AMBIGUOUS`. */
export function deleteProperty(tree: FdtTree, path: string, name: string): FdtTree {
  const found = locate(tree, path);
  const node = found?.chain.at(-1);
  if (found === undefined || node === undefined || !node.properties.some((p) => p.name === name)) return tree;
  return update(tree, found.indices, (n) => ({ ...n, properties: n.properties.filter((p) => p.name !== name) }));
}

/**
 * Adds an empty node at `path`; its parent must exist.
 * @throws InputError `EXISTS`, `NOT_FOUND` (parent), `BAD_NAME` (DTSpec
 *   2.2.1: a letter, then 0-9 a-z A-Z , . _ + -, then an optional `@unit`),
 *   `TOO_DEEP`, `BAD_PATH`, `AMBIGUOUS`.
 */
export function addNode(tree: FdtTree, path: string): FdtTree {
  const parts = split(path);
  const name = parts.pop();
  if (name === undefined) throw new InputError("EXISTS", "Cannot add the root node: it always exists", path);
  const parentPath = "/" + parts.join("/");
  const parent = mustLocate(tree, parentPath, `Cannot add ${path}`);
  const node = parent.chain.at(-1)!;
  if (node.children.some((c) => c.name === name)) throw new InputError("EXISTS", `Cannot add ${path}: the node exists`, path);
  if (!NODE_NAME.test(name)) {
    throw new InputError("BAD_NAME", `Cannot add ${path}: "${name}" is not a node name`, path, "Start with a letter, then 0-9 a-z A-Z , . _ + -, optionally @unit-address (DTSpec 2.2.1)");
  }
  if (parts.length >= FDT_MAX_DEPTH) {
    throw new InputError("TOO_DEEP", `Cannot add ${path}: it is ${parts.length + 1} levels below the root; the kernel reads at most ${FDT_MAX_DEPTH - 1}`, path);
  }
  return update(tree, parent.indices, (n) => ({ ...n, children: [...n.children, { name, properties: [], children: [] }] }));
}

/** Adds every missing node along `path` (like `fdtput -p`); the same tree when all exist. Throws as `addNode`. */
export function ensureNode(tree: FdtTree, path: string): FdtTree {
  let prefix = "";
  for (const part of split(path)) {
    prefix += "/" + part;
    if (findNode(tree, prefix) === undefined) tree = addNode(tree, prefix);
  }
  return tree;
}

/** Deletes the node at `path` with its subtree; the same tree when absent. @throws InputError `BAD_PATH` (the root), `AMBIGUOUS`. */
export function deleteNode(tree: FdtTree, path: string): FdtTree {
  const found = locate(tree, path);
  if (found === undefined) return tree;
  const last = found.indices.pop();
  if (last === undefined) throw new InputError("BAD_PATH", "Cannot delete the root node", path);
  return update(tree, found.indices, (n) => ({ ...n, children: n.children.filter((_, i) => i !== last) }));
}

/**
 * Appends a memory-reservation entry.
 * @throws InputError `BAD_VALUE` for size 0 (it would end the list) or a value outside u64.
 */
export function addReservation(tree: FdtTree, entry: AddrSize): FdtTree {
  const where = `reservations[${tree.reservations.length}]`;
  if (entry.size === 0n) throw new InputError("BAD_VALUE", "Cannot add a reservation of size 0: it would end the list", where);
  if (entry.address < 0n || entry.address >> 64n !== 0n || entry.size < 0n || entry.size >> 64n !== 0n) {
    throw new InputError("BAD_VALUE", `Cannot add reservation ${hex(entry.address)}+${hex(entry.size)}: not a pair of u64`, where);
  }
  return { ...tree, reservations: [...tree.reservations, { address: entry.address, size: entry.size }] };
}

/** Removes every reservation entry that `match` selects; the same tree when none does. */
export function removeReservations(tree: FdtTree, match: (entry: AddrSize, index: number) => boolean): FdtTree {
  const kept = tree.reservations.filter((e, i) => !match(e, i));
  return kept.length === tree.reservations.length ? tree : { ...tree, reservations: kept };
}

/**
 * The `#address-cells`/`#size-cells` that apply to `<address size>` values in
 * the node at `path`: the parent's (the root's own for `/`), else the nearest
 * ancestor's, else 1/1. That is how the kernel reads them
 * (`of_bus_n_addr_cells`, drivers/of/base.c; `dt_root_addr_cells`,
 * drivers/of/fdt.c), so `/chosen/linux,elfcorehdr` follows the root.
 * @throws InputError `NOT_FOUND`, `BAD_CELLS` (not one cell, or above 4).
 */
export function cellsFor(tree: FdtTree, path: string): Cells {
  const { chain } = mustLocate(tree, path, `Cannot find the cells for ${path}`);
  const names = split(path);
  const start = Math.max(0, chain.length - 2);
  const read = (prop: "#address-cells" | "#size-cells", fallback: number): [number, string] => {
    for (let i = start; i >= 0; i--) {
      const value = chain[i]!.properties.find((p) => p.name === prop)?.value;
      if (value === undefined) continue;
      const at = "/" + names.slice(0, i).join("/");
      const where = join(at, prop);
      const n = value.length === 4 ? decodeU32(value, where) : -1;
      if (n < 0 || n > FDT_MAX_NCELLS) {
        throw new InputError("BAD_CELLS", `Cannot use ${where}: it must be one u32 cell from 0 to ${FDT_MAX_NCELLS}`, where, `Set ${prop} = <2> (or <1>) there`);
      }
      return [n, at];
    }
    return [fallback, "/"];
  };
  const [addressCells, addressFrom] = read("#address-cells", OF_ROOT_NODE_ADDR_CELLS_DEFAULT);
  const [sizeCells, sizeFrom] = read("#size-cells", OF_ROOT_NODE_SIZE_CELLS_DEFAULT);
  return { addressCells, sizeCells, addressFrom, sizeFrom };
}

/**
 * Sets `name` in the node at `path` to `<address size>` pairs encoded with
 * `cellsFor(tree, path)`: e.g. `/chosen`, `linux,elfcorehdr`.
 * @throws InputError `VALUE_TOO_WIDE` with a hint naming the node to widen, and as `setProperty`.
 */
export function setAddrRanges(tree: FdtTree, path: string, name: string, ranges: readonly AddrSize[]): FdtTree {
  return setProperty(tree, path, name, encodeAddrRanges(ranges, cellsFor(tree, path), join(path, name)));
}

// DTSpec 2.2.1 Table 2.1 (node names) and 2.2.4 Table 2.2 (property names).
const NODE_NAME = /^[A-Za-z][0-9A-Za-z,._+-]*(@[0-9A-Za-z,._+-]+)?$/;
const PROPERTY_NAME = /^[0-9A-Za-z,._+?#-]+$/;

interface Located {
  /** Child index at each level below the root. */
  readonly indices: number[];
  /** The root, then each node along the path. */
  readonly chain: FdtNode[];
}

function split(path: string): string[] {
  if (!path.startsWith("/")) {
    throw new InputError("BAD_PATH", `Cannot use node path "${path}": it is not absolute`, path, "Start it with /, e.g. /chosen");
  }
  if (path === "/") return [];
  const parts = path.slice(1).split("/");
  if (parts.some((p) => p === "")) {
    throw new InputError("BAD_PATH", `Cannot use node path "${path}": it has an empty component`, path, "Write it like /soc/serial@9000000");
  }
  return parts;
}

function locate(tree: FdtTree, path: string): Located | undefined {
  const indices: number[] = [];
  const chain: FdtNode[] = [tree.root];
  let node = tree.root;
  for (const part of split(path)) {
    let i = node.children.findIndex((c) => c.name === part);
    if (i < 0 && !part.includes("@")) {
      const matches = node.children.flatMap((c, j) => (c.name.split("@")[0] === part ? [j] : []));
      if (matches.length > 1) {
        const names = matches.map((j) => node.children[j]!.name).join(", ");
        throw new InputError("AMBIGUOUS", `Cannot use node path "${path}": "${part}" matches ${names}`, path, "Name the node with its unit address");
      }
      i = matches[0] ?? -1;
    }
    if (i < 0) return undefined;
    node = node.children[i]!;
    indices.push(i);
    chain.push(node);
  }
  return { indices, chain };
}

function mustLocate(tree: FdtTree, path: string, doing: string): Located {
  const found = locate(tree, path);
  if (found === undefined) {
    throw new InputError("NOT_FOUND", `${doing}: node ${path} does not exist`, path, "List the nodes with `purgatory fdt dump FILE`");
  }
  return found;
}

/** Rebuilds the nodes along `indices`, applying `fn` to the last one. */
function update(tree: FdtTree, indices: readonly number[], fn: (node: FdtNode) => FdtNode): FdtTree {
  const go = (node: FdtNode, level: number): FdtNode => {
    const i = indices[level];
    if (i === undefined) return fn(node);
    return { ...node, children: node.children.map((c, j) => (j === i ? go(c, level + 1) : c)) };
  };
  return { ...tree, root: go(tree.root, 0) };
}

function join(path: string, name: string): string {
  return (path.endsWith("/") ? path : path + "/") + name;
}

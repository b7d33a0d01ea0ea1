/**
 * Flattened device tree (DTB) library, split by access mode like libfdt:
 * check.ts validates the header and blocks, parse.ts reads a blob into a plain
 * readonly tree, serialize.ts writes one in dtc's layout, edit.ts reads and
 * edits by path with pure functions, encode.ts codes typed values, and
 * dump.ts renders dts text (as dtc does) and JSON data.
 *
 * Typical use (the /chosen edits for kexec):
 *
 *   let t = parseFdt(bytes);
 *   t = ensureNode(t, "/chosen");
 *   t = setProperty(t, "/chosen", "bootargs", encodeString(cmdline));
 *   t = setAddrRanges(t, "/chosen", "linux,elfcorehdr", [{ address, size }]);
 *   t = deleteProperty(t, "/chosen", "linux,initrd-start");
 *   const out = serializeFdt(t);
 */
export * from "./spec.js";
export type { AddrSize, FdtNode, FdtProperty, FdtTree } from "./types.js";
export { checkFdtHeader } from "./check.js";
export type { FdtHeader } from "./check.js";
export { parseFdt } from "./parse.js";
export { serializeFdt } from "./serialize.js";
export type { SerializeOptions } from "./serialize.js";
export {
  addNode,
  addReservation,
  cellsFor,
  deleteNode,
  deleteProperty,
  ensureNode,
  findNode,
  getProperty,
  removeReservations,
  setAddrRanges,
  setProperty,
} from "./edit.js";
export {
  decodeAddrRanges,
  decodeString,
  decodeStrings,
  decodeU32,
  decodeU32s,
  decodeU64,
  decodeU64s,
  encodeAddrRanges,
  encodeString,
  encodeStrings,
  encodeU32,
  encodeU64,
} from "./encode.js";
export type { Cells } from "./encode.js";
export { decodeGuessed, describeFdt, describeProperty, formatDts, formatValue, guessType } from "./dump.js";
export type { BusRange, NodeData, PropertyData, TreeData, ValueType } from "./dump.js";

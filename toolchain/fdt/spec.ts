import { defineLayout } from "../bytes/index.js";
import type { ErrorCode } from "../bytes/index.js";

/**
 * What the Devicetree Specification (v0.4, chapter 5 "Flattened Devicetree
 * (DTB) Format") fixes about the blob, named as in the spec and libfdt's
 * `fdt.h` so each constant can be grepped against them.
 */

export const FDT_MAGIC = 0xd00dfeed;

/** Structure-block tokens (DTSpec 5.4.1). Every token is a big-endian u32, 4-byte aligned. */
export const FDT_BEGIN_NODE = 0x1;
export const FDT_END_NODE = 0x2;
export const FDT_PROP = 0x3;
export const FDT_NOP = 0x4;
export const FDT_END = 0x9;

/** The version we write, and the oldest version it stays compatible with (DTSpec 5.2). */
export const FDT_VERSION = 17;
export const FDT_LAST_COMP_VERSION = 16;
/** The oldest version we read: 16 has the same structure block, only no `size_dt_struct`. */
export const FDT_FIRST_READ_VERSION = 16;

/** Bytes per memory-reservation entry: address u64 + size u64 (DTSpec 5.3). */
export const FDT_RESERVE_ENTRY_SIZE = 16;

/**
 * Deepest node the kernel unflattens: `unflatten_dt_nodes` in drivers/of/fdt.c
 * skips (WARN_ON_ONCE) any node at depth >= 64, counting the root as depth 0.
 * We refuse such trees instead of handing over nodes that silently vanish.
 */
export const FDT_MAX_DEPTH = 64;

/**
 * libfdt's `FDT_MAX_NCELLS`: the largest `#address-cells`/`#size-cells` it
 * accepts (libfdt/fdt_addresses.c).
 */
export const FDT_MAX_NCELLS = 4;

/**
 * Default `#address-cells`/`#size-cells` when no node up to the root has them:
 * the kernel's `OF_ROOT_NODE_ADDR_CELLS_DEFAULT`/`OF_ROOT_NODE_SIZE_CELLS_DEFAULT`
 * (drivers/of/of_private.h), used by `early_init_dt_scan_root` (drivers/of/fdt.c)
 * and `of_bus_n_addr_cells` (drivers/of/base.c); kexec-tools `get_cells_size`
 * also defaults to 1/1. (DTSpec 2.3.5 and libfdt's `fdt_address_cells` say 2
 * address cells; the kernel, which reads /chosen, says 1.)
 */
export const OF_ROOT_NODE_ADDR_CELLS_DEFAULT = 1;
export const OF_ROOT_NODE_SIZE_CELLS_DEFAULT = 1;

const V16_FIELDS = [
  { name: "magic", offset: 0, kind: "u32BE", note: "FDT_MAGIC" },
  { name: "totalsize", offset: 4, kind: "u32BE", note: "bytes, header and all blocks and free space" },
  { name: "off_dt_struct", offset: 8, kind: "u32BE", note: "structure block offset, 4-aligned" },
  { name: "off_dt_strings", offset: 12, kind: "u32BE", note: "strings block offset" },
  { name: "off_mem_rsvmap", offset: 16, kind: "u32BE", note: "reservation block offset, 8-aligned" },
  { name: "version", offset: 20, kind: "u32BE", note: "17 (we read 16 too)" },
  { name: "last_comp_version", offset: 24, kind: "u32BE", note: "16" },
  { name: "boot_cpuid_phys", offset: 28, kind: "u32BE", note: "physical id of the boot CPU" },
  { name: "size_dt_strings", offset: 32, kind: "u32BE", note: "strings block length, bytes" },
] as const;

/** Header of a version 16 blob (36 bytes): no `size_dt_struct`. */
export const FDT_HEADER_V16 = defineLayout("FDT header", 36, V16_FIELDS);

/** Header of a version 17 blob (40 bytes, DTSpec 5.2). */
export const FDT_HEADER = defineLayout("FDT header", 40, [
  ...V16_FIELDS,
  { name: "size_dt_struct", offset: 36, kind: "u32BE", note: "structure block length, bytes (v17)" },
] as const);

/**
 * Every `InputError.code` the FDT library throws, a closed list like libfdt's
 * `FDT_ERR_*`. The first group is all `parseFdt` can throw.
 */
export const FDT_PARSE_ERROR_CODES = [
  "TRUNCATED", // input shorter than the header or than totalsize
  "BAD_MAGIC",
  "BAD_VERSION",
  "BAD_LAYOUT", // a block outside totalsize, misaligned or overlapping
  "TRAILING_DATA", // bytes after totalsize, or after FDT_END in the structure block
  "BAD_STRUCTURE", // tokens out of order: nesting, unknown tag, missing FDT_END
  "BAD_STRING", // a name not NUL-terminated inside its block, or nameoff outside the strings block
  "BAD_NAME", // empty child name, named root, or (edits) characters the spec does not allow
  "DUPLICATE", // two properties or two sibling nodes with one name
  "TOO_DEEP", // nesting beyond FDT_MAX_DEPTH
] as const satisfies readonly ErrorCode[];

export const FDT_ERROR_CODES = [
  ...FDT_PARSE_ERROR_CODES,
  "BAD_PATH", // a node path that is not absolute or has an empty component
  "NOT_FOUND",
  "EXISTS",
  "AMBIGUOUS", // a unit-less path component that matches several nodes
  "BAD_CELLS", // #address-cells/#size-cells not a single cell in 0..FDT_MAX_NCELLS
  "VALUE_TOO_WIDE", // an address or size that does not fit its cells
  "BAD_VALUE", // a value that does not decode as the asked type, or cannot be encoded
] as const satisfies readonly ErrorCode[];


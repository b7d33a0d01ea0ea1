/**
 * The tree model: plain readonly data. Edits are pure functions (edit.ts)
 * that return a new tree sharing every untouched node with the old one, so a
 * value must never be mutated in place, including the bytes of a property.
 *
 * Names are kept byte for byte: each character is one byte (latin1), so a
 * blob's names survive parse and serialize unchanged even when they are not
 * ASCII.
 */

/** One property: its name and raw value (big-endian cells, NUL-terminated strings, ...). */
export interface FdtProperty {
  readonly name: string;
  readonly value: Uint8Array;
}

/**
 * One node. Properties come before children in the blob (DTSpec 5.4.2), and
 * both keep their order. The root's name is "".
 */
export interface FdtNode {
  readonly name: string;
  readonly properties: readonly FdtProperty[];
  readonly children: readonly FdtNode[];
}

/** A physical address and a size, in bytes: a reservation entry or one `<address size>` pair. */
export interface AddrSize {
  readonly address: bigint;
  readonly size: bigint;
}

/** A whole device tree: what a blob holds besides its layout. */
export interface FdtTree {
  /** The header's `boot_cpuid_phys`. */
  readonly bootCpuidPhys: number;
  /** The memory-reservation block, in order, without its (0, 0) terminator. */
  readonly reservations: readonly AddrSize[];
  readonly root: FdtNode;
}

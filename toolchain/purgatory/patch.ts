import { createHash } from "node:crypto";
import { decodeLayout, encodeLayout, hex, InputError, viewOf } from "../bytes/index.js";
import { CONSOLE_KINDS, FLAGS, parseHeader, POLICIES, REGION_ENTRY, REGION_ENTRY_SIZE, SCALAR_SLOTS } from "./abi.js";
import type { Console, ConsoleKind, FlagName, Policy, ScalarSlotName } from "./abi.js";

/**
 * Reading and filling the slots of a built purgatory, from the bytes alone
 * (the header says where each slot is).
 *
 * Regions: `patch` sorts them by start address (then length), because the
 * purgatory hashes them in table order and reports a mismatch by table index;
 * overlapping regions are refused, as the kernel refuses overlapping segments
 * (kernel/kexec_core.c sanity_check_segment_list).
 */

/** One region to verify: `length` bytes (the segment's bufsz) at `start`, and their SHA-256. */
export interface Region {
  readonly start: bigint;
  readonly length: bigint;
  readonly sha256: Uint8Array;
}

/** Every slot's value, decoded. */
export interface SlotValues {
  readonly kernel_entry: bigint;
  readonly dtb_addr: bigint;
  readonly console_kind: ConsoleKind;
  readonly console_base: bigint;
  readonly console_shift: 0 | 2;
  readonly policy: Policy;
  readonly flags: number;
  readonly regions: readonly Region[];
}

/** Slots to change; `regions` rewrites the whole table and region_count. */
export type PatchValues = Partial<SlotValues>;

const PATCHABLE: ReadonlySet<string> = new Set([
  "kernel_entry", "dtb_addr", "console_kind", "console_base", "console_shift", "policy", "flags", "regions",
]);

/** The names of the bits set in a flags value, in bit order. */
export function flagNames(flags: number): FlagName[] {
  return (Object.keys(FLAGS) as FlagName[]).filter((k) => (flags & FLAGS[k]) !== 0);
}

/** The region for `bytes` placed at `start`. */
export function regionOf(start: bigint, bytes: Uint8Array): Region {
  return { start, length: BigInt(bytes.length), sha256: new Uint8Array(createHash("sha256").update(bytes).digest()) };
}

/**
 * Reads every slot.
 * @throws InputError from `parseHeader`, or `BAD_SLOT` for a value outside its range (with its offset).
 */
export function readSlots(blob: Uint8Array): SlotValues {
  const h = parseHeader(blob);
  const v = viewOf(blob);
  const raw = Object.fromEntries(
    SCALAR_SLOTS.map((s) => [s.name, s.kind === "u64LE" ? v.getBigUint64(h[s.field], true) : v.getUint32(h[s.field], true)]),
  ) as Record<ScalarSlotName, bigint | number>;
  const named = <T extends string>(name: ScalarSlotName, at: number, table: Readonly<Record<T, number>>): T => {
    const found = (Object.keys(table) as T[]).find((k) => table[k] === raw[name]);
    if (found === undefined) throw new InputError("BAD_SLOT", `Cannot read slot ${name}: ${String(raw[name])} is not a known value`, at);
    return found;
  };
  const count = raw.region_count as number;
  if (count > h.region_capacity) {
    throw new InputError("BAD_SLOT", `Cannot read slot region_count: ${count} exceeds the table of ${h.region_capacity}`, h.region_count_offset);
  }
  const shift = raw.console_shift as number;
  if (shift !== 0 && shift !== 2) throw new InputError("BAD_SLOT", `Cannot read slot console_shift: ${shift} is not 0 or 2`, h.console_shift_offset);
  const regions = Array.from({ length: count }, (_, i) => decodeLayout(REGION_ENTRY, blob, h.regions_offset + i * REGION_ENTRY_SIZE));
  return {
    kernel_entry: raw.kernel_entry as bigint,
    dtb_addr: raw.dtb_addr as bigint,
    console_kind: named("console_kind", h.console_kind_offset, CONSOLE_KINDS),
    console_base: raw.console_base as bigint,
    console_shift: shift,
    policy: named("policy", h.policy_offset, POLICIES),
    flags: raw.flags as number,
    regions,
  };
}

/**
 * Returns a copy of `blob` with the given slots set. Every value is
 * range-checked; regions are sorted by start address.
 * @throws InputError `NOT_FOUND` for a name that is not a patchable slot,
 *   `BAD_VALUE`, `MISALIGNED`, `BAD_VALUE`, `TOO_MANY_REGIONS`, `OVERLAP`,
 *   with the slot name (or `regions[i]`) as `where`; or `parseHeader`'s errors.
 */
export function patch(blob: Uint8Array, values: PatchValues): Uint8Array {
  const h = parseHeader(blob);
  for (const k of Object.keys(values)) {
    if (!PATCHABLE.has(k)) {
      throw new InputError(
        "NOT_FOUND",
        `Cannot patch slot "${k}": ${k === "region_count" ? "it is written by `regions`" : "the purgatory has no such slot"}`,
        k,
        `Patchable slots: ${[...PATCHABLE].join(", ")}`,
      );
    }
  }
  const now = readSlots(blob);
  const next: SlotValues = { ...now, ...definedOnly(values) };
  checkU64(next.kernel_entry, "kernel_entry");
  checkU64(next.dtb_addr, "dtb_addr");
  if (next.kernel_entry % 4n !== 0n) {
    throw new InputError("MISALIGNED", `Cannot patch kernel_entry ${hex(next.kernel_entry)}: an instruction address is 4-byte aligned`, "kernel_entry");
  }
  if (next.dtb_addr % 8n !== 0n) {
    throw new InputError("MISALIGNED", `Cannot patch dtb_addr ${hex(next.dtb_addr)}: the DTB must be 8-byte aligned (booting.rst)`, "dtb_addr");
  }
  checkConsole({ kind: next.console_kind, base: next.console_base, shift: next.console_shift }, "console");
  if (!(next.policy in POLICIES)) throw new InputError("BAD_VALUE", `Cannot patch policy "${String(next.policy)}"`, "policy", "Use spin or reset");
  const known = Object.values(FLAGS).reduce((a, b) => a | b, 0);
  if (!Number.isInteger(next.flags) || next.flags < 0 || (next.flags & ~known) !== 0) {
    throw new InputError(
      "BAD_VALUE",
      `Cannot patch flags ${String(next.flags)}: only ${Object.entries(FLAGS).map(([k, v]) => `${hex(v)} ${k}`).join(", ")} are defined`,
      "flags",
      "The other bits are reserved and must be 0",
    );
  }
  const regions = sortRegions(next.regions, h.region_capacity);

  const out = blob.slice();
  const v = viewOf(out);
  v.setBigUint64(h.kernel_entry_offset, next.kernel_entry, true);
  v.setBigUint64(h.dtb_addr_offset, next.dtb_addr, true);
  v.setBigUint64(h.console_base_offset, next.console_base, true);
  v.setUint32(h.console_kind_offset, CONSOLE_KINDS[next.console_kind], true);
  v.setUint32(h.console_shift_offset, next.console_shift, true);
  v.setUint32(h.policy_offset, POLICIES[next.policy], true);
  v.setUint32(h.flags_offset, next.flags, true);
  v.setUint32(h.region_count_offset, regions.length, true);
  out.fill(0, h.regions_offset, h.regions_offset + h.region_capacity * REGION_ENTRY_SIZE);
  for (const [i, r] of regions.entries()) encodeLayout(REGION_ENTRY, r, out, h.regions_offset + i * REGION_ENTRY_SIZE);
  return out;
}

/**
 * Checks a console for the slots: a known kind, shift 0 or 2 (8250 only) and
 * a base aligned for the accesses the driver makes.
 * @throws InputError `BAD_CONSOLE` or `MISALIGNED` at `where`.
 */
export function checkConsole(c: Console, where: string): void {
  if (!(c.kind in CONSOLE_KINDS) || (c.shift !== 0 && c.shift !== 2) || (c.kind !== "8250" && c.shift !== 0)) {
    throw new InputError("BAD_CONSOLE", `Cannot use console kind "${String(c.kind)}" with shift ${String(c.shift)}`, where, "Kinds: none, pl011, 8250; shift 2 is for 8250 only");
  }
  checkU64(c.base, where);
  // PL011 registers and shifted 8250 registers take 32-bit accesses, which must be aligned with the MMU off.
  if ((c.kind === "pl011" || (c.kind === "8250" && c.shift === 2)) && c.base % 4n !== 0n) {
    throw new InputError("MISALIGNED", `Cannot use console base ${hex(c.base)}: its 32-bit registers need a 4-byte aligned base`, where, "Give the UART's register base from the device tree");
  }
}

function sortRegions(regions: readonly Region[], capacity: number): Region[] {
  if (regions.length > capacity) {
    throw new InputError("TOO_MANY_REGIONS", `Cannot patch ${regions.length} regions: the table holds ${capacity}`, "regions", "Build the purgatory with more --regions");
  }
  for (const [i, r] of regions.entries()) {
    const where = `regions[${i}]`;
    checkU64(r.start, `${where}.start`);
    checkU64(r.length, `${where}.length`);
    if (r.start + r.length > 1n << 64n) throw new InputError("BAD_VALUE", `Cannot patch ${where}: ${hex(r.start)} + ${hex(r.length)} passes the end of the address space`, where);
    if (!(r.sha256 instanceof Uint8Array) || r.sha256.length !== 32) throw new InputError("BAD_VALUE", `Cannot patch ${where}.sha256: it must be 32 bytes`, `${where}.sha256`);
  }
  const sorted = [...regions].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.length < b.length ? -1 : a.length > b.length ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    const a = sorted[i - 1] as Region;
    const b = sorted[i] as Region;
    if (b.start < a.start + a.length) {
      throw new InputError("OVERLAP", `Cannot patch regions: [${hex(a.start)}, ${hex(a.start + a.length)}) and [${hex(b.start)}, ${hex(b.start + b.length)}) overlap`, "regions");
    }
  }
  return sorted.map((r) => ({ start: r.start, length: r.length, sha256: r.sha256.slice() }));
}

function checkU64(v: unknown, where: string): void {
  if (typeof v !== "bigint" || v < 0n || v >= 1n << 64n) throw new InputError("BAD_VALUE", `Cannot patch ${where}: ${String(v)} is not a u64`, where);
}

function definedOnly(values: PatchValues): PatchValues {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as PatchValues;
}

import { createHash } from "node:crypto";
import { decodeLayout, encodeLayout, hex, InputError, viewOf } from "../bytes/index.js";
import {
  CONSOLE_KINDS, FIXED_CONSOLE_WIDTH, FLAGS, PAGE_TABLE_SIZE, parseHeader, PATCHED_MAGIC, PATCHED_VALUE, POLICIES, PSCI_CONDUITS, REGION_ENTRY,
  REGION_ENTRY_SIZE, SCALAR_SLOTS,
} from "./abi.js";
import type { Console, ConsoleKind, ConsoleShift, ConsoleWidth, FlagName, Policy, PsciConduit, ScalarSlotName } from "./abi.js";

/**
 * Reading and filling the slots of a built purgatory, from the bytes alone
 * (the header says where each slot is).
 *
 * Regions: `patch` sorts them by start address (then length), because the
 * purgatory hashes them in table order and reports a mismatch by table index;
 * overlapping regions are refused, as the kernel refuses overlapping segments
 * (kernel/kexec_core.c sanity_check_segment_list).
 *
 * Slot `patched` is written here and nowhere else (docs/purgatory-abi.md): a
 * patch that gives the load (`kernel_entry` or `regions`) must leave a
 * kernel entry and at least one region, and then marks the blob patched; a
 * patch of the configuration alone (console, policy, psci, flags) leaves an
 * unpatched blob unpatched, so that one assembled blob can be configured
 * first and given its load later (as `purgatoryBlob` and the bundle do).
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
  readonly console_shift: ConsoleShift;
  readonly console_width: ConsoleWidth;
  readonly policy: Policy;
  readonly psci: PsciConduit;
  readonly flags: number;
  /** The memsz the loader gave the purgatory's segment (0: not given). */
  readonly segment_memsz: bigint;
  readonly regions: readonly Region[];
  /** True once a loader has filled the slots (slot `patched` holds PATCHED_MAGIC). */
  readonly patched: boolean;
}

/** Slots to change; `regions` rewrites the whole table and region_count; `patched` follows from the rest. */
export type PatchValues = Partial<Omit<SlotValues, "patched">>;

const PATCHABLE: ReadonlySet<string> = new Set([
  "kernel_entry", "dtb_addr", "console_kind", "console_base", "console_shift", "console_width", "policy", "psci", "flags", "segment_memsz", "regions",
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
  if (shift > 3) throw new InputError("BAD_SLOT", `Cannot read slot console_shift: ${shift} is not 0..3`, h.console_shift_offset);
  const width = raw.console_width as number;
  if (width !== 1 && width !== 4) throw new InputError("BAD_SLOT", `Cannot read slot console_width: ${width} is not 1 or 4`, h.console_width_offset);
  const patched = raw.patched as bigint;
  if (patched !== 0n && patched !== PATCHED_VALUE) {
    throw new InputError("BAD_SLOT", `Cannot read slot patched: ${hex(patched)} is neither 0 nor "${PATCHED_MAGIC}" (${hex(PATCHED_VALUE)})`, h.patched_offset);
  }
  const regions = Array.from({ length: count }, (_, i) => decodeLayout(REGION_ENTRY, blob, h.regions_offset + i * REGION_ENTRY_SIZE));
  return {
    kernel_entry: raw.kernel_entry as bigint,
    dtb_addr: raw.dtb_addr as bigint,
    console_kind: named("console_kind", h.console_kind_offset, CONSOLE_KINDS),
    console_base: raw.console_base as bigint,
    console_shift: shift as ConsoleShift,
    console_width: width as ConsoleWidth,
    policy: named("policy", h.policy_offset, POLICIES),
    psci: named("psci", h.psci_offset, PSCI_CONDUITS),
    flags: raw.flags as number,
    segment_memsz: raw.segment_memsz as bigint,
    regions,
    patched: patched === PATCHED_VALUE,
  };
}

/**
 * Returns a copy of `blob` with the given slots set. Every value is
 * range-checked; regions are sorted by start address. A patch that gives
 * `kernel_entry` or `regions` marks the blob patched (slot `patched`), and
 * must leave it a region to verify and a kernel entry (0 only with a region there).
 * @throws InputError `NOT_FOUND` for a name that is not a patchable slot,
 *   `BAD_VALUE`, `MISALIGNED`, `BAD_CONSOLE`, `NO_PSCI` (policy reset with
 *   psci none), `NO_KERNEL_ENTRY`, `NO_REGIONS`, `TOO_MANY_REGIONS`,
 *   `OVERLAP`, with the slot name (or `regions[i]`) as `where`; or
 *   `parseHeader`'s and `readSlots`' errors.
 */
export function patch(blob: Uint8Array, values: PatchValues): Uint8Array {
  const h = parseHeader(blob);
  for (const k of Object.keys(values)) {
    if (!PATCHABLE.has(k)) {
      const why = k === "region_count" ? "it is written by `regions`" : k === "patched" ? "patch writes it once kernel_entry and regions are given" : "the purgatory has no such slot";
      throw new InputError("NOT_FOUND", `Cannot patch slot "${k}": ${why}`, k, `Patchable slots: ${[...PATCHABLE].join(", ")}`);
    }
  }
  const now = readSlots(blob);
  // A patch that names the console kind gets that kind's shift and width unless it gives them:
  // the fixed ones of PL011, Cadence and none, an 8250's defaults (shift 0, byte accesses).
  const kind = values.console_kind;
  const defaults = kind === undefined ? {} : { console_shift: 0 as const, console_width: kind === "8250" ? 1 as const : FIXED_CONSOLE_WIDTH[kind] ?? 1 };
  const next: SlotValues = { ...now, ...defaults, ...definedOnly(values) };
  checkU64(next.kernel_entry, "kernel_entry");
  checkU64(next.dtb_addr, "dtb_addr");
  if (next.kernel_entry % 4n !== 0n) {
    throw new InputError("MISALIGNED", `Cannot patch kernel_entry ${hex(next.kernel_entry)}: an instruction address is 4-byte aligned`, "kernel_entry");
  }
  if (next.dtb_addr % 8n !== 0n) {
    throw new InputError("MISALIGNED", `Cannot patch dtb_addr ${hex(next.dtb_addr)}: the DTB must be 8-byte aligned (booting.rst)`, "dtb_addr");
  }
  checkConsole({ kind: next.console_kind, base: next.console_base, shift: next.console_shift, width: next.console_width }, "console");
  if (!(next.policy in POLICIES)) throw new InputError("BAD_VALUE", `Cannot patch policy "${String(next.policy)}"`, "policy", "Use spin or reset");
  checkPsci(next.psci, next.policy, "psci");
  const known = Object.values(FLAGS).reduce((a, b) => a | b, 0);
  if (!Number.isInteger(next.flags) || next.flags < 0 || (next.flags & ~known) !== 0) {
    throw new InputError(
      "BAD_VALUE",
      `Cannot patch flags ${String(next.flags)}: only ${Object.entries(FLAGS).map(([k, v]) => `${hex(v)} ${k}`).join(", ")} are defined`,
      "flags",
      "The other bits are reserved and must be 0",
    );
  }
  checkU64(next.segment_memsz, "segment_memsz");
  // kexec segments are whole pages (kernel/kexec_core.c sanity_check_segment_list),
  // and one holds at least its bufsz: the blob. 0 means "not given".
  if (next.segment_memsz % BigInt(PAGE_TABLE_SIZE) !== 0n) {
    throw new InputError("MISALIGNED", `Cannot patch segment_memsz ${hex(next.segment_memsz)}: kexec segments are whole 4 KiB pages`, "segment_memsz",
      "Give the memsz of the purgatory's segment as loaded");
  }
  if (next.segment_memsz !== 0n && next.segment_memsz < BigInt(h.blob_size)) {
    throw new InputError("BAD_VALUE", `Cannot patch segment_memsz ${hex(next.segment_memsz)}: the segment holds the ${hex(h.blob_size)}-byte blob`, "segment_memsz",
      `Give the segment memsz ${hex(h.mem_size)} (the header's mem_size) or more`);
  }
  const regions = sortRegions(next.regions, h.region_capacity);
  const load = values.kernel_entry !== undefined || values.regions !== undefined;
  if (load && regions.length === 0) {
    throw new InputError("NO_REGIONS", "Cannot patch the load: no region to verify, so the purgatory would check nothing", "regions",
      "Give a region per segment (at least the kernel's), e.g. with regionOf(start, bytes)");
  }
  // An entry of 0 is what an unpatched slot holds; it is a real entry only on
  // a board whose RAM starts at 0, with the kernel verified there.
  if (load && next.kernel_entry === 0n && !regions.some((r) => r.start === 0n && r.length > 0n)) {
    throw new InputError("NO_KERNEL_ENTRY", "Cannot patch the load: kernel_entry is 0 and no verified region starts there, so the purgatory would jump to address 0 unchecked",
      "kernel_entry", "Give the kernel's entry address (the kernel segment's start plus text_offset)");
  }

  const out = blob.slice();
  const v = viewOf(out);
  v.setBigUint64(h.kernel_entry_offset, next.kernel_entry, true);
  v.setBigUint64(h.dtb_addr_offset, next.dtb_addr, true);
  v.setBigUint64(h.console_base_offset, next.console_base, true);
  v.setBigUint64(h.segment_memsz_offset, next.segment_memsz, true);
  v.setUint32(h.console_kind_offset, CONSOLE_KINDS[next.console_kind], true);
  v.setUint32(h.console_shift_offset, next.console_shift, true);
  v.setUint32(h.console_width_offset, next.console_width, true);
  v.setUint32(h.policy_offset, POLICIES[next.policy], true);
  v.setUint32(h.psci_offset, PSCI_CONDUITS[next.psci], true);
  v.setUint32(h.flags_offset, next.flags, true);
  v.setUint32(h.region_count_offset, regions.length, true);
  out.fill(0, h.regions_offset, h.regions_offset + h.region_capacity * REGION_ENTRY_SIZE);
  for (const [i, r] of regions.entries()) encodeLayout(REGION_ENTRY, r, out, h.regions_offset + i * REGION_ENTRY_SIZE);
  // A configuration patch keeps kernel_entry and the regions, so a patched blob stays complete.
  v.setBigUint64(h.patched_offset, load || now.patched ? PATCHED_VALUE : 0n, true);
  return out;
}

/**
 * Checks a console for the slots: a known kind; for `8250` a shift 0..3 and
 * a width 1 or 4, 32-bit accesses only at a stride of 4 bytes or more (shift
 * >= 2), so that every register is aligned for its accesses; for the other
 * kinds shift 0 and their fixed width (FIXED_CONSOLE_WIDTH); a base aligned
 * for the accesses the driver makes (with the MMU off, a misaligned access to
 * Device memory faults).
 * @throws InputError `BAD_CONSOLE` or `MISALIGNED` at `where`.
 */
export function checkConsole(c: Console, where: string): void {
  if (!(c.kind in CONSOLE_KINDS)) {
    throw new InputError("BAD_CONSOLE", `Cannot use console kind "${String(c.kind)}"`, where, "Kinds: none, pl011, 8250, cadence");
  }
  if (c.kind === "8250") {
    if (![0, 1, 2, 3].includes(c.shift) || (c.width !== 1 && c.width !== 4)) {
      throw new InputError("BAD_CONSOLE", `Cannot use an 8250 console with shift ${String(c.shift)} and width ${String(c.width)}`, where,
        "Give the device tree's reg-shift (0..3) and reg-io-width (1 or 4)");
    }
    if (c.width === 4 && c.shift < 2) {
      throw new InputError("BAD_CONSOLE", `Cannot use an 8250 console with 32-bit registers at stride ${2 ** c.shift}`, where,
        "32-bit registers (width 4) are 4 bytes apart or more: shift 2 or 3");
    }
  } else if (c.shift !== 0 || c.width !== FIXED_CONSOLE_WIDTH[c.kind]) {
    throw new InputError("BAD_CONSOLE", `Cannot use console kind "${c.kind}" with shift ${String(c.shift)} and width ${String(c.width)}`, where,
      `shift and width are for 8250 only; ${c.kind} takes shift 0 and width ${FIXED_CONSOLE_WIDTH[c.kind]}`);
  }
  checkU64(c.base, where);
  if (c.kind !== "none" && c.base % BigInt(c.width) !== 0n) {
    throw new InputError("MISALIGNED", `Cannot use console base ${hex(c.base)}: its ${8 * c.width}-bit registers need a ${c.width}-byte aligned base`, where,
      "Give the UART's register base from the device tree");
  }
}

/**
 * Checks a PSCI conduit against the failure policy: a reset needs a conduit.
 * @throws InputError `BAD_VALUE` for an unknown conduit, `NO_PSCI` for policy reset with conduit none, at `where`.
 */
export function checkPsci(psci: PsciConduit, policy: Policy, where: string): void {
  if (!(psci in PSCI_CONDUITS)) throw new InputError("BAD_VALUE", `Cannot use PSCI conduit "${String(psci)}"`, where, "Use none, hvc, smc or auto");
  if (psci === "none" && policy === "reset") {
    throw new InputError("NO_PSCI", "Cannot reset on a failure without PSCI: the PSCI conduit is none", where,
      "Give the conduit the target's device tree names in /psci method (hvc or smc), or use the policy spin");
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

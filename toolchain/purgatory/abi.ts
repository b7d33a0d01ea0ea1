import { decodeLayout, defineLayout, fieldWidth, hex, InputError } from "../bytes/index.js";
import type { Record_ } from "../bytes/index.js";

/**
 * The purgatory ABI, version 3: what any loader, in any language, needs to
 * find and fill the slots from the bytes alone. docs/purgatory-abi.md
 * describes it in full, with the run-time behaviour.
 *
 * The blob starts with a header (below): a branch to the entry, the magic
 * "PURGATRY", the ABI version, the blob size, the memory it uses, and the
 * offset of every slot. Slots are little-endian and naturally aligned.
 * templates/purgatory.S lays the header out; `parseHeader` checks every field
 * before anything uses it.
 *
 * Memory: the purgatory uses `mem_size` bytes from its load address: the blob
 * (`blob_size` bytes, whole 4 KiB pages), then the pool its page tables are
 * built in. A loader gives the segment memsz >= mem_size, places it on a
 * 4 KiB boundary, as kexec segments are, and writes that memsz into slot
 * `segment_memsz`: with less, the purgatory hashes with the caches off.
 *
 * Region table: `region_capacity` entries of 48 bytes, of which the first
 * `region_count` are used, sorted by start address (the order they are hashed
 * in). An entry's length is the segment's bufsz, and its SHA-256 is the digest
 * of exactly those bytes, i.e. `sha256sum` of the segment file.
 *
 * Slot `patched` holds PATCHED_MAGIC once a loader has filled kernel_entry,
 * dtb_addr, the region table and segment_memsz; the purgatory refuses to run
 * without it (or with kernel_entry or region_count 0).
 *
 * Flags: the fast path is on unless a flag turns part of it off.
 * `FLAGS.no_mmu` hashes with the MMU and caches off (for platforms where an
 * identity map is unwise); `FLAGS.no_crypto` uses the scalar SHA-256 even on
 * a CPU with the SHA-256 instructions (ID_AA64ISAR0_EL1.SHA2). Other bits
 * must be 0.
 *
 * History: ABI 1 had no mem_size (0x4c was reserved) and flags had to be 0.
 * ABI 2 had a 0x50-byte header, consoles none/pl011/8250 (shift 0 or 2, where
 * 2 meant 32-bit accesses), and chose the PSCI conduit by exception level.
 * ABI 3 adds slots console_width, psci, segment_memsz and patched (their
 * offsets at 0x50..0x5c), the Cadence console, and moves the slots.
 */

export const ABI_VERSION = 3;
export const MAGIC = "PURGATRY";
/** What slot `patched` holds once a loader has filled the slots: these 8 ASCII bytes, i.e. the u64LE 0x2144454843544150. */
export const PATCHED_MAGIC = "PATCHED!";
export const PATCHED_VALUE = 0x2144_4548_4354_4150n;
export const REGION_ENTRY_SIZE = 48;
/** The kernel takes at most 16 segments (KEXEC_SEGMENT_MAX), so a table never needs fewer entries. */
export const MIN_REGIONS = 16;
export const MAX_REGIONS = 256;

export const HEADER = defineLayout("purgatory header", 0x60, [
  { name: "code0", offset: 0x00, kind: "u32LE", note: "b <entry>: a loader may jump to offset 0" },
  { name: "abi_version", offset: 0x04, kind: "u32LE", note: "ABI_VERSION" },
  { name: "magic", offset: 0x08, kind: "bytes", size: 8, note: '"PURGATRY"' },
  { name: "blob_size", offset: 0x10, kind: "u32LE", note: "bytes, whole 4 KiB pages, the zeroed stack included" },
  { name: "header_size", offset: 0x14, kind: "u32LE", note: "0x60" },
  { name: "code_start", offset: 0x18, kind: "u32LE", note: "offset of the entry, the first instruction" },
  { name: "code_end", offset: 0x1c, kind: "u32LE", note: "end of the instructions; data follows" },
  { name: "kernel_entry_offset", offset: 0x20, kind: "u32LE", note: "slot kernel_entry (u64)" },
  { name: "dtb_addr_offset", offset: 0x24, kind: "u32LE", note: "slot dtb_addr (u64)" },
  { name: "console_base_offset", offset: 0x28, kind: "u32LE", note: "slot console_base (u64)" },
  { name: "console_kind_offset", offset: 0x2c, kind: "u32LE", note: "slot console_kind (u32)" },
  { name: "console_shift_offset", offset: 0x30, kind: "u32LE", note: "slot console_shift (u32)" },
  { name: "policy_offset", offset: 0x34, kind: "u32LE", note: "slot policy (u32)" },
  { name: "flags_offset", offset: 0x38, kind: "u32LE", note: "slot flags (u32)" },
  { name: "region_count_offset", offset: 0x3c, kind: "u32LE", note: "slot region_count (u32)" },
  { name: "regions_offset", offset: 0x40, kind: "u32LE", note: "slot regions (table)" },
  { name: "region_capacity", offset: 0x44, kind: "u32LE", note: "entries in the region table" },
  { name: "region_entry_size", offset: 0x48, kind: "u32LE", note: "48" },
  { name: "mem_size", offset: 0x4c, kind: "u32LE", note: "bytes used from the load address: the blob, then the page-table pool" },
  { name: "console_width_offset", offset: 0x50, kind: "u32LE", note: "slot console_width (u32)" },
  { name: "psci_offset", offset: 0x54, kind: "u32LE", note: "slot psci (u32)" },
  { name: "segment_memsz_offset", offset: 0x58, kind: "u32LE", note: "slot segment_memsz (u64)" },
  { name: "patched_offset", offset: 0x5c, kind: "u32LE", note: "slot patched (u64)" },
]);

export type Header = Record_<typeof HEADER.fields>;

export const REGION_ENTRY = defineLayout("purgatory region entry", REGION_ENTRY_SIZE, [
  { name: "start", offset: 0, kind: "u64LE", note: "physical address of the first byte" },
  { name: "length", offset: 8, kind: "u64LE", note: "bytes hashed: the segment's bufsz" },
  { name: "sha256", offset: 16, kind: "bytes", size: 32, note: "SHA-256 of exactly `length` bytes at `start`" },
]);

/**
 * UART families: `pl011` (arm,pl011, arm,sbsa-uart), `8250` (the 16550
 * family: ns16550a, snps,dw-apb-uart, brcm,bcm2835-aux-uart ...), `cadence`
 * (cdns,uart-r1p12, xlnx,xuartps).
 */
export type ConsoleKind = "none" | "pl011" | "8250" | "cadence";
export const CONSOLE_KINDS: Readonly<Record<ConsoleKind, number>> = { none: 0, pl011: 1, "8250": 2, cadence: 3 };
export type ConsoleShift = 0 | 1 | 2 | 3;
/** Register access width in bytes (device tree reg-io-width): 1 byte accesses, 4 32-bit accesses. */
export type ConsoleWidth = 1 | 4;
export type Policy = "spin" | "reset";
export const POLICIES: Readonly<Record<Policy, number>> = { spin: 0, reset: 1 };
/**
 * The PSCI conduit for a reset (device tree /psci `method`): `hvc`, `smc`,
 * `none` (no PSCI: policy reset is impossible), or `auto`, the ABI 2
 * behaviour kept as the default for QEMU virt: SMC at EL2, HVC at EL1.
 * Bundles for real boards give the target's method.
 */
export type PsciConduit = "none" | "hvc" | "smc" | "auto";
export const PSCI_CONDUITS: Readonly<Record<PsciConduit, number>> = { none: 0, hvc: 1, smc: 2, auto: 3 };
export type FlagName = "no_mmu" | "no_crypto";
/** The bits of the flags slot. */
export const FLAGS: Readonly<Record<FlagName, number>> = { no_mmu: 1, no_crypto: 2 };
/** Bytes per page table in the pool (4 KiB granule). */
export const PAGE_TABLE_SIZE = 4096;

/** The scalar slots: name, the header field holding its offset, and its width. */
export const SCALAR_SLOTS = [
  { name: "kernel_entry", field: "kernel_entry_offset", kind: "u64LE", note: "address the kernel is entered at" },
  { name: "dtb_addr", field: "dtb_addr_offset", kind: "u64LE", note: "DTB address, passed in x0 (8-byte aligned)" },
  { name: "console_base", field: "console_base_offset", kind: "u64LE", note: "UART MMIO base" },
  { name: "segment_memsz", field: "segment_memsz_offset", kind: "u64LE", note: "memsz of the purgatory's segment; below mem_size the caches stay off" },
  { name: "patched", field: "patched_offset", kind: "u64LE", note: `"${PATCHED_MAGIC}" once a loader filled the slots; else the purgatory refuses to run` },
  { name: "console_kind", field: "console_kind_offset", kind: "u32LE", note: "0 none, 1 pl011, 2 8250, 3 cadence" },
  { name: "console_shift", field: "console_shift_offset", kind: "u32LE", note: "8250 register shift: 0..3 (reg-shift)" },
  { name: "console_width", field: "console_width_offset", kind: "u32LE", note: "8250 register access width: 1 or 4 bytes (reg-io-width)" },
  { name: "policy", field: "policy_offset", kind: "u32LE", note: "on a failure: 0 spin, 1 reset (PSCI SYSTEM_RESET)" },
  { name: "psci", field: "psci_offset", kind: "u32LE", note: "PSCI conduit: 0 none, 1 hvc, 2 smc, 3 auto (SMC at EL2, HVC at EL1)" },
  { name: "flags", field: "flags_offset", kind: "u32LE", note: "bit 0 no_mmu: caches off while hashing; bit 1 no_crypto: scalar SHA-256" },
  { name: "region_count", field: "region_count_offset", kind: "u32LE", note: "used entries of regions" },
] as const;

export type ScalarSlotName = (typeof SCALAR_SLOTS)[number]["name"];

/**
 * Reads and validates the header: magic, ABI version, sizes, and that every
 * slot lies inside the blob, past the header and naturally aligned.
 * @throws InputError `BAD_MAGIC`, `BAD_ABI`, `SIZE_MISMATCH`, `BAD_HEADER`, `TRUNCATED` with the offset.
 */
export function parseHeader(blob: Uint8Array): Header {
  const h = decodeLayout(HEADER, blob);
  if (new TextDecoder("latin1").decode(h.magic) !== MAGIC) {
    const got = Buffer.from(h.magic).toString("hex");
    throw new InputError("BAD_MAGIC", `Cannot read purgatory header: magic is ${got}, not "${MAGIC}" (${Buffer.from(MAGIC).toString("hex")})`, 0x08, "Is this a purgatory blob from `purgatory build`?");
  }
  if (h.abi_version !== ABI_VERSION) {
    throw new InputError("BAD_ABI", `Cannot read purgatory header: ABI version ${h.abi_version}, this tool knows ${ABI_VERSION}`, 0x04, "Rebuild the purgatory with this tool");
  }
  if (h.blob_size !== blob.length) {
    throw new InputError(
      "SIZE_MISMATCH",
      `Cannot read purgatory: header says ${hex(h.blob_size)} bytes, the file has ${hex(blob.length)}`,
      0x10,
      h.blob_size < blob.length ? "Remove the trailing bytes" : "The file is truncated",
    );
  }
  const bad = (field: string, why: string): never => {
    const f = HEADER.fields.find((x) => x.name === field);
    throw new InputError("BAD_HEADER", `Cannot read purgatory header: ${field} ${why}`, f?.offset);
  };
  if (h.header_size !== HEADER.size) bad("header_size", `is ${hex(h.header_size)}, expected ${hex(HEADER.size)}`);
  if (h.region_entry_size !== REGION_ENTRY_SIZE) bad("region_entry_size", `is ${h.region_entry_size}, expected ${REGION_ENTRY_SIZE}`);
  if (h.region_capacity < 1 || h.region_capacity > MAX_REGIONS) bad("region_capacity", `${h.region_capacity} is outside 1..${MAX_REGIONS}`);
  if (h.blob_size % PAGE_TABLE_SIZE !== 0) bad("blob_size", `${hex(h.blob_size)} is not a whole number of 4 KiB pages`);
  if (h.mem_size < h.blob_size || (h.mem_size - h.blob_size) % PAGE_TABLE_SIZE !== 0) {
    bad("mem_size", `${hex(h.mem_size)} is not the blob size ${hex(h.blob_size)} plus whole 4 KiB page tables`);
  }
  if (!(h.code_start >= HEADER.size && h.code_start <= h.code_end && h.code_end <= blob.length && h.code_start % 4 === 0 && h.code_end % 4 === 0)) {
    bad("code_start", `${hex(h.code_start)}..${hex(h.code_end)} is not a word-aligned range inside the blob`);
  }
  const check = (field: string, at: number, size: number, align: number): void => {
    if (at < HEADER.size || at + size > blob.length || at % align !== 0) {
      bad(field, `${hex(at)} does not hold ${size} bytes aligned to ${align} inside the blob`);
    }
  };
  for (const s of SCALAR_SLOTS) {
    const w = fieldWidth({ name: s.name, offset: 0, kind: s.kind, note: "" });
    check(s.field, h[s.field], w, w);
  }
  check("regions_offset", h.regions_offset, h.region_capacity * REGION_ENTRY_SIZE, 8);
  return h;
}

/** One header field for a listing: offset in bytes, name, value (numbers in hex, the magic as text) and note. */
export interface HeaderRow {
  readonly offset: number;
  readonly field: string;
  readonly value: string;
  readonly note: string;
}

/** The header as rows, in offset order (for `purgatory inspect` and golden dumps). */
export function headerRows(h: Header): HeaderRow[] {
  return HEADER.fields.map((f) => {
    const v = (h as Record<string, number | Uint8Array>)[f.name];
    const value = v instanceof Uint8Array ? JSON.stringify(new TextDecoder("latin1").decode(v)) : hex(v ?? 0);
    return { offset: f.offset, field: f.name, value, note: f.note };
  });
}

/** The slot map: where each slot is, for loaders that do not parse the header (JSON-ready). */
export interface SlotMap {
  readonly abi: number;
  readonly magic: string;
  readonly size: number;
  /** Bytes of memory the purgatory uses from its load address (the segment's memsz at least). */
  readonly memsz: number;
  /** Offset to jump to (the header's first word branches to the code). */
  readonly entry: number;
  readonly code: { readonly start: number; readonly end: number };
  readonly slots: Readonly<Record<ScalarSlotName, { readonly offset: number; readonly type: "u64le" | "u32le"; readonly note: string }>>;
  readonly regions: {
    readonly offset: number;
    readonly capacity: number;
    readonly stride: number;
    readonly fields: Readonly<Record<string, { readonly offset: number; readonly type: string; readonly size: number }>>;
  };
  readonly values: {
    readonly console_kind: Readonly<Record<ConsoleKind, number>>;
    readonly policy: Readonly<Record<Policy, number>>;
    readonly psci: Readonly<Record<PsciConduit, number>>;
    readonly flags: Readonly<Record<FlagName, number>>;
    /** The value of slot `patched` once patched, as hex. */
    readonly patched: string;
  };
}

/** Builds the slot map of a validated header. */
export function slotMap(h: Header): SlotMap {
  const slots = Object.fromEntries(
    SCALAR_SLOTS.map((s) => [s.name, { offset: h[s.field], type: s.kind === "u64LE" ? "u64le" : "u32le", note: s.note }]),
  ) as SlotMap["slots"];
  const fields = Object.fromEntries(
    REGION_ENTRY.fields.map((f) => [f.name, { offset: f.offset, type: f.kind === "bytes" ? "bytes" : "u64le", size: fieldWidth(f) }]),
  );
  return {
    abi: h.abi_version,
    magic: MAGIC,
    size: h.blob_size,
    memsz: h.mem_size,
    entry: 0,
    code: { start: h.code_start, end: h.code_end },
    slots,
    regions: { offset: h.regions_offset, capacity: h.region_capacity, stride: h.region_entry_size, fields },
    values: { console_kind: CONSOLE_KINDS, policy: POLICIES, psci: PSCI_CONDUITS, flags: FLAGS, patched: hex(PATCHED_VALUE) },
  };
}

/**
 * A console: the UART kind, its MMIO base, and for `8250` the register shift
 * and access width (device tree reg-shift and reg-io-width). The other kinds
 * have fixed values: shift 0, and width 4 (PL011 and Cadence registers are
 * 32-bit) or 1 (`none`).
 */
export interface Console {
  readonly kind: ConsoleKind;
  readonly base: bigint;
  readonly shift: ConsoleShift;
  readonly width: ConsoleWidth;
}

/** The width the slot holds for each kind; `8250`'s is chosen per UART. */
export const FIXED_CONSOLE_WIDTH: Readonly<Record<Exclude<ConsoleKind, "8250">, ConsoleWidth>> = { none: 1, pl011: 4, cadence: 4 };

/** QEMU virt's PL011. */
export const DEFAULT_CONSOLE: Console = { kind: "pl011", base: 0x0900_0000n, shift: 0, width: 4 };

const CONSOLE_HINT =
  "Use none, pl011@ADDR (e.g. pl011@0x9000000), cadence@ADDR (e.g. cadence@0xff000000), or 8250@ADDR[,shift=N][,width=N] " +
  "with the device tree's reg-shift (0..3) and reg-io-width (1 or 4), e.g. 8250@0x1c28000,shift=2,width=4";

/**
 * Parses `none`, `pl011@ADDR`, `cadence@ADDR` or `8250@ADDR[,shift=N][,width=N]`
 * (ADDR in hex with 0x, or decimal; shift 0..3, default 0; width 1 or 4,
 * default 1, as Linux defaults reg-io-width). Only the syntax is checked here;
 * `checkConsole` checks the combination.
 * @throws InputError `BAD_CONSOLE` naming the accepted forms.
 */
export function parseConsole(text: string): Console {
  if (text === "none") return { kind: "none", base: 0n, shift: 0, width: 1 };
  const bad = (): never => {
    throw new InputError("BAD_CONSOLE", `Cannot use console "${text}"`, "--console", CONSOLE_HINT);
  };
  const m = /^(pl011|8250|cadence)@(0x[0-9a-fA-F]+|[0-9]+)((?:,[a-z]+=[0-9]+)*)$/.exec(text) ?? bad();
  const kind = m[1] as Exclude<ConsoleKind, "none">;
  const base = BigInt(m[2] ?? "0");
  if (base >= 1n << 64n) bad();
  const options = new Map<string, string>();
  for (const part of (m[3] ?? "").split(",").slice(1)) {
    const [key = "", value = ""] = part.split("=");
    if (options.has(key) || kind !== "8250") bad();
    options.set(key, value);
  }
  const shift = Number(options.get("shift") ?? "0");
  const width = Number(options.get("width") ?? "1");
  options.delete("shift");
  options.delete("width");
  if (options.size > 0 || ![0, 1, 2, 3].includes(shift) || ![1, 4].includes(width)) bad();
  if (kind !== "8250") return { kind, base, shift: 0, width: FIXED_CONSOLE_WIDTH[kind] };
  return { kind, base, shift: shift as ConsoleShift, width: width as ConsoleWidth };
}

/** The inverse of `parseConsole`: shift and width only where they differ from the defaults. */
export function formatConsole(c: Console): string {
  if (c.kind === "none") return "none";
  const extra = c.kind === "8250" ? `${c.shift !== 0 ? `,shift=${c.shift}` : ""}${c.width !== 1 ? `,width=${c.width}` : ""}` : "";
  return `${c.kind}@${hex(c.base)}${extra}`;
}

import { createHash } from "node:crypto";
import { hex, InputError } from "../bytes/index.js";
import { getAssembler, keystoneWasmVersion } from "../asm/index.js";
import type { Assembly, SourceLine } from "../asm/index.js";
import {
  CONSOLE_KINDS, DEFAULT_CONSOLE, FLAGS, MAX_REGIONS, MIN_REGIONS, PAGE_TABLE_SIZE, parseHeader, POLICIES, PSCI_CONDUITS, REGION_ENTRY_SIZE, SCALAR_SLOTS,
  slotMap,
} from "./abi.js";
import type { Console, Header, Policy, PsciConduit, SlotMap } from "./abi.js";
import { checkConsole, checkPsci } from "./patch.js";
import { expandTemplateFile } from "./template.js";

/**
 * Page tables in the pool by default (4 KiB each, 128 KiB). The identity map
 * takes a level-0 table, a level-1 table per 512 GiB span, a level-2 table per
 * 1 GiB and a level-3 table per 2 MiB that a range starts or ends inside of.
 * A kexec load's segments lie within a few GiB and need about 10-15; 16
 * regions scattered over separate GiBs could need up to 2 + 4 × 17 = 70. A
 * map that needs more than the pool holds makes the purgatory hash with the
 * caches off, and say so on the console.
 */
export const DEFAULT_PAGE_TABLES = 32;
export const MAX_PAGE_TABLES = 4096;

/** What `build` makes the purgatory from; every field has a default. */
export interface BuildOptions {
  /** Region table capacity, MIN_REGIONS..MAX_REGIONS (default 16). */
  readonly regions?: number;
  /** Initial console slots (default PL011 at 0x09000000, QEMU virt's UART). */
  readonly console?: Console;
  /** Initial failure policy (default "spin", as kexec-tools does). */
  readonly policy?: Policy;
  /** Initial PSCI conduit for a reset (default "auto": SMC at EL2, HVC at EL1, as QEMU virt answers). */
  readonly psci?: PsciConduit;
  /** Hash with the MMU and caches on when the map can be built (default true; false sets flag no_mmu). */
  readonly mmu?: boolean;
  /** Use the SHA-256 instructions when the CPU has them (default true; false sets flag no_crypto). */
  readonly crypto?: boolean;
  /** Page tables (4 KiB each) in the pool past the blob, 0..MAX_PAGE_TABLES (default DEFAULT_PAGE_TABLES). */
  readonly pageTables?: number;
  /**
   * Address the code is assembled for (default 0). The bytes do not depend on
   * it for any 16-byte-aligned address: the blob is position-independent.
   */
  readonly assembleAt?: bigint;
}

export interface Build {
  readonly blob: Uint8Array;
  /** Bytes the purgatory uses from its load address, page-table pool included: its segment's memsz (a multiple of 4 KiB). */
  readonly memsz: bigint;
  readonly header: Header;
  readonly slots: SlotMap;
  /** SHA-256 of the blob, hex. */
  readonly sha256: string;
  /** The assembler that made it, e.g. "keystone-wasm 1.0.4 (keystone 0.9)". */
  readonly assembler: string;
  /** The expanded source and its assembly (statements with offsets, labels), for listings and tests. */
  readonly source: readonly SourceLine[];
  readonly assembly: Assembly;
}

/**
 * Assembles templates/purgatory.S with the given parameters. Deterministic:
 * the blob is a function of the options, the sources and Keystone alone.
 * @throws InputError `BAD_VALUE`, `BAD_CONSOLE`, `MISALIGNED`, `NO_PSCI` for bad options, or the assembler's errors.
 */
export async function build(options: BuildOptions = {}): Promise<Build> {
  const regions = options.regions ?? MIN_REGIONS;
  const console = options.console ?? DEFAULT_CONSOLE;
  const policy = options.policy ?? "spin";
  const psci = options.psci ?? "auto";
  const pageTables = options.pageTables ?? DEFAULT_PAGE_TABLES;
  if (!Number.isInteger(regions) || regions < MIN_REGIONS || regions > MAX_REGIONS) {
    throw new InputError("BAD_VALUE", `Cannot build a purgatory with ${regions} regions`, "regions", `Use ${MIN_REGIONS}..${MAX_REGIONS}`);
  }
  checkConsole(console, "console");
  if (!(policy in POLICIES)) throw new InputError("BAD_VALUE", `Cannot use failure policy "${String(policy)}"`, "policy", "Use spin or reset");
  checkPsci(psci, policy, "psci");
  if (!Number.isInteger(pageTables) || pageTables < 0 || pageTables > MAX_PAGE_TABLES) {
    throw new InputError("BAD_VALUE", `Cannot build a purgatory with ${pageTables} page tables`, "pageTables", `Use 0..${MAX_PAGE_TABLES} (0: the MMU always stays off)`);
  }

  const source = expandTemplateFile("purgatory.S", {
    regions,
    region_bytes: regions * REGION_ENTRY_SIZE,
    console_kind: CONSOLE_KINDS[console.kind],
    console_base: console.base,
    console_shift: console.shift,
    console_width: console.width,
    policy: POLICIES[policy],
    psci: PSCI_CONDUITS[psci],
    flags: (options.mmu === false ? FLAGS.no_mmu : 0) | (options.crypto === false ? FLAGS.no_crypto : 0),
    pool_bytes: pageTables * PAGE_TABLE_SIZE,
  });
  const assembler = await getAssembler();
  const asm = await assembler.assemble(source, { address: options.assembleAt ?? 0n });
  const blob = asm.bytes;
  const header = parseHeader(blob);
  // The template lays out what abi.ts declares; a disagreement is a bug here, not bad input.
  for (const s of SCALAR_SLOTS) {
    if (asm.labels.get(`slot_${s.name}`) !== header[s.field]) throw new Error(`templates/purgatory.S: slot_${s.name} disagrees with the header`);
  }
  if (asm.labels.get("slot_regions") !== header.regions_offset || header.region_capacity !== regions) {
    throw new Error(`templates/purgatory.S: the region table disagrees with the header (capacity ${hex(header.region_capacity)})`);
  }
  return {
    blob,
    memsz: BigInt(header.mem_size),
    header,
    slots: slotMap(header),
    sha256: createHash("sha256").update(blob).digest("hex"),
    assembler: `keystone-wasm ${keystoneWasmVersion()} (keystone ${assembler.keystoneVersion})`,
    source,
    assembly: asm,
  };
}

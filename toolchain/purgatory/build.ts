import { createHash } from "node:crypto";
import { hex, InputError } from "../bytes/index.js";
import { getAssembler } from "../asm/index.js";
import type { Assembly, SourceLine } from "../asm/index.js";
import { CONSOLE_KINDS, DEFAULT_CONSOLE, MAX_REGIONS, MIN_REGIONS, parseHeader, POLICIES, REGION_ENTRY_SIZE, SCALAR_SLOTS, slotMap } from "./abi.js";
import type { Console, Header, Policy, SlotMap } from "./abi.js";
import { checkConsole } from "./patch.js";
import { expandTemplateFile } from "./template.js";

/** What `build` makes the purgatory from; every field has a default. */
export interface BuildOptions {
  /** Region table capacity, MIN_REGIONS..MAX_REGIONS (default 16). */
  readonly regions?: number;
  /** Initial console slots (default PL011 at 0x09000000, QEMU virt's UART). */
  readonly console?: Console;
  /** Initial failure policy (default "spin", as kexec-tools does). */
  readonly policy?: Policy;
  /**
   * Address the code is assembled for (default 0). The bytes do not depend on
   * it for any 16-byte-aligned address: the blob is position-independent.
   */
  readonly assembleAt?: bigint;
}

export interface Build {
  readonly blob: Uint8Array;
  readonly header: Header;
  readonly slots: SlotMap;
  /** SHA-256 of the blob, hex. */
  readonly sha256: string;
  /** The assembler that made it, e.g. "keystone 0.9". */
  readonly assembler: string;
  /** The expanded source and its assembly (statements with offsets, labels), for listings and tests. */
  readonly source: readonly SourceLine[];
  readonly assembly: Assembly;
}

/**
 * Assembles templates/purgatory.S with the given parameters. Deterministic:
 * the blob is a function of the options, the sources and Keystone alone.
 * @throws InputError `BAD_REGIONS`, `BAD_CONSOLE` for bad options, or the assembler's errors.
 */
export async function build(options: BuildOptions = {}): Promise<Build> {
  const regions = options.regions ?? MIN_REGIONS;
  const console = options.console ?? DEFAULT_CONSOLE;
  const policy = options.policy ?? "spin";
  if (!Number.isInteger(regions) || regions < MIN_REGIONS || regions > MAX_REGIONS) {
    throw new InputError("BAD_REGIONS", `Cannot build a purgatory with ${regions} regions`, "regions", `Use ${MIN_REGIONS}..${MAX_REGIONS}`);
  }
  checkConsole(console, "console");
  if (!(policy in POLICIES)) throw new InputError("BAD_POLICY", `Cannot use failure policy "${String(policy)}"`, "policy", "Use spin or reset");

  const source = expandTemplateFile("purgatory.S", {
    regions,
    region_bytes: regions * REGION_ENTRY_SIZE,
    console_kind: CONSOLE_KINDS[console.kind],
    console_base: console.base,
    console_shift: console.shift,
    policy: POLICIES[policy],
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
    header,
    slots: slotMap(header),
    sha256: createHash("sha256").update(blob).digest("hex"),
    assembler: `keystone ${assembler.keystoneVersion}`,
    source,
    assembly: asm,
  };
}

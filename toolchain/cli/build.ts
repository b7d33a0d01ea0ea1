import type { Argv, CommandModule } from "yargs";
import {
  build, DEFAULT_PAGE_TABLES, flagNames, formatConsole, MAX_PAGE_TABLES, MAX_REGIONS, MIN_REGIONS, parseConsole, readSlots,
} from "../purgatory/index.js";
import type { Policy, PsciConduit, SlotMap } from "../purgatory/index.js";
import { writeAtomically } from "./_files.js";
import { report, run, stableJson } from "./_run.js";

/**
 * `purgatory build`: assemble the purgatory blob (Keystone, every statement
 * checked) and write it with its slot map.
 */

interface Args {
  console: string;
  "on-mismatch": Policy;
  psci: PsciConduit;
  regions: number;
  mmu: boolean;
  crypto: boolean;
  "page-tables": number;
  output: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "build",
  describe: "Assemble the purgatory blob and write it with its slot map",
  builder: (y) =>
    y
      .usage(
        "$0 build [--console KIND@ADDR[,shift=N][,width=N]|none] [--on-mismatch spin|reset] [--psci hvc|smc|auto|none]\n" +
          "          [--regions N] [--no-mmu] [--no-crypto] [--page-tables N] -o purgatory.bin [--json]\n\n" +
          "Assembles templates/purgatory.S (purgatory-src/*.S) into a position-independent blob that\n" +
          "verifies the SHA-256 of every region (a segment's bufsz bytes) in ascending address order,\n" +
          "then enters the kernel with x0 = DTB, x1..x3 = 0, MMU and caches off, at the EL it was\n" +
          "entered at. On a mismatch it names the region and both digests on the console, then spins\n" +
          "(wfi) or resets through PSCI SYSTEM_RESET over the --psci conduit; the kernel never runs. Its own\n" +
          "exception vectors report any fault (exception class, ESR, FAR, ELR) and fail the same way.\n" +
          "The console drivers: pl011 (also arm,sbsa-uart), 8250 (16550 family; shift and width are the\n" +
          "device tree's reg-shift and reg-io-width) and cadence (xlnx,xuartps); every wait is bounded.\n\n" +
          "The fast path is chosen at run time: the SHA-256 instructions when ID_AA64ISAR0_EL1.SHA2 says\n" +
          "the CPU has them (else scalar code), and hashing with the MMU and caches on through an identity\n" +
          "map built in a page-table pool after the blob (at EL1 or EL2, VHE included; else caches off, and\n" +
          "the console says why). --no-mmu and --no-crypto set the flags slot to turn either off. The\n" +
          "purgatory's segment needs memsz = the reported memsz (blob plus pool), given in slot segment_memsz.\n\n" +
          "The blob starts with a header (branch, magic \"PURGATRY\", ABI version, the offset of every\n" +
          "slot), so a loader can patch kernel_entry, dtb_addr, segment_memsz and the region table from\n" +
          "the bytes alone (docs/purgatory-abi.md); until it does, the blob refuses to run. The console,\n" +
          "policy and conduit given here are only the slots' initial values.\n" +
          "Writes the blob and, beside it, OUTPUT.json (the slot map); with --json the slot map is\n" +
          "printed in the report instead. Both writes are atomic.",
      )
      .option("console", {
        type: "string",
        default: "pl011@0x9000000",
        describe: "UART for messages: pl011@ADDR, cadence@ADDR, 8250@ADDR[,shift=0..3][,width=1|4] or none (QEMU virt: pl011@0x9000000)",
      })
      .option("on-mismatch", { choices: ["spin", "reset"] as const, default: "spin" as Policy, describe: "What to do when a digest differs" })
      .option("psci", {
        choices: ["auto", "hvc", "smc", "none"] as const,
        default: "auto" as PsciConduit,
        describe: "PSCI conduit for a reset: the target's /psci method; auto = SMC at EL2, HVC at EL1 (QEMU virt); none: no reset",
      })
      .option("regions", { type: "number", default: MIN_REGIONS, describe: `Region table entries (${MIN_REGIONS}..${MAX_REGIONS})` })
      .option("mmu", { type: "boolean", default: true, describe: "Hash with the MMU and caches on when possible (--no-mmu: flag no_mmu)" })
      .option("crypto", { type: "boolean", default: true, describe: "Use the SHA-256 instructions when the CPU has them (--no-crypto: flag no_crypto)" })
      .option("page-tables", {
        type: "number",
        default: DEFAULT_PAGE_TABLES,
        describe: `4 KiB page tables in the pool after the blob (0..${MAX_PAGE_TABLES}); a map that needs more runs with caches off`,
      })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Where to write the blob" })
      .option("json", { type: "boolean", describe: "Print the report and slot map as JSON (no OUTPUT.json)" })
      .example("$0 build -o purgatory.bin", "PL011 at 0x9000000, spin on a mismatch, 16 regions")
      .example("$0 build --console 8250@0x1c28000,shift=2,width=4 --on-mismatch reset --psci smc -o p.bin", "a DesignWare 8250, reset over SMC")
      .example("$0 build --console cadence@0xff000000 --psci smc -o p.bin", "a ZynqMP's first UART")
      .example("$0 build --no-mmu -o p.bin", "hash with the caches off (the SHA-256 instructions still used)") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const b = await build({
        regions: argv.regions, console: parseConsole(argv.console), policy: argv["on-mismatch"], psci: argv.psci,
        mmu: argv.mmu, crypto: argv.crypto, pageTables: argv["page-tables"],
      });
      writeAtomically(argv.output, b.blob);
      const mapFile = argv.json === true ? undefined : `${argv.output}.json`;
      if (mapFile !== undefined) writeAtomically(mapFile, stableJson(b.slots) + "\n");
      const data: Report = {
        output: argv.output,
        size: BigInt(b.blob.length),
        memsz: b.memsz,
        sha256: b.sha256,
        assembler: b.assembler,
        console: formatConsole(parseConsole(argv.console)),
        onMismatch: argv["on-mismatch"],
        psci: argv.psci,
        regions: b.header.region_capacity,
        flags: flagNames(readSlots(b.blob).flags),
        ...(mapFile === undefined ? { slots: b.slots } : { slotMap: mapFile }),
      };
      report(argv, data, text);
    }),
};
export default command;

interface Report {
  output: string;
  size: bigint;
  memsz: bigint;
  sha256: string;
  assembler: string;
  console: string;
  onMismatch: Policy;
  psci: PsciConduit;
  regions: number;
  flags: string[];
  slotMap?: string;
  slots?: SlotMap;
}

function text(r: Report): string {
  return [
    `wrote ${r.output}: ${r.size} bytes, sha256 ${r.sha256} (${r.assembler})`,
    `  memsz ${r.memsz} bytes (the blob and its page-table pool): give the segment at least this`,
    `  console ${r.console}, on mismatch ${r.onMismatch}, psci ${r.psci}, ${r.regions} regions, flags ${r.flags.length === 0 ? "none (fast path)" : r.flags.join(", ")}`,
    `  slot map: ${r.slotMap ?? "(in the JSON report)"}`,
  ].join("\n");
}

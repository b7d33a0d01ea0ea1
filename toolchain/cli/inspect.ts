import { createHash } from "node:crypto";
import type { Argv, CommandModule } from "yargs";
import { hex, hex64, InputError } from "../bytes/index.js";
import { disassemble } from "../asm/index.js";
import type { DisasmLine } from "../asm/index.js";
import { checkConsole, flagNames, formatConsole, headerRows, parseHeader, PATCHED_MAGIC, readSlots, slotMap } from "../purgatory/index.js";
import type { HeaderRow, SlotMap, SlotValues } from "../purgatory/index.js";
import { readInput } from "./_files.js";
import { report, run } from "./_run.js";

/** `purgatory inspect`: the header, every slot with its value, and a disassembly of the code. */

interface Args {
  file: string;
  disasm: boolean;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "inspect <file>",
  describe: "Show a purgatory blob's header, slot values and disassembly",
  builder: (y) =>
    y
      .usage(
        "$0 inspect purgatory.bin [--no-disasm] [--json]\n\n" +
          "Checks the header (magic, ABI version, size, every slot inside the blob and aligned), then\n" +
          "prints the header fields with their offsets, each slot's offset and value (the region table\n" +
          "with start, length and SHA-256 of every used entry), and a Capstone disassembly of the code\n" +
          "range named by the header, at offsets from the start of the blob.",
      )
      .positional("file", { type: "string", demandOption: true, describe: "The blob (from `purgatory build`, patched or not)" })
      .option("disasm", { type: "boolean", default: true, describe: "Include the disassembly (--no-disasm to leave it out)" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" })
      .example("$0 inspect purgatory.bin", "header, slots, code")
      .example("$0 inspect purgatory.bin --no-disasm --json", "header and slots for a script") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const blob = readInput(argv.file);
      const h = parseHeader(blob);
      const data: Report = {
        file: argv.file,
        size: BigInt(blob.length),
        sha256: createHash("sha256").update(blob).digest("hex"),
        header: headerRows(h),
        slotMap: slotMap(h),
        slots: readSlots(blob),
        ...(argv.disasm ? { disassembly: await disassemble(blob, { start: h.code_start, end: h.code_end }) } : {}),
      };
      report(argv, data, text);
    }),
};
export default command;

interface Report {
  file: string;
  size: bigint;
  sha256: string;
  header: HeaderRow[];
  slotMap: SlotMap;
  slots: SlotValues;
  disassembly?: DisasmLine[];
}

function text(r: Report): string {
  const at = (n: number): string => `@${hex(n)}`.padEnd(7);
  const m = r.slotMap.slots;
  const s = r.slots;
  const lines = [
    `${r.file}: purgatory ABI ${r.slotMap.abi}, ${r.size} bytes (memsz ${r.slotMap.memsz}), sha256 ${r.sha256}`,
    "header:",
    ...r.header.map((f) => `  ${hex(f.offset).padEnd(5)} ${f.field.padEnd(21)} ${f.value.padEnd(11)} ${f.note}`),
    "slots:",
    `  kernel_entry  ${at(m.kernel_entry.offset)} ${hex64(s.kernel_entry)}`,
    `  dtb_addr      ${at(m.dtb_addr.offset)} ${hex64(s.dtb_addr)}`,
    `  console_base  ${at(m.console_base.offset)} ${hex64(s.console_base)}`,
    `  console_kind  ${at(m.console_kind.offset)} ${s.console_kind}`,
    `  console_shift ${at(m.console_shift.offset)} ${s.console_shift}`,
    `  console_width ${at(m.console_width.offset)} ${s.console_width}   (console ${consoleText(s)})`,
    `  policy        ${at(m.policy.offset)} ${s.policy}`,
    `  psci          ${at(m.psci.offset)} ${s.psci}`,
    `  flags         ${at(m.flags.offset)} ${hex(s.flags)}${s.flags === 0 ? "   (fast path)" : `   (${flagNames(s.flags).join(", ")})`}`,
    `  segment_memsz ${at(m.segment_memsz.offset)} ${hex64(s.segment_memsz)}${s.segment_memsz === 0n ? "   (not given: caches stay off)" : ""}`,
    `  patched       ${at(m.patched.offset)} ${s.patched ? `yes ("${PATCHED_MAGIC}")` : "no: the blob refuses to run"}`,
    `  region_count  ${at(m.region_count.offset)} ${s.regions.length} of ${r.slotMap.regions.capacity}`,
    `  regions       ${at(r.slotMap.regions.offset)} ${r.slotMap.regions.stride} bytes each, hashed in this order:`,
    ...s.regions.map(
      (g, i) => `    ${String(i).padStart(2)}  start ${hex64(g.start)}  length ${hex64(g.length)}  sha256 ${Buffer.from(g.sha256).toString("hex")}`,
    ),
  ];
  if (r.disassembly) {
    lines.push(`code ${hex(r.slotMap.code.start)}..${hex(r.slotMap.code.end)} (${r.disassembly.length} instructions):`);
    for (const d of r.disassembly) lines.push(`  ${d.offset.toString(16).padStart(5, "0")}  ${d.word.toString(16).padStart(8, "0")}  ${d.text}`);
  }
  return lines.join("\n");
}

/** The console in `--console` form, or a note when the slots hold a combination no build would write. */
function consoleText(s: SlotValues): string {
  const c = { kind: s.console_kind, base: s.console_base, shift: s.console_shift, width: s.console_width };
  try {
    checkConsole(c, "console");
    return formatConsole(c);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    return `${s.console_kind}: shift ${s.console_shift} and width ${s.console_width} do not go together`;
  }
}

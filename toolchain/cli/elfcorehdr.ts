import type { Argv, CommandModule } from "yargs";
import { hex } from "../bytes/index.js";
import { checkVmcoreHeader, dumpElfHeaders } from "../elf/index.js";
import { buildElfcorehdr, lintVmcoreinfoCoverage } from "../target/index.js";
import type { VmcoreFinding } from "../elf/index.js";
import type { CoverageReport, PhdrSummary } from "../target/index.js";
import { describeVaModel, parseTarget, parseVmcoreinfo } from "../target/index.js";
import type { VaModel } from "../target/index.js";
import { readInput, writeAtomically } from "./_files.js";
import { report, run } from "./_run.js";

/**
 * `purgatory elfcorehdr`: build the ELF core header a crash load hands the
 * capture kernel, check it the way the capture kernel will, and lint that
 * every vmcoreinfo symbol is readable through it.
 */

interface Args {
  target: string;
  output: string;
  force?: boolean;
  dump?: boolean;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "elfcorehdr",
  describe: "Build the elfcorehdr for a crash load from target.json, check and lint it",
  builder: (y) =>
    y
      .usage(
        "$0 elfcorehdr --target target.json -o elfcorehdr.bin [--dump] [--force]\n\n" +
          "Writes the header buffer (ELF64 LE ET_CORE EM_AARCH64, padded to a multiple of 1 KiB; its\n" +
          "size is what /chosen/linux,elfcorehdr names): a PT_NOTE per CPU crash note and for\n" +
          "vmcoreinfo, a PT_LOAD for the kernel image at its _text address and a PT_LOAD per System RAM\n" +
          "range outside the crash ranges at its linear-map address. Addresses come from vmcoreinfo,\n" +
          "never /proc/kallsyms. The header is then checked against the rules of the capture kernel's\n" +
          "fs/proc/vmcore.c, and every SYMBOL() of vmcoreinfo must fall inside a PT_LOAD; on a finding\n" +
          "nothing is written and the exit status is 1 (--force writes despite lint findings).",
      )
      .option("target", { alias: "t", type: "string", requiresArg: true, demandOption: true, describe: "target.json from `purgatory describe`" })
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Where to write the header (atomically)" })
      .option("dump", { type: "boolean", describe: "Also print every header field with its offset" })
      .option("force", { type: "boolean", describe: "Write even when the coverage lint has findings" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" })
      .example("$0 elfcorehdr -t target.json -o elfcorehdr.bin", "build, check, lint") as Argv<Args>,
  handler: (argv) =>
    run(argv, () => {
      const target = parseTarget(new TextDecoder().decode(readInput(argv.target)));
      const h = buildElfcorehdr(target);
      const vmcore = checkVmcoreHeader(h.bytes);
      const lint = lintVmcoreinfoCoverage(h.bytes, parseVmcoreinfo(target.vmcoreinfo?.text ?? "", "vmcoreinfo.text"));
      const refused = vmcore.some((f) => f.severity === "error") || (lint.findings.length > 0 && argv.force !== true);
      if (!refused) writeAtomically(argv.output, h.bytes);
      const data: Report = { output: argv.output, written: !refused, size: BigInt(h.bytes.length), vaModel: h.vaModel, phdrs: h.phdrs, vmcore, lint };
      report(argv, data, (d) => text(d) + (argv.dump === true ? "\n" + dumpElfHeaders(h.bytes) : ""));
      if (vmcore.length > 0 || lint.findings.length > 0) process.exitCode = 1;
    }),
};
export default command;

interface Report {
  output: string;
  written: boolean;
  size: bigint;
  vaModel: VaModel;
  phdrs: readonly PhdrSummary[];
  vmcore: readonly VmcoreFinding[];
  lint: CoverageReport;
}

function text(r: Report): string {
  const lines = [
    r.written ? `wrote ${r.output}: ${r.size} bytes, ${r.phdrs.length} program headers` : `did not write ${r.output}: see the findings below`,
    `  ${describeVaModel(r.vaModel)}`,
    `  ${"#".padStart(3)}  ${"type".padEnd(8)} ${"role".padEnd(12)} ${"paddr".padEnd(18)} ${"vaddr".padEnd(18)} size`,
    ...r.phdrs.map((p) =>
      `  ${String(p.index).padStart(3)}  ${p.type.padEnd(8)} ${(p.role === "cpu-note" ? `cpu${p.cpu ?? ""} note` : p.role).padEnd(12)} ${hex(p.paddr).padEnd(18)} ${hex(p.vaddr).padEnd(18)} ${hex(p.size)}`,
    ),
    r.vmcore.length === 0 ? "vmcore checks: pass" : "vmcore checks:",
    ...r.vmcore.map((f) => `  ${f.severity} ${f.code} at ${hex(f.where)}: ${f.message}; ${f.kernel}`),
    r.lint.findings.length === 0
      ? `vmcoreinfo coverage: all ${r.lint.symbols.length} symbols inside a PT_LOAD${r.lint.symbols.some((s) => s.exempt !== null) ? " (or exempt)" : ""}`
      : "vmcoreinfo coverage:",
    ...r.lint.findings.map((f) => `  ${f.severity} ${f.code}: ${f.message}`),
  ];
  return lines.join("\n");
}

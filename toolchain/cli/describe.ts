import type { Argv, CommandModule } from "yargs";
import { InputError, hex } from "../bytes/index.js";
import { captureSource, collectTarget, fsSource, parseCapture, parseVmcoreinfo, serializeTarget } from "../target/index.js";
import type { PageSize, Range, Target } from "../target/index.js";
import { describeConsole, describeCpus } from "./_board.js";
import { readInput, writeAtomically } from "./_files.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory describe`: collect what the target machine is into target.json,
 * from the live system, a copied tree (--root) or a capture (--from).
 */

interface Args {
  root?: string;
  from?: string;
  pageSize?: number;
  output?: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "describe",
  describe: "Describe the target machine (memory map, crash ranges, CPU notes, vmcoreinfo, page size, command line, DTB, console, PSCI) as target.json",
  builder: (y) =>
    y
      .usage(
        "$0 describe [--root DIR | --from CAPTURE] [--page-size N] [-o target.json]\n\n" +
          "Reads /proc/iomem, /proc/cmdline, /proc/self/auxv, /proc/kcore (header and notes only),\n" +
          "/sys/kernel/vmcoreinfo, /sys/firmware/fdt, /sys/kernel/security/lockdown (the lockdown level:\n" +
          "integrity and confidentiality refuse kexec_load) and /sys/devices/system/cpu/cpuN/crash_notes{,_size}\n" +
          "and writes the versioned JSON every later step takes, with the console UART, the PSCI\n" +
          "conduit and the CPUs' enable-methods the DTB gives (docs/target.md). Run it as root on the arm64 target;\n" +
          "on a target without Node, run examples/collect-target.sh there and describe --from its output\n" +
          "anywhere. Without -o the description is printed (it is JSON); warnings go to stderr.",
      )
      .option("root", { type: "string", describe: "Read the files under DIR instead of / (a copied tree)" })
      .option("from", { type: "string", requiresArg: true, describe: "Read a capture written by examples/collect-target.sh (- for stdin)" })
      .option("page-size", { type: "number", choices: [4096, 16384, 65536], describe: "The target's page size (getconf PAGESIZE), when neither auxv nor vmcoreinfo gives it" })
      .option("output", { alias: "o", type: "string", describe: "Write target.json here (atomically) and print a summary" })
      .option("json", { type: "boolean", describe: "Print the summary as JSON (with -o)" })
      .example("sudo $0 describe -o target.json", "on the target")
      .example("ssh root@board sh < examples/collect-target.sh | $0 describe --from - -o target.json", "from a build host") as Argv<Args>,
  handler: (argv) =>
    run(argv, () => {
      if (argv.root !== undefined && argv.from !== undefined) throw new UsageError("--root and --from name two sources; give one.");
      if (argv.root === undefined && argv.from === undefined && process.arch !== "arm64") {
        throw new InputError(
          "NOT_ARM64",
          `Cannot describe this machine: it is ${process.arch}, and describe collects the arm64 machine it runs on`,
          "/",
          "Run describe on the target, or capture it there with examples/collect-target.sh and use --from (or --root DIR for a copied tree).",
        );
      }
      const src = argv.from !== undefined
        ? captureSource(parseCapture(new TextDecoder().decode(readInput(argv.from))), argv.from)
        : fsSource(argv.root ?? "/");
      const { target, warnings } = collectTarget(src, argv.pageSize === undefined ? {} : { pageSize: argv.pageSize as PageSize });
      const json = serializeTarget(target);
      if (argv.output === undefined) {
        process.stdout.write(json);
        for (const w of warnings) process.stderr.write(`purgatory: warning: ${w}\n`);
        return;
      }
      writeAtomically(argv.output, json);
      report(argv, summary(argv.output, target, warnings), summaryText);
    }),
};
export default command;

interface Summary {
  output: string;
  pageSize: number;
  memory: readonly Range[];
  crashKernel: Range | null;
  crashKernelLow: Range | null;
  cpuNotes: number;
  vmcoreinfoText: boolean;
  osRelease: string | null;
  dtbBytes: bigint | null;
  lockdown: Target["lockdown"] | null;
  console: Target["console"];
  psci: Target["psci"];
  cpuEnableMethod: Target["cpuEnableMethod"];
  warnings: readonly string[];
}

function summary(output: string, t: Target, warnings: readonly string[]): Summary {
  const text = t.vmcoreinfo?.text;
  return {
    output,
    pageSize: t.pageSize,
    memory: t.memory,
    crashKernel: t.crashKernel,
    crashKernelLow: t.crashKernelLow,
    cpuNotes: t.cpuNotes.length,
    vmcoreinfoText: text !== undefined,
    osRelease: text === undefined ? null : parseVmcoreinfo(text).osRelease,
    dtbBytes: t.dtb === null ? null : BigInt(t.dtb.length),
    lockdown: t.lockdown ?? null,
    console: t.console,
    psci: t.psci,
    cpuEnableMethod: t.cpuEnableMethod,
    warnings,
  };
}

function summaryText(s: Summary): string {
  const range = (r: Range) => `${hex(r.start)}-${hex(r.end)} (${mib(r.end - r.start)})`;
  const ram = s.memory.reduce((n, r) => n + r.end - r.start, 0n);
  const lines = [
    `wrote ${s.output}`,
    `  RAM          ${s.memory.length} range${s.memory.length === 1 ? "" : "s"}, ${mib(ram)}`,
    `  crash kernel ${s.crashKernel === null ? "none (boot with crashkernel=)" : range(s.crashKernel)}${s.crashKernelLow === null ? "" : `, low ${range(s.crashKernelLow)}`}`,
    `  CPU notes    ${s.cpuNotes}`,
    `  vmcoreinfo   ${s.vmcoreinfoText ? `text of ${s.osRelease ?? "an unnamed kernel"}` : "address only, no text"}`,
    `  page size    ${s.pageSize}`,
    `  DTB          ${s.dtbBytes === null ? "none" : `${hex(s.dtbBytes)} bytes`}`,
    `  console      ${describeConsole(s.console)}`,
    `  PSCI         ${s.psci === null ? "none" : `over ${s.psci.toUpperCase()}`}`,
    `  CPUs         ${describeCpus(s)}`,
    `  lockdown     ${s.lockdown === null ? "unknown (no /sys/kernel/security/lockdown)" : s.lockdown === "none" ? "none" : `${s.lockdown}: kexec_load is refused (EPERM); only kexec_file_load with a signed kernel`}`,
    ...s.warnings.map((w) => `warning: ${w}`),
  ];
  return lines.join("\n");
}

function mib(n: bigint): string {
  return `${(Number(n) / 1048576).toFixed(n % 1048576n === 0n ? 0 : 2)} MiB`;
}

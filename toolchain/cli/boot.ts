import type { Argv, CommandModule } from "yargs";
import { InputError } from "../bytes/index.js";
import { readBundle } from "../bundle/index.js";
import { bootBundle, parseSize, type BootMachine, type Outcome } from "../qemu/index.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory boot BUNDLE` (`--qemu`, the default): emulated kexec. QEMU (virt
 * or xlnx-zcu102, the machine the bundle's DTB names) places each segment at
 * its address and starts the CPU at the purgatory, as the kernel's kexec
 * path would; the console decides the outcome.
 */

interface Args {
  bundle: string;
  qemu?: boolean;
  el2?: boolean;
  memory?: string;
  smp?: number;
  timeout: number;
  expect?: string;
  "qemu-binary"?: string;
  "allow-modified"?: boolean;
  quiet?: boolean;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "boot <bundle>",
  describe: "Boot a bundle in QEMU as kexec would (emulated kexec) and report whether the kernel came up",
  builder: (y) =>
    y
      .usage(
        "$0 boot BUNDLE [--qemu] [--el2] [-m SIZE] [--smp N] [--timeout S] [--expect REGEX] [--json]\n\n" +
          "Starts qemu-system-aarch64 on the machine the bundle's DTB was made for (its root compatible:\n" +
          "linux,dummy-virt is -M virt -cpu cortex-a57, xlnx,zynqmp-zcu102 is -M xlnx-zcu102) with no\n" +
          "firmware, places every segment at its address (-device loader,file=…,force-raw=on) and\n" +
          "starts CPU 0 at the bundle's entry (-device loader,addr=ENTRY,cpu-num=0) with MMU and caches\n" +
          "off and the other CPUs off: at EL1, or at EL2 with --el2 (virtualization=on). RAM and CPU\n" +
          "count come from the bundle (its target's RAM, the cpu nodes of its DTB) unless -m/--smp say\n" +
          "otherwise. The bundle must be a load kexec_load accepts and fit the machine: segments inside\n" +
          "its RAM (virt 0x40000000.., clear of the first MiB, QEMU's own DTB ROM; xlnx-zcu102 0..2G),\n" +
          "and its DTB's PSCI method the one QEMU uses there (virt: HVC at EL1, SMC at EL2;\n" +
          "xlnx-zcu102: SMC). A bundle without a purgatory console (a Cadence UART) still succeeds on\n" +
          "the kernel's own output (earlycon).\n\n" +
          "The serial console streams to stdout (stderr with --json; nothing with --quiet). Outcomes:\n" +
          "- success           the kernel prints \"Run /init as init process\" (or a line matches --expect)\n" +
          "                    (a KERN_INFO line: with quiet or loglevel<7 on the bundle's command line the\n" +
          "                    kernel does not print it, and boot asks for --expect instead of waiting)\n" +
          "- purgatory-failed  the purgatory reports a digest mismatch and halts or resets\n" +
          "- kernel-panic      \"Kernel panic - not syncing\"\n" +
          "- qemu-exited       QEMU stopped first (the guest powered off, or QEMU refused to start)\n" +
          "- timeout           none of these within --timeout seconds\n" +
          "QEMU is stopped as soon as the outcome is known. Exit status 0 on success, 1 otherwise.",
      )
      .positional("bundle", { type: "string", demandOption: true, describe: "The bundle directory (holds manifest.json)" })
      .option("qemu", { type: "boolean", default: true, describe: "Boot in QEMU (the default, and the only way this command boots)" })
      .option("el2", { type: "boolean", describe: "Start the CPU at EL2 (virtualization=on)" })
      .option("memory", { alias: "m", type: "string", describe: "RAM size with a unit (default: the bundle's target)" })
      .option("smp", { type: "number", describe: "CPU count (default: the cpu nodes in the bundle's DTB)" })
      .option("timeout", { type: "number", default: 60, describe: "Seconds before giving up (TCG boots the Debian cloud kernel to init in ~2 s)" })
      .option("expect", { type: "string", describe: "Succeed when a whole console line matches this regular expression (instead of at init)" })
      .option("qemu-binary", { type: "string", describe: "QEMU to run (default: qemu-system-aarch64 on PATH)" })
      .option("allow-modified", { type: "boolean", describe: "Boot even if segment files differ from the manifest's sha256" })
      .option("quiet", { alias: "q", type: "boolean", describe: "Do not stream the console" })
      .option("json", { type: "boolean", describe: "Report {outcome, reason, elapsedMs, consoleTail, qemuArgs, …} as JSON" })
      .example("$0 boot out/ --qemu", "boot at EL1 until the kernel starts init")
      .example("$0 boot out/ --qemu --el2 --smp 4 --expect 'login:' --json", "EL2, 4 CPUs, wait for a prompt") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      if (argv.qemu !== true) {
        throw new UsageError("boot boots bundles in QEMU only (--no-qemu leaves nothing to do); on a real machine, load the bundle with examples/loader.");
      }
      if (!(argv.timeout > 0)) {
        throw new InputError("BAD_OPTION", `Cannot wait ${argv.timeout} s: the timeout must be a positive number of seconds`, "--timeout", "Give e.g. --timeout 60");
      }
      let expect: RegExp | undefined;
      if (argv.expect !== undefined) {
        try {
          expect = new RegExp(argv.expect);
        } catch (e) {
          throw new InputError("BAD_OPTION", `Cannot use --expect: ${(e as Error).message}`, "--expect", "Give a JavaScript regular expression, e.g. 'login:'");
        }
      }
      const bundle = await readBundle(argv.bundle);
      const sink = argv.quiet === true ? undefined : argv.json === true ? process.stderr : process.stdout;
      const started = performance.now();
      const r = await bootBundle(bundle, {
        timeoutMs: Math.round(argv.timeout * 1000),
        ...(argv.el2 === true ? { el2: true } : {}),
        ...(argv.memory === undefined ? {} : { memory: parseSize(argv.memory, "-m", true) }),
        ...(argv.smp === undefined ? {} : { smp: argv.smp }),
        ...(expect === undefined ? {} : { expect }),
        ...(argv["qemu-binary"] === undefined ? {} : { qemu: argv["qemu-binary"] }),
        ...(argv["allow-modified"] === true ? { allowModified: true } : {}),
      }, sink === undefined ? undefined : (t) => sink.write(Buffer.from(t, "latin1")));
      const data: Report = {
        outcome: r.outcome,
        reason: r.reason,
        elapsedMs: Math.round(performance.now() - started),
        banner: r.banner,
        machine: r.machine,
        exitCode: r.exitCode,
        consoleTail: r.consoleTail,
        qemuArgs: r.qemuArgs,
      };
      if (sink === process.stdout) process.stdout.write("\n");
      report(argv, data, text);
      if (r.outcome !== "success") process.exitCode = 1;
    }),
};
export default command;

interface Report {
  outcome: Outcome;
  reason: string;
  elapsedMs: number;
  banner: string | null;
  machine: BootMachine;
  exitCode: number | null;
  consoleTail: string;
  qemuArgs: readonly string[];
}

function text(r: Report): string {
  const m = r.machine;
  const lines = [`boot: ${r.outcome} after ${(r.elapsedMs / 1000).toFixed(1)} s (${m.name}, EL${m.el2 ? 2 : 1}, ${m.smp} CPU${m.smp === 1 ? "" : "s"}, ${m.memory >> 20n} MiB): ${r.reason}`];
  if (r.outcome !== "success") lines.push(`QEMU: ${r.qemuArgs.join(" ")}`);
  return lines.join("\n");
}

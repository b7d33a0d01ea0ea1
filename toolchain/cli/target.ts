import type { Argv, CommandModule } from "yargs";
import { hex } from "../bytes/index.js";
import { MACHINES, MACHINE_NAMES, dtbMachine, dumpDtb, machineArgs, machineTarget, parseCrashKernel, parseSize, qemuVersion, type MachineName } from "../qemu/index.js";
import { serializeTarget, type Range, type TargetConsole } from "../target/index.js";
import { writeAtomically } from "./_files.js";
import { describeConsole } from "./_board.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory target MACHINE`: the target description of an emulated machine
 * (qemu-virt, xlnx-zcu102), with the device tree QEMU hands a kernel there,
 * so the whole flow can be tried without arm64 hardware.
 */

interface Args {
  machine: MachineName;
  memory: string;
  smp?: number;
  dtb?: string;
  el2?: boolean;
  crashkernel?: string;
  output?: string;
  "qemu-binary"?: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "target [machine]",
  describe: "Describe an emulated machine (QEMU virt or xlnx-zcu102) as target.json, with the device tree QEMU gives it",
  builder: (y) =>
    y
      .usage(
        "$0 target [qemu-virt|xlnx-zcu102] [-m SIZE] [--smp N] [--el2] [--dtb FILE] [--crashkernel SIZE[@ADDR]] [-o target.json]\n\n" +
          "Asks QEMU for the device tree it hands a kernel on the machine (-machine dumpdtb) and\n" +
          "writes a target description for it: 4K pages, no kernel has run on it (so no CPU crash\n" +
          "notes or vmcoreinfo: it serves reboot bundles, which `purgatory boot BUNDLE` then boots on\n" +
          "the same machine), the DTB without random kaslr-seed/rng-seed, and the console, PSCI\n" +
          "conduit and CPU enable-methods that DTB gives (docs/target.md).\n\n" +
          "qemu-virt (the default everywhere): -M virt -cpu cortex-a57, RAM at 0x40000000 + SIZE,\n" +
          "its first MiB reserved (QEMU keeps its own DTB there when it boots without -kernel),\n" +
          "console=ttyAMA0, 1..8 CPUs. --el2 starts the CPUs at EL2 (virtualization=on); QEMU then\n" +
          "answers PSCI on SMC instead of HVC, and the DTB says so, so boot the bundle with --el2 too.\n\n" +
          "xlnx-zcu102: -M xlnx-zcu102 (four Cortex-A53), RAM at 0 + SIZE (at most 2G), a Cadence\n" +
          "UART at 0xff000000, PSCI over SMC at EL1 and EL2, 1..4 CPUs (default 4). QEMU makes no\n" +
          "device tree for it: give the board's with --dtb (Debian's linux-image-*-arm64 ships\n" +
          "xilinx/zynqmp-zcu102-rev1.0.dtb); QEMU sets its /memory and /psci and disables the ZynqMP\n" +
          "firmware nodes, since no PMU firmware runs.\n\n" +
          "--crashkernel places crashk_res as arm64 Linux 6.1 does for crashkernel= (reserve_crashkernel):\n" +
          "SIZE@ADDR exactly there (2 MiB aligned); SIZE alone at the highest 2 MiB-aligned fit below\n" +
          "4 GiB. A booted kernel allocates its memmap and CMA first and lands lower; use @ADDR to pin it.\n" +
          "Without -o the description is printed (it is JSON).",
      )
      .positional("machine", { choices: MACHINE_NAMES, default: "qemu-virt" as MachineName, describe: "The emulated machine" })
      .option("memory", { alias: "m", type: "string", default: "1G", describe: "RAM size with a unit (512M, 2G)" })
      .option("smp", { type: "number", describe: "CPU count (qemu-virt 1..8, default 1; xlnx-zcu102 1..4, default 4)" })
      .option("el2", { type: "boolean", describe: "CPUs start at EL2 (virtualization=on; on qemu-virt, PSCI over SMC)" })
      .option("dtb", { type: "string", describe: "The board's device tree, for a machine QEMU makes none for (xlnx-zcu102)" })
      .option("crashkernel", { type: "string", describe: "Reserve a crash kernel range: SIZE or SIZE@ADDR" })
      .option("output", { alias: "o", type: "string", describe: "Write target.json here (atomically) and print a summary" })
      .option("qemu-binary", { type: "string", describe: "QEMU to ask (default: qemu-system-aarch64 on PATH)" })
      .option("json", { type: "boolean", describe: "Print the summary as JSON (with -o)" })
      .example("$0 target qemu-virt -m 1G --smp 4 -o virt.json", "EL1, 4 CPUs")
      .example("$0 target qemu-virt --el2 --crashkernel 64M@0x60000000 -o virt-el2.json", "EL2, with a crash range")
      .example("$0 target xlnx-zcu102 --dtb zynqmp-zcu102-rev1.0.dtb -m 1G -o zcu102.json", "a ZynqMP board, RAM at 0") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const facts = MACHINES[argv.machine];
      const memory = parseSize(argv.memory, "-m", true);
      const machine = { el2: argv.el2 === true, memory, smp: argv.smp ?? facts.defaultCpus };
      const qemu = argv["qemu-binary"] === undefined ? {} : { qemu: argv["qemu-binary"] };
      const args = machineArgs(facts, machine);
      if (argv.dtb !== undefined && facts.generatesDtb) {
        throw new UsageError(`--dtb is for machines QEMU makes no device tree for; ${argv.machine} has its own`);
      }
      const crashKernel = argv.crashkernel === undefined ? null : parseCrashKernel(argv.crashkernel);
      const dtb = await dumpDtb(facts, { ...machine, ...qemu, ...(argv.dtb === undefined ? {} : { dtb: argv.dtb }) });
      const target = machineTarget(facts, { dtb, memory, crashKernel });
      const json = serializeTarget(target);
      if (argv.output === undefined) {
        process.stdout.write(json);
        return;
      }
      const version = await qemuVersion(qemu.qemu);
      writeAtomically(argv.output, json);
      const dt = dtbMachine(target.dtb!);
      const notes = ["no CPU crash notes or vmcoreinfo (no kernel has run): use it for reboot bundles"];
      if (crashKernel !== null && crashKernel.base === undefined) {
        notes.push("crashkernel=SIZE placed top-down on an empty machine; a booted kernel puts it lower (its memmap and CMA come first)");
      }
      const data: Summary = {
        output: argv.output,
        machine: argv.machine,
        qemu: version,
        qemuArgs: [...args, ...(argv.dtb === undefined ? [] : ["-dtb", argv.dtb])],
        el: machine.el2 ? 2 : 1,
        psciMethod: dt.psciMethod,
        console: target.console,
        cpus: dt.cpus,
        memory: target.memory,
        reserved: target.reserved,
        crashKernel: target.crashKernel,
        crashKernelLow: target.crashKernelLow,
        dtbBytes: BigInt(target.dtb!.length),
        notes,
      };
      report(argv, data, text);
    }),
};
export default command;

interface Summary {
  output: string;
  machine: string;
  qemu: string;
  qemuArgs: readonly string[];
  el: 1 | 2;
  psciMethod: string | null;
  console: TargetConsole | null;
  cpus: number;
  memory: readonly Range[];
  reserved: readonly Range[];
  crashKernel: Range | null;
  crashKernelLow: Range | null;
  dtbBytes: bigint;
  notes: readonly string[];
}

function text(s: Summary): string {
  const range = (r: Range) => `${hex(r.start)}-${hex(r.end)} (${(r.end - r.start) >> 20n} MiB)`;
  return [
    `wrote ${s.output}`,
    `  machine      ${s.machine}: ${s.qemuArgs.join(" ")} (${s.qemu})`,
    `  CPUs         ${s.cpus}, starting at EL${s.el}, PSCI over ${String(s.psciMethod).toUpperCase()}`,
    `  RAM          ${s.memory.map(range).join(", ")}`,
    `  reserved     ${s.reserved.length === 0 ? "none" : `${s.reserved.map(range).join(", ")} (QEMU's own DTB)`}`,
    `  console      ${describeConsole(s.console)}`,
    `  crash kernel ${s.crashKernel === null ? "none" : range(s.crashKernel)}${s.crashKernelLow === null ? "" : `, low ${range(s.crashKernelLow)}`}`,
    `  DTB          ${hex(s.dtbBytes)} bytes`,
    ...s.notes.map((n) => `note: ${n}`),
  ].join("\n");
}


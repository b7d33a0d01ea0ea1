import type { Argv, CommandModule } from "yargs";
import { hex } from "../bytes/index.js";
import { dtbMachine, dumpVirtDtb, parseCrashKernel, parseSize, qemuVersion, virtArgs, virtTarget } from "../qemu/index.js";
import { serializeTarget, type Range } from "../target/index.js";
import { writeAtomically } from "./_files.js";
import { report, run } from "./_run.js";

/**
 * `purgatory target qemu-virt`: the target description of an emulated
 * machine, with the device tree QEMU itself generates for it, so the whole
 * flow can be tried without arm64 hardware.
 */

interface Args {
  machine: "qemu-virt";
  memory: string;
  smp: number;
  el2?: boolean;
  crashkernel?: string;
  output?: string;
  "qemu-binary"?: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "target <machine>",
  describe: "Describe an emulated machine (QEMU virt) as target.json, with QEMU's own device tree",
  builder: (y) =>
    y
      .usage(
        "$0 target qemu-virt [-m SIZE] [--smp N] [--el2] [--crashkernel SIZE[@ADDR]] [-o target.json]\n\n" +
          "Asks QEMU for the device tree of `-M virt[,virtualization=on] -cpu cortex-a57 -m SIZE -smp N`\n" +
          "(-machine dumpdtb) and writes a target description for that machine: RAM 0x40000000 + SIZE,\n" +
          "the first MiB reserved (QEMU keeps its own DTB there when it boots without -kernel),\n" +
          "4K pages, console=ttyAMA0, the DTB without QEMU's random kaslr-seed/rng-seed.\n" +
          "No kernel has run on it, so it has no CPU crash notes and no vmcoreinfo: it serves reboot\n" +
          "bundles, which `purgatory boot BUNDLE --qemu` then boots on the same machine.\n\n" +
          "--el2 makes a machine whose CPUs start at EL2 (virtualization=on); QEMU then answers PSCI\n" +
          "on SMC instead of HVC, and the DTB says so, so boot the bundle with --el2 too.\n" +
          "--crashkernel places crashk_res as arm64 Linux 6.1 does for crashkernel= (reserve_crashkernel):\n" +
          "SIZE@ADDR exactly there (2 MiB aligned); SIZE alone at the highest 2 MiB-aligned fit below\n" +
          "4 GiB. A booted kernel allocates its memmap and CMA first and lands lower; use @ADDR to pin it.\n" +
          "Without -o the description is printed (it is JSON).",
      )
      .positional("machine", { choices: ["qemu-virt"] as const, describe: "The emulated machine" })
      .option("memory", { alias: "m", type: "string", default: "1G", describe: "RAM size with a unit (512M, 2G)" })
      .option("smp", { type: "number", default: 1, describe: "CPU count (1..8)" })
      .option("el2", { type: "boolean", describe: "CPUs start at EL2 (virtualization=on, PSCI over SMC)" })
      .option("crashkernel", { type: "string", describe: "Reserve a crash kernel range: SIZE or SIZE@ADDR" })
      .option("output", { alias: "o", type: "string", describe: "Write target.json here (atomically) and print a summary" })
      .option("qemu-binary", { type: "string", describe: "QEMU to ask (default: qemu-system-aarch64 on PATH)" })
      .option("json", { type: "boolean", describe: "Print the summary as JSON (with -o)" })
      .example("$0 target qemu-virt -m 1G --smp 4 -o virt.json", "EL1, 4 CPUs")
      .example("$0 target qemu-virt --el2 --crashkernel 64M@0x60000000 -o virt-el2.json", "EL2, with a crash range") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const memory = parseSize(argv.memory, "-m", true);
      const machine = { el2: argv.el2 === true, memory, smp: argv.smp };
      const qemu = argv["qemu-binary"] === undefined ? {} : { qemu: argv["qemu-binary"] };
      const args = virtArgs(machine);
      const crashKernel = argv.crashkernel === undefined ? null : parseCrashKernel(argv.crashkernel);
      const dtb = await dumpVirtDtb({ ...machine, ...qemu });
      const target = virtTarget({ dtb, memory, crashKernel });
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
        qemuArgs: args,
        el: machine.el2 ? 2 : 1,
        psciMethod: dt.psciMethod,
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
    `  reserved     ${s.reserved.map(range).join(", ")} (QEMU's own DTB)`,
    `  crash kernel ${s.crashKernel === null ? "none" : range(s.crashKernel)}${s.crashKernelLow === null ? "" : `, low ${range(s.crashKernelLow)}`}`,
    `  DTB          ${hex(s.dtbBytes)} bytes`,
    ...s.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

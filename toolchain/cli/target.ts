import type { Argv, CommandModule } from "yargs";
import { loadAssets } from "../../scripts/assets.js";
import { InputError, hex, inFileAsync, packageFile } from "../bytes/index.js";
import { loadKernelImage } from "../image/index.js";
import {
  MACHINES, MACHINE_NAMES, bootedTarget, captureMachine, dtbMachine, dumpDtb, machineArgs, machineTarget, parseCrashKernel, parseSize, qemuVersion, type MachineName,
} from "../qemu/index.js";
import { captureSource, collectTarget, parseCapture, parseVmcoreinfo, serializeTarget, type Range, type Target, type TargetConsole } from "../target/index.js";
import { readInput, readText, writeAtomically } from "./_files.js";
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
  kernel?: string;
  busybox?: string;
  timeout: number;
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
        "$0 target [qemu-virt|xlnx-zcu102] [-m SIZE] [--smp N] [--el2] [--dtb FILE] [--crashkernel SIZE[@ADDR]]\n" +
          "          [--kernel IMAGE [--busybox FILE]] [-o target.json]\n\n" +
          "Asks QEMU for the device tree it hands a kernel on the machine (-machine dumpdtb) and\n" +
          "writes a target description for it: 4K pages, no kernel has run on it (so no CPU crash\n" +
          "notes or vmcoreinfo: it serves reboot bundles, which `purgatory boot BUNDLE` then boots on\n" +
          "the same machine), the DTB without random kaslr-seed/rng-seed, and the console, PSCI\n" +
          "conduit and CPU enable-methods that DTB gives (docs/target.md).\n\n" +
          "--kernel IMAGE (qemu-virt) boots that kernel once on the machine (crashkernel= from --crashkernel,\n" +
          "nokaslr) into a busybox initramfs that runs examples/collect-target.sh, and describes the\n" +
          "running machine as `describe` does on hardware: /proc/iomem with the reservation the kernel\n" +
          "really made, each CPU's crash notes, vmcoreinfo and its text, the lockdown level. That\n" +
          "target makes crash bundles (`bundle --mode crash`) which `boot` then boots: the whole kdump\n" +
          "flow with no hardware. The busybox must be a static arm64 one (default: the one\n" +
          "`npm run provision` fetched); QEMU's DTB ROM stays reserved for `boot`.\n\n" +
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
      .option("kernel", { type: "string", requiresArg: true, describe: "Boot this kernel (any arm64 format) once and describe the running machine" })
      .option("busybox", { type: "string", requiresArg: true, describe: "Static arm64 busybox for the describing initramfs (default: the provisioned busybox-static)" })
      .option("timeout", { type: "number", default: 300, describe: "Seconds the --kernel boot may take (TCG: about 10 s on an idle machine)" })
      .option("output", { alias: "o", type: "string", describe: "Write target.json here (atomically) and print a summary" })
      .option("qemu-binary", { type: "string", describe: "QEMU to ask (default: qemu-system-aarch64 on PATH)" })
      .option("json", { type: "boolean", describe: "Print the summary as JSON (with -o)" })
      .example("$0 target qemu-virt -m 1G --smp 4 -o virt.json", "EL1, 4 CPUs")
      .example("$0 target qemu-virt --el2 --crashkernel 64M@0x60000000 -o virt-el2.json", "EL2, with a crash range")
      .example("$0 target xlnx-zcu102 --dtb zynqmp-zcu102-rev1.0.dtb -m 1G -o zcu102.json", "a ZynqMP board, RAM at 0")
      .example("$0 target qemu-virt --crashkernel 256M --kernel Image -o virt-kdump.json", "boot Image once: vmcoreinfo, crash notes, the real reservation") as Argv<Args>,
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
      if (!(argv.timeout > 0)) throw new InputError("BAD_OPTION", `Cannot wait ${argv.timeout} s: the timeout must be a positive number of seconds`, "--timeout", "Give e.g. --timeout 300");
      const board = argv.dtb === undefined ? {} : { dtb: argv.dtb };
      let target: Target;
      const notes: string[] = [];
      if (argv.kernel === undefined) {
        const dtb = await dumpDtb(facts, { ...machine, ...qemu, ...board });
        target = machineTarget(facts, { dtb, memory, crashKernel });
        notes.push("no CPU crash notes or vmcoreinfo (no kernel has run): use it for reboot bundles, or boot a kernel once with --kernel IMAGE for crash bundles");
        if (crashKernel !== null && crashKernel.base === undefined) {
          notes.push("crashkernel=SIZE placed top-down on an empty machine; a booted kernel puts it lower (its memmap and CMA come first)");
        }
      } else {
        // On xlnx-zcu102 the kernel's ttyPS0 never opens (the Cadence UART's
        // clock comes from PMU firmware QEMU does not run): earlycon prints the
        // kernel's messages, but /init's capture has no console to go out on.
        if (argv.machine !== "qemu-virt") {
          throw new UsageError(`--kernel describes a booted qemu-virt only: on ${argv.machine} the guest's /init has no console to send its capture on (ttyPS0 needs firmware clocks)`);
        }
        const kernelFile = argv.kernel;
        const image = await inFileAsync(kernelFile, () => loadKernelImage(readInput(kernelFile)));
        const busybox = readInput(argv.busybox ?? loadAssets().busybox.binary.path);
        const booted = await captureMachine(facts, {
          ...machine, ...qemu, ...board, kernel: image.bytes, busybox, collectScript: readText(packageFile("examples", "collect-target.sh")),
          crashkernel: argv.crashkernel ?? null, timeoutMs: Math.round(argv.timeout * 1000),
        });
        const collected = collectTarget(captureSource(parseCapture(booted.capture), `the booted QEMU ${facts.qemuName}`));
        target = bootedTarget(facts, collected.target);
        const release = target.vmcoreinfo?.text === undefined ? null : parseVmcoreinfo(target.vmcoreinfo.text).osRelease;
        notes.push(`described the running kernel ${release ?? booted.banner ?? ""} (command line: ${booted.commandLine}): ${target.cpuNotes.length} CPU crash notes, ` +
          `${target.vmcoreinfo?.text === undefined ? "no vmcoreinfo text" : "vmcoreinfo with its text"}`);
        if (argv.crashkernel !== undefined && target.crashKernel === null) {
          notes.push(`the kernel made no crash reservation for crashkernel=${argv.crashkernel} (too large for the RAM, or a kernel without CONFIG_CRASH_DUMP?)`);
        }
        notes.push(...collected.warnings, ...booted.notes);
      }
      const json = serializeTarget(target);
      if (argv.output === undefined) {
        process.stdout.write(json);
        return;
      }
      const version = await qemuVersion(qemu.qemu);
      writeAtomically(argv.output, json);
      const dt = dtbMachine(target.dtb!);
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
    `  reserved     ${s.reserved.length === 0 ? "none" : `${s.reserved.map(range).join(", ")}${reservedWhy(s)}`}`,
    `  console      ${describeConsole(s.console)}`,
    `  crash kernel ${s.crashKernel === null ? "none" : range(s.crashKernel)}${s.crashKernelLow === null ? "" : `, low ${range(s.crashKernelLow)}`}`,
    `  DTB          ${hex(s.dtbBytes)} bytes`,
    ...s.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

/** Whose the reserved ranges are: QEMU's DTB ROM (machine.ts), and the rest the booted kernel's (/proc/iomem). */
function reservedWhy(s: Summary): string {
  const rom = MACHINES[s.machine as MachineName].dtbRom;
  const others = s.reserved.filter((r) => rom === null || r.start !== rom.start || r.end !== rom.end).length;
  if (rom === null) return others === 0 ? "" : " (the booted kernel's)";
  return others === 0 ? " (QEMU's own DTB)" : ` (QEMU's own DTB at ${hex(rom.start)}, and ${others} the booted kernel reserved)`;
}

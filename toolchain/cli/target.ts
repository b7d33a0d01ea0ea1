import type { Argv, CommandModule } from "yargs";
import { loadAssets } from "../../scripts/assets.js";
import { InputError, hex, inFileAsync } from "../bytes/index.js";
import { loadKernelImage } from "../image/index.js";
import { bootedVirtTarget, captureVirt, dtbMachine, dumpVirtDtb, parseCrashKernel, parseSize, qemuVersion, virtArgs, virtTarget } from "../qemu/index.js";
import { captureSource, collectTarget, parseCapture, parseVmcoreinfo, serializeTarget, type Range, type Target } from "../target/index.js";
import { packageFile, readInput, readText, writeAtomically } from "./_files.js";
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
  kernel?: string;
  busybox?: string;
  timeout: number;
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
        "$0 target qemu-virt [-m SIZE] [--smp N] [--el2] [--crashkernel SIZE[@ADDR]]\n" +
          "          [--kernel IMAGE [--busybox FILE]] [-o target.json]\n\n" +
          "Asks QEMU for the device tree of `-M virt[,virtualization=on] -cpu cortex-a57 -m SIZE -smp N`\n" +
          "(-machine dumpdtb) and writes a target description for that machine: RAM 0x40000000 + SIZE,\n" +
          "the first MiB reserved (QEMU keeps its own DTB there when it boots without -kernel),\n" +
          "4K pages, console=ttyAMA0, the DTB without QEMU's random kaslr-seed/rng-seed.\n" +
          "No kernel has run on it, so it has no CPU crash notes and no vmcoreinfo: it serves reboot\n" +
          "bundles, which `purgatory boot BUNDLE --qemu` then boots on the same machine.\n\n" +
          "--kernel IMAGE boots that kernel once on the machine (with crashkernel= from --crashkernel,\n" +
          "nokaslr) into a busybox initramfs that runs examples/collect-target.sh, and describes the\n" +
          "running machine as `describe` does on hardware: /proc/iomem with the reservation the kernel\n" +
          "really made, each CPU's crash notes, vmcoreinfo and its text, the lockdown level. That\n" +
          "target makes crash bundles (`bundle --mode crash`) which `boot` then boots: the whole kdump\n" +
          "flow with no hardware. The busybox must be a static arm64 one (default: the one\n" +
          "`npm run provision` fetched); QEMU's DTB ROM stays reserved for `boot`.\n\n" +
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
      .option("kernel", { type: "string", requiresArg: true, describe: "Boot this kernel (any arm64 format) once and describe the running machine" })
      .option("busybox", { type: "string", requiresArg: true, describe: "Static arm64 busybox for the describing initramfs (default: the provisioned busybox-static)" })
      .option("timeout", { type: "number", default: 300, describe: "Seconds the --kernel boot may take (TCG: about 10 s on an idle machine)" })
      .option("output", { alias: "o", type: "string", describe: "Write target.json here (atomically) and print a summary" })
      .option("qemu-binary", { type: "string", describe: "QEMU to ask (default: qemu-system-aarch64 on PATH)" })
      .option("json", { type: "boolean", describe: "Print the summary as JSON (with -o)" })
      .example("$0 target qemu-virt -m 1G --smp 4 -o virt.json", "EL1, 4 CPUs")
      .example("$0 target qemu-virt --el2 --crashkernel 64M@0x60000000 -o virt-el2.json", "EL2, with a crash range")
      .example("$0 target qemu-virt --crashkernel 256M --kernel Image -o virt-kdump.json", "boot Image once: vmcoreinfo, crash notes, the real reservation") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      const memory = parseSize(argv.memory, "-m", true);
      const machine = { el2: argv.el2 === true, memory, smp: argv.smp };
      const qemu = argv["qemu-binary"] === undefined ? {} : { qemu: argv["qemu-binary"] };
      const args = virtArgs(machine);
      const crashKernel = argv.crashkernel === undefined ? null : parseCrashKernel(argv.crashkernel);
      if (!(argv.timeout > 0)) throw new InputError("BAD_OPTION", `Cannot wait ${argv.timeout} s: the timeout must be a positive number of seconds`, "--timeout", "Give e.g. --timeout 300");
      let target: Target;
      const notes: string[] = [];
      if (argv.kernel === undefined) {
        const dtb = await dumpVirtDtb({ ...machine, ...qemu });
        target = virtTarget({ dtb, memory, crashKernel });
        notes.push("no CPU crash notes or vmcoreinfo (no kernel has run): use it for reboot bundles, or boot a kernel once with --kernel IMAGE for crash bundles");
        if (crashKernel !== null && crashKernel.base === undefined) {
          notes.push("crashkernel=SIZE placed top-down on an empty machine; a booted kernel puts it lower (its memmap and CMA come first)");
        }
      } else {
        const kernelFile = argv.kernel;
        const image = await inFileAsync(kernelFile, () => loadKernelImage(readInput(kernelFile)));
        const busybox = readInput(argv.busybox ?? loadAssets().busybox.binary.path);
        const booted = await captureVirt({
          ...machine, ...qemu, kernel: image.bytes, busybox, collectScript: readText(packageFile("examples/collect-target.sh")),
          crashkernel: argv.crashkernel ?? null, timeoutMs: Math.round(argv.timeout * 1000),
        });
        const collected = collectTarget(captureSource(parseCapture(booted.capture), "the booted QEMU virt"));
        target = bootedVirtTarget(collected.target);
        const release = target.vmcoreinfo?.text === undefined ? null : parseVmcoreinfo(target.vmcoreinfo.text).osRelease;
        notes.push(`described the running kernel ${release ?? booted.banner ?? ""} (command line: ${booted.commandLine}): ${target.cpuNotes.length} CPU crash notes, ` +
          `${target.vmcoreinfo?.text === undefined ? "no vmcoreinfo text" : "vmcoreinfo with its text"}`);
        if (argv.crashkernel !== undefined && target.crashKernel === null) notes.push(`the kernel made no crash reservation for crashkernel=${argv.crashkernel} (too large for the RAM, or a kernel without CONFIG_CRASH_DUMP?)`);
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
    `  reserved     ${s.reserved.length === 1 ? `${range(s.reserved[0]!)} (QEMU's own DTB)` : `${s.reserved.length} ranges: QEMU's own DTB at ${range(s.reserved[0]!)}, and what the booted kernel reserved`}`,
    `  crash kernel ${s.crashKernel === null ? "none" : range(s.crashKernel)}${s.crashKernelLow === null ? "" : `, low ${range(s.crashKernelLow)}`}`,
    `  DTB          ${hex(s.dtbBytes)} bytes`,
    ...s.notes.map((n) => `note: ${n}`),
  ].join("\n");
}

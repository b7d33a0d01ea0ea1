import type { Argv, CommandModule } from "yargs";
import { InputError } from "../bytes/index.js";
import { formatMoved } from "../bundle/index.js";
import { DEFAULT_STATE_DIR, armKdump, disarmKdump, kdumpStatus, type ArmReport, type StatusReport } from "../kdump/index.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory kdump arm|status|disarm`: kdump as a service on the target
 * (docs/kdump-service.md). Runs on the target's own Node (18 or later).
 */

interface Args {
  action: "arm" | "status" | "disarm";
  stateDir?: string;
  "state-dir": string;
  root: string;
  kernel?: string;
  initrd?: string;
  loader: string;
  append: string;
  console: string;
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "kdump <action>",
  describe: "Arm kdump on this machine for this boot (describe, build, verify, load), report its state, or disarm it",
  builder: (y) =>
    y
      .usage(
        "$0 kdump arm --kernel K --initrd CAPTURE [--loader PATH] [--state-dir DIR] [--append S]\n" +
          "$0 kdump status [--state-dir DIR] [--json]\n" +
          "$0 kdump disarm [--loader PATH] [--state-dir DIR]\n\n" +
          "arm describes this boot (as `describe` does), builds the crash bundle in STATE/bundle (the\n" +
          "unwrapped kernel is kept in STATE/kernels by content), verifies it, loads it with the\n" +
          "loader (which re-hashes every segment and checks the bundle's boot.txt against this boot)\n" +
          "and records it in STATE/armed.json. A crash bundle is good for one boot only: arm at every\n" +
          "boot (examples/systemd/purgatory-kdump.service) and on CPU or memory hotplug.\n" +
          "status: disarmed | armed | stale (built for another boot, or kernel, initrd, CPUs or\n" +
          "memory changed since: what moved is listed) | foreign (loaded by another tool).",
      )
      .positional("action", { choices: ["arm", "status", "disarm"] as const })
      .option("state-dir", { type: "string", default: DEFAULT_STATE_DIR, describe: "Where the bundle, the kernel cache and armed.json live" })
      .option("root", { type: "string", default: "/", describe: "Read the live system's files under DIR (tests)" })
      .option("kernel", { type: "string", describe: "arm: the capture kernel (e.g. /boot/vmlinuz-$(uname -r))" })
      .option("initrd", { type: "string", describe: "arm: the capture initramfs (purgatory initramfs)" })
      .option("loader", { type: "string", default: "purgatory-loader", describe: "The static loader (scripts/build-loader.sh), a path or a name on PATH" })
      .option("append", { type: "string", default: "nr_cpus=1 reset_devices", describe: "arm: words appended to this boot's command line for the capture kernel" })
      .option("console", { type: "string", default: "auto", describe: "arm: the purgatory's console: auto (the UART the target's device tree names), none, or FAMILY@ADDR[,shift=N][,width=N]" })
      .option("json", { type: "boolean", describe: "Print the report as JSON" }) as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      if (process.arch !== "arm64" && argv.root === "/" && argv.action !== "status") {
        throw new InputError("NOT_ARM64", `Cannot ${argv.action} kdump on this machine: it is ${process.arch}, and kdump ${argv.action} loads a crash kernel into the arm64 machine it runs on`, "/",
          "Run it on the arm64 target.");
      }
      if (argv.action === "arm") {
        if (argv.kernel === undefined || argv.initrd === undefined) throw new UsageError("kdump arm needs --kernel and --initrd.");
        const r = await armKdump({ root: argv.root, stateDir: argv["state-dir"], kernel: argv.kernel, initrd: argv.initrd, loader: argv.loader, append: argv.append, console: argv.console });
        report(argv, armJson(r), armText);
      } else if (argv.action === "status") {
        const s = kdumpStatus(argv.root, argv["state-dir"]);
        report(argv, statusJson(s), statusText);
      } else {
        const d = disarmKdump(argv.root, argv["state-dir"], argv.loader);
        report(argv, d, (x) => (x.wasLoaded ? "disarmed: the crash image is unloaded" : "disarmed (no crash image was loaded)"));
      }
    }),
};
export default command;

function armJson(r: ArmReport) {
  // Sizes in bytes as bigints, which JSON prints as "0x…" (README: one rule for numbers).
  const file = (f: ArmReport["armed"]["kernel"]) => ({ ...f, size: BigInt(f.size) });
  return { state: "armed", bundle: r.armed.bundle, bootId: r.armed.boot.bootId, kernel: file(r.armed.kernel), initrd: file(r.armed.initrd), commandLine: r.armed.commandLine, kernelCached: r.kernelCached, digestsRemembered: r.digestsRemembered, ms: r.ms, warnings: r.warnings };
}

function armText(a: ReturnType<typeof armJson>): string {
  return [
    `armed: ${a.bundle} loaded for boot ${a.bootId}`,
    `  kernel   ${a.kernel.path} (${a.kernelCached ? "unwrapped Image reused" : "unwrapped and cached"}${a.digestsRemembered ? ", digests remembered" : ""})`,
    `  initrd   ${a.initrd.path} (${a.initrd.size} bytes)`,
    `  cmdline  ${a.commandLine}`,
    `  ms       describe ${a.ms.describe}, kernel ${a.ms.kernel}, bundle ${a.ms.bundle}, verify ${a.ms.verify}, load ${a.ms.load}`,
    ...a.warnings.map((w) => `warning: ${w}`),
  ].join("\n");
}

function statusJson(s: StatusReport) {
  return {
    state: s.state, loaded: s.loaded, bundle: s.armed?.bundle ?? null, bootId: s.armed?.boot.bootId ?? null, armedAt: s.armed?.armedAt ?? null,
    changes: s.changes,
  };
}

function statusText(s: ReturnType<typeof statusJson>): string {
  switch (s.state) {
    case "disarmed":
      return `disarmed: no crash image is loaded${s.loaded === null ? " (this kernel has no /sys/kernel/kexec_crash_loaded)" : ""}`;
    case "foreign":
      return "foreign: a crash image is loaded that purgatory kdump did not record";
    case "armed":
      return `armed: ${s.bundle}, built for this boot (${s.bootId}) at ${s.armedAt}`;
    case "stale":
      return `stale: ${s.bundle} is loaded but ${formatMoved(s.changes)}; run purgatory kdump arm`;
  }
}

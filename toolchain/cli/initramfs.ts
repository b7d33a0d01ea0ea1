import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import type { Argv, CommandModule } from "yargs";
import { ACTIONS, DEFAULT_CONFIG, buildCaptureInitramfs, fsRoot, rootDumpTarget } from "../initramfs/index.js";
import type { Action, CaptureReport } from "../initramfs/index.js";
import { writeAtomically } from "./_files.js";
import { UsageError, report, run } from "./_run.js";

/**
 * `purgatory initramfs`: the capture initramfs, which saves the dump to disk
 * after a crash (docs/capture-initramfs.md).
 */

interface Args {
  output: string;
  root?: string;
  sysroot?: string;
  modules?: string[];
  kernelRelease?: string;
  busybox?: string;
  makedumpfile?: string;
  dumpTo?: string;
  fsType?: string;
  dir?: string;
  coreCollector?: string;
  finalAction?: Action;
  failureAction?: Action;
  wait?: number;
  timeout?: number;
  compress?: "gzip" | "none";
  json?: boolean;
}

const command: CommandModule<object, Args> = {
  command: "initramfs",
  describe: "Build the capture initramfs: busybox, makedumpfile and its libraries, kernel modules, and an /init that saves the dump to disk",
  builder: (y) =>
    y
      .usage(
        "$0 initramfs -o capture.cpio.gz (--root / | --sysroot DIR) [--modules virtio_blk,...]\n" +
          "          [--dump-to /dev/NAME|LABEL=L|UUID=U] [--fs-type T] [--dir /var/crash] [options]\n\n" +
          "The capture kernel boots into this archive after a crash. Its /init loads the modules, waits\n" +
          "(at most --wait seconds) for the dump device, mounts it, and in DIR/<UTC time>-<boot id>/\n" +
          "saves the crashed kernel's log (dmesg.txt), then its memory with the core collector\n" +
          "(vmcore.incomplete, renamed vmcore only when the collector succeeded), and status.json\n" +
          "(result, sizes, durations, the collector's exit status and messages); then it unmounts and\n" +
          "runs the final action. A failure prints one line \"purgatory-capture: FAILED STEP: WHY\",\n" +
          "writes what it can and runs the failure action. docs/capture-initramfs.md has the details.\n\n" +
          "Programs come from one root: --root / on the target itself, or --sysroot DIR, a tree of the\n" +
          "target's packages unpacked elsewhere. busybox (static) and makedumpfile are taken with\n" +
          "every shared library they load (PT_INTERP, DT_NEEDED, read from the files: no ldd), and the\n" +
          "modules named with --modules with their dependencies (modules.dep, else each module's\n" +
          ".modinfo; compressed modules are stored decompressed; built-in ones are skipped).\n" +
          "On the target the dump goes by default to the root file system's device (root= of\n" +
          "/proc/cmdline, else /proc/mounts); with --sysroot, --dump-to is required.\n\n" +
          "Same inputs, same bytes: entries sorted, times and owners zero, gzip at level 9 (node:zlib).\n" +
          "Prints the compressed, cpio and unpacked sizes (a crashkernel= estimate needs them).",
      )
      .option("output", { alias: "o", type: "string", demandOption: true, describe: "Where to write the archive (atomically)" })
      .option("root", { type: "string", describe: "Take the programs from this root: / when run on the target" })
      .option("sysroot", { type: "string", describe: "Take the programs from this tree of the target's packages (off-target)" })
      .option("modules", { type: "string", array: true, coerce: (v: string[]) => v.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s !== ""), describe: "Kernel modules to load, comma-separated (their dependencies are added)" })
      .option("kernel-release", { type: "string", describe: "The capture kernel's release, a directory under /lib/modules (default: the running one with --root /, else the only one)" })
      .option("busybox", { type: "string", describe: "busybox in the root (default: /bin/busybox, /usr/bin/busybox, ...)" })
      .option("makedumpfile", { type: "string", describe: "makedumpfile in the root (default: /usr/sbin/makedumpfile, /usr/bin/makedumpfile, ...)" })
      .option("dump-to", { type: "string", describe: "The dump device: /dev/NAME, LABEL=label or UUID=uuid (default on the target: the root file system's)" })
      .option("fs-type", { type: "string", describe: "Its file system type (default: from /proc/mounts for the root's device, else auto: try every type)" })
      .option("dir", { type: "string", default: DEFAULT_CONFIG.directory, describe: "The directory on the dump file system" })
      .option("core-collector", { type: "string", default: DEFAULT_CONFIG.coreCollector, describe: "The command that copies /proc/vmcore (its input and output are appended)" })
      .option("final-action", { choices: ACTIONS, default: DEFAULT_CONFIG.finalAction as Action, describe: "What to do once the dump is saved" })
      .option("failure-action", { choices: ACTIONS, default: DEFAULT_CONFIG.failureAction as Action, describe: "What to do when saving fails" })
      .option("wait", { type: "number", default: DEFAULT_CONFIG.waitSeconds, describe: "Seconds to wait for the dump device" })
      .option("timeout", { type: "number", default: DEFAULT_CONFIG.timeoutSeconds, describe: "Seconds the whole capture may take before the failure action is forced" })
      .option("compress", { choices: ["gzip", "none"] as const, default: "gzip" as const, describe: "Compress the archive (the capture kernel needs CONFIG_RD_GZIP)" })
      .option("json", { type: "boolean", describe: "Print the report as JSON (every file, library and module)" })
      .example("$0 initramfs -o capture.cpio.gz --root / --modules virtio_blk,virtio_pci", "on the target: dump to the root file system")
      .example("$0 initramfs -o capture.cpio.gz --sysroot ~/.cache/purgatory/arm64/sysroot --modules virtio_blk,virtio_pci --dump-to LABEL=crash --fs-type ext4", "off-target") as Argv<Args>,
  handler: (argv) =>
    run(argv, async () => {
      if ((argv.root === undefined) === (argv.sysroot === undefined)) throw new UsageError("Give the programs' root: --root / on the target, or --sysroot DIR (one of them).");
      const onTarget = argv.root !== undefined && argv.root.replace(/\/+$/, "") === "";
      let dumpTo = argv.dumpTo;
      let fsType = argv.fsType;
      let dumpFrom: string | null = null;
      if (dumpTo === undefined) {
        if (!onTarget) throw new UsageError("Name the dump device with --dump-to /dev/NAME, LABEL=… or UUID=… (only --root / on the target can default to its root file system).");
        const found = rootDumpTarget(readFileSync("/proc/cmdline", "utf8"), readFileSync("/proc/mounts", "utf8"));
        dumpTo = found.dumpTo;
        fsType ??= found.fsType ?? undefined;
        dumpFrom = found.from;
      }
      const kernelRelease = argv.kernelRelease ?? (onTarget && (argv.modules ?? []).length > 0 ? readFileSync("/proc/sys/kernel/osrelease", "utf8").trim() : undefined);
      const { bytes, report: r } = await buildCaptureInitramfs({
        root: fsRoot(argv.root ?? (argv.sysroot as string)),
        ...(argv.busybox === undefined ? {} : { busybox: argv.busybox }),
        ...(argv.makedumpfile === undefined ? {} : { makedumpfile: argv.makedumpfile }),
        modules: argv.modules ?? [],
        ...(kernelRelease === undefined ? {} : { kernelRelease }),
        config: {
          dumpTo,
          fsType: fsType ?? DEFAULT_CONFIG.fsType,
          directory: argv.dir ?? DEFAULT_CONFIG.directory,
          coreCollector: argv.coreCollector ?? DEFAULT_CONFIG.coreCollector,
          finalAction: argv.finalAction ?? DEFAULT_CONFIG.finalAction,
          failureAction: argv.failureAction ?? DEFAULT_CONFIG.failureAction,
          waitSeconds: argv.wait ?? DEFAULT_CONFIG.waitSeconds,
          timeoutSeconds: argv.timeout ?? DEFAULT_CONFIG.timeoutSeconds,
        },
        compress: argv.compress ?? "gzip",
      });
      writeAtomically(argv.output, bytes);
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      report(argv, { output: argv.output, sha256, dumpFrom, ...withByteSizes(r) }, text);
    }),
};
export default command;

/** The report with every size in bytes a bigint, which JSON prints as "0x…" (README: one rule for numbers). */
function withByteSizes(r: CaptureReport) {
  return {
    ...r,
    compressedBytes: BigInt(r.compressedBytes),
    cpioBytes: BigInt(r.cpioBytes),
    unpackedBytes: BigInt(r.unpackedBytes),
    files: r.files.map((f) => ({ ...f, bytes: BigInt(f.bytes) })),
    modules: r.modules === null ? null : { ...r.modules, load: r.modules.load.map((m) => ({ ...m, bytes: BigInt(m.bytes) })) },
  };
}

function text(r: ReturnType<typeof withByteSizes> & { output: string; sha256: string; dumpFrom: string | null }): string {
  const c = r.config;
  const m = r.modules;
  const interp = r.interpreters.map((i) => i.asked).join(", ");
  return [
    `wrote ${r.output}: ${r.compressedBytes} bytes${r.compression === "gzip" ? ` (gzip level ${r.gzipLevel})` : ""}; cpio ${r.cpioBytes} bytes; unpacked ${r.unpackedBytes} bytes in ${r.files.length} files, ${r.entries} entries`,
    `  sha256        ${r.sha256}`,
    `  root          ${r.root}`,
    `  busybox       ${r.busybox.from} (${r.busybox.static ? "static" : "dynamic"}, ${r.busybox.applets} applets)`,
    `  makedumpfile  ${r.makedumpfile.path}${interp === "" ? "" : `, interpreter ${interp}`}`,
    `  libraries     ${r.libraries.length === 0 ? "none" : r.libraries.map((l) => l.soname).join(" ")}`,
    ...(r.libraryDirs.length === 0 ? [] : [`                from ${r.libraryDirs.join(":")}`]),
    m === null
      ? "  modules       none"
      : `  modules       ${m.load.length === 0 ? "none to load" : m.load.map((x) => x.name).join(" ")} (load order; ${m.release}, dependencies from ${m.dependencySource})`,
    ...(m !== null && m.builtin.length > 0 ? [`                built in: ${m.builtin.join(" ")}`] : []),
    ...(m !== null && m.missingSoftdeps.length > 0 ? [`                soft dependencies not found (skipped, as modprobe does): ${m.missingSoftdeps.join(" ")}`] : []),
    `  dump to       ${c.dumpTo} (${c.fsType})${r.dumpFrom === null ? "" : `, from ${r.dumpFrom}`}: ${c.directory}/<UTC time>-<boot id>/`,
    `  collector     ${c.coreCollector}`,
    `  then          ${c.finalAction}; on failure ${c.failureAction}; device wait ${c.waitSeconds} s; whole capture at most ${c.timeoutSeconds} s`,
  ].join("\n");
}

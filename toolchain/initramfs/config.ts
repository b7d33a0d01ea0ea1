import { InputError } from "../bytes/index.js";

/**
 * The capture configuration: where the dump goes and what happens after, in
 * the spirit of kdump.conf(5). `/init` reads it as `/etc/purgatory/capture.conf`
 * with the shell's `.`; every value is written single-quoted, so no value is
 * ever expanded or split by that shell. docs/capture-initramfs.md lists the keys.
 */

export const ACTIONS = ["reboot", "poweroff", "halt", "shell"] as const;
export type Action = (typeof ACTIONS)[number];

export interface CaptureConfig {
  /** The dump device: `/dev/NAME`, `LABEL=label` or `UUID=uuid` (found with busybox findfs). */
  readonly dumpTo: string;
  /** Its file system type for mount -t, or "auto" (mount tries each type the kernel knows). */
  readonly fsType: string;
  /** The directory on that file system that receives `<timestamp>-<id>/`. */
  readonly directory: string;
  /** The command that copies the dump; /init appends `/proc/vmcore <dir>/vmcore.incomplete`. */
  readonly coreCollector: string;
  readonly finalAction: Action;
  readonly failureAction: Action;
  /** Seconds to wait for the dump device to appear. */
  readonly waitSeconds: number;
  /** Seconds the whole capture may take before the failure action is forced. */
  readonly timeoutSeconds: number;
}

export const DEFAULT_CONFIG = {
  directory: "/var/crash",
  coreCollector: "makedumpfile -l -d 31",
  finalAction: "reboot",
  failureAction: "reboot",
  fsType: "auto",
  waitSeconds: 60,
  timeoutSeconds: 7200,
} as const satisfies Omit<CaptureConfig, "dumpTo">;

/** What the builder adds to the configuration: facts of the archive, not choices. */
export interface GeneratedConfig {
  /** Kernel modules to insmod, in order (archive paths). */
  readonly modules: readonly string[];
  /** LD_LIBRARY_PATH for the programs (the directories their libraries were found in). */
  readonly libraryPath: readonly string[];
  /** PATH for /init. */
  readonly path: readonly string[];
}

/** Where /init reads the configuration. */
export const CONFIG_PATH = "/etc/purgatory/capture.conf";

/**
 * Checks a configuration's values.
 * @param programs the commands the archive has (busybox applets, makedumpfile): the collector must be one.
 * @throws InputError `BAD_VALUE` naming the key.
 */
export function checkConfig(c: CaptureConfig, programs: ReadonlySet<string>): void {
  const bad = (key: string, why: string, hint: string): never => {
    throw new InputError("BAD_VALUE", `Cannot use ${key} ${JSON.stringify((c as unknown as Record<string, unknown>)[key])}: ${why}`, key, hint);
  };
  for (const [key, v] of Object.entries(c)) {
    if (typeof v === "string" && /[\0\n\r]/.test(v)) bad(key, "it holds a NUL or a line break", "Give one line.");
  }
  if (c.dumpTo.startsWith("/dev/disk/")) {
    bad("dumpTo", "the capture initramfs has no udev, so /dev/disk/ links do not exist there", "Use UUID=… or LABEL=… (blkid on the target shows them).");
  }
  if (!/^\/dev\/\S+$/.test(c.dumpTo) && !/^LABEL=.+$/.test(c.dumpTo) && !/^UUID=[0-9A-Fa-f-]+$/.test(c.dumpTo)) {
    bad("dumpTo", "it is not /dev/NAME, LABEL=… or UUID=…", "Name a block device, or the file system's label or UUID (busybox findfs resolves them).");
  }
  if (!/^[a-z0-9_.]+$/.test(c.fsType)) bad("fsType", "it is not a file system type name", "Give a type from /proc/filesystems (ext4, xfs, vfat…), or auto.");
  if (!/^(\/[A-Za-z0-9._+-]+)+$/.test(c.directory) || c.directory.split("/").some((p) => p === "." || p === "..")) {
    bad("directory", "it is not an absolute path of plain names", "Give a path like /var/crash.");
  }
  const program = c.coreCollector.trim().split(/\s+/)[0] ?? "";
  if (!programs.has(program)) {
    bad("coreCollector", `its program ${JSON.stringify(program)} is not in the initramfs`, `Use makedumpfile (the default: makedumpfile -l -d 31) or a busybox applet such as cp.`);
  }
  for (const key of ["finalAction", "failureAction"] as const) {
    if (!(ACTIONS as readonly string[]).includes(c[key])) bad(key, `it is not one of ${ACTIONS.join(", ")}`, `Choose one of ${ACTIONS.join(", ")}.`);
  }
  const whole = (key: "waitSeconds" | "timeoutSeconds", min: number) => {
    if (!Number.isInteger(c[key]) || c[key] < min || c[key] > 7 * 86400) bad(key, `it is not a whole number of seconds from ${min} to 604800`, "Give whole seconds.");
  };
  whole("waitSeconds", 0);
  whole("timeoutSeconds", 1);
  if (c.timeoutSeconds <= c.waitSeconds) bad("timeoutSeconds", `it leaves no time after waiting ${c.waitSeconds} s for the device`, "Make the timeout longer than the wait.");
}

/** A shell word that the shell takes literally: single quotes, with each ' written '\''. */
export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The text of /etc/purgatory/capture.conf. Call `checkConfig` first.
 * @throws RangeError when a generated path holds whitespace or a colon (the separators).
 */
export function serializeConfig(c: CaptureConfig, g: GeneratedConfig): string {
  // Module paths are joined with spaces, directories with colons.
  for (const p of [...g.modules, ...g.libraryPath, ...g.path]) {
    if (/[\s:]/.test(p)) throw new RangeError(`generated path ${JSON.stringify(p)} holds whitespace or a colon`);
  }
  const line = (k: string, v: string | number) => `${k}=${shellQuote(String(v))}\n`;
  return (
    "# The capture configuration, written by `purgatory initramfs` (docs/capture-initramfs.md).\n" +
    "# /init reads it with the shell's `.`: every value is single-quoted.\n" +
    line("dump_to", c.dumpTo) +
    line("fs_type", c.fsType) +
    line("directory", c.directory) +
    line("core_collector", c.coreCollector) +
    line("final_action", c.finalAction) +
    line("failure_action", c.failureAction) +
    line("wait_seconds", c.waitSeconds) +
    line("timeout_seconds", c.timeoutSeconds) +
    "# Facts of this archive, set by the builder:\n" +
    line("modules", g.modules.join(" ")) +
    line("library_path", g.libraryPath.join(":")) +
    line("path", g.path.join(":"))
  );
}

/**
 * Reads a configuration file as `serializeConfig` writes it: comment lines,
 * and `key='value'` lines whose value is one single-quoted word (each '
 * inside written '\''), which the shell's `.` reads back to the same text.
 * @returns every key with its value, in file order.
 * @throws InputError `BAD_VALUE` (where = `source` and the line number) for
 *   any other line: the file was not written by `purgatory initramfs`.
 */
export function parseConfig(text: string, source = CONFIG_PATH): Map<string, string> {
  const out = new Map<string, string>();
  text.split("\n").forEach((line, i) => {
    if (line === "" || line.startsWith("#")) return;
    const m = /^([a-z_]+)=((?:'[^']*'|\\')+)$/.exec(line);
    if (m === null) {
      throw new InputError("BAD_VALUE", `Cannot read ${source} line ${i + 1}: ${JSON.stringify(line.slice(0, 80))} is not key='value'`, `${source}:${i + 1}`,
        "The configuration is the one `purgatory initramfs` writes; rebuild the initramfs");
    }
    out.set(m[1]!, m[2]!.replace(/'([^']*)'|\\'/g, (q: string, inner: string | undefined) => (q === "\\'" ? "'" : inner ?? "")));
  });
  return out;
}

/** A dump target found from the running system. */
export interface RootDumpTarget {
  readonly dumpTo: string;
  /** From /proc/mounts, or null when the root's mount line was not found. */
  readonly fsType: string | null;
  /** Where each value came from, for the report. */
  readonly from: string;
}

/**
 * The root file system's device, as a dump target: `root=` of the kernel
 * command line when it is /dev/…, LABEL= or UUID= (Documentation/admin-guide/
 * kernel-parameters.txt "root="), else the device /proc/mounts shows at `/`
 * (the last such line: an initramfs's rootfs is mounted there first); the
 * type from /proc/mounts.
 * @throws InputError `NO_DUMP_TARGET` when the root is not on a block device (nfs, overlay, tmpfs).
 */
export function rootDumpTarget(cmdline: string, mounts: string): RootDumpTarget {
  const rootLine = mounts.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f[1] === "/").at(-1);
  const mountDev = rootLine?.[0];
  const fsType = rootLine?.[2] ?? null;
  const rootArg = /(?:^|\s)root=(\S+)/.exec(cmdline)?.[1];
  // root=/dev/nfs names no device (Documentation/admin-guide/nfs/nfsroot.rst), and
  // /proc/mounts says /dev/root when root= gave a device number: neither exists
  // in the capture initramfs, nor do udev's /dev/disk/ links.
  const usable = (d: string) => /^\/dev\/\S+$/.test(d) && !/^\/dev\/(disk\/|nfs$|root$)/.test(d);
  if (rootArg !== undefined && (usable(rootArg) || /^(LABEL|UUID)=.+$/.test(rootArg))) {
    return { dumpTo: rootArg, fsType, from: `root=${rootArg} in /proc/cmdline${fsType === null ? "" : `, type ${fsType} from /proc/mounts`}` };
  }
  if (mountDev !== undefined && usable(mountDev)) {
    return { dumpTo: mountDev, fsType, from: `the / line of /proc/mounts (${mountDev} ${fsType ?? "?"})` };
  }
  throw new InputError(
    "NO_DUMP_TARGET",
    `Cannot choose a dump device: the root file system is ${mountDev === undefined ? "not in /proc/mounts" : `on ${mountDev} (${fsType ?? "?"})`} and root= is ${rootArg === undefined ? "not on the command line" : rootArg}`,
    "/proc/mounts",
    "Name the dump device with --dump-to /dev/NAME, LABEL=… or UUID=…, and its type with --fs-type.",
  );
}

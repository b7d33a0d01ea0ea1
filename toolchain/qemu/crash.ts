import { spawn, execFile, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { InputError, packageFile } from "../bytes/index.js";
import { SEGMENT_FILE, buildBundle, composeCommandLine } from "../bundle/index.js";
import { buildCpio, busyboxInitramfs } from "../initramfs/index.js";
import { captureSource, collectTarget, parseCapture } from "../target/index.js";
import type { Target } from "../target/index.js";
import { classifyCrash, loadFailure, type CrashEnd, type CrashOutcome, type CrashVerdict, type Milestone } from "./crash-console.js";
import { qemuMissing, virtArgs } from "./machine.js";

/**
 * One real crash of an emulated production machine, for a given crash
 * reservation: the probe of `purgatory crashkernel --calibrate --qemu`.
 *
 * QEMU virt boots the kernel with `crashkernel=SIZE` into a production
 * initramfs whose /init (crash-init.sh) describes the machine with
 * examples/collect-target.sh and sends the capture over the console. The
 * crash bundle depends on that boot (the crash notes' and vmcoreinfo's
 * addresses, where crashk_res landed), so it is built here, on the host, from
 * the capture, exactly as `purgatory describe` and `purgatory bundle --mode
 * crash` would; only the four small files the boot decides go back to the
 * guest (the kernel and the capture initramfs are in its archive already).
 * The guest loads them with examples/loader and crashes with sysrq c; the
 * capture kernel boots through our purgatory into the capture initramfs,
 * which saves the dump on a virtio disk made here with mkfs.ext4 and
 * labelled as its configuration asks, then powers off or reboots (either
 * ends QEMU, which runs with -no-reboot). The verdict is read from the
 * console (crash-console.ts) and, on success, from status.json on the disk
 * (read with debugfs, without mounting it).
 */

/** The dump target of the capture initramfs (its /etc/purgatory/capture.conf), which the probe's disk must satisfy. */
export interface DumpDisk {
  /** `LABEL=label`, `UUID=uuid` or `/dev/vda` (the one disk the probe attaches). */
  readonly dumpTo: string;
  /** ext2, ext3, ext4 or auto (made as ext4). */
  readonly fsType: string;
  /** The directory the dumps go to, e.g. /var/crash. */
  readonly directory: string;
  /** The disk's size in MiB (a sparse file). */
  readonly mib: number;
}

export interface ProbeTimeouts {
  /** From QEMU's start to the capture's arrival. */
  readonly bootMs: number;
  /** From `echo c` to a verdict. */
  readonly captureMs: number;
  /** After the crash: a console silent this long is a hang. */
  readonly quietMs: number;
}

export const DEFAULT_PROBE_TIMEOUTS: ProbeTimeouts = { bootMs: 600_000, captureMs: 600_000, quietMs: 180_000 };

export interface CrashProbeSetup {
  /** The raw kernel Image: QEMU's -kernel (production) and the bundle's kernel (capture). */
  readonly kernel: Uint8Array;
  /** The same bytes in a file, for QEMU. */
  readonly kernelPath: string;
  /** The capture initramfs: the bundle's initrd. */
  readonly initrd: Uint8Array;
  /** The production initramfs from `crashProbeInitramfs` (a file). */
  readonly productionPath: string;
  readonly memory: bigint;
  readonly smp: number;
  /** Words the capture command line adds to the production line (without crashkernel=), e.g. "nr_cpus=1 reset_devices". */
  readonly append: string;
  readonly disk: DumpDisk;
  /** From `findHostTools`. */
  readonly tools: HostTools;
  /** A directory for the disks of the probes. */
  readonly workDir: string;
  /** Milliseconds on a monotonic clock (the caller's: the library does not read it). */
  readonly clock: () => number;
  readonly timeouts?: Partial<ProbeTimeouts>;
  /** The QEMU binary; default `qemu-system-aarch64` on PATH. */
  readonly qemu?: string;
}

/** The production kernel's command line for a probe of `size` bytes. */
export function productionCommandLine(size: bigint): string {
  // earlycon: a capture kernel that dies before its console is registered
  // still says why. panic=-1: a panic resets at once, which ends QEMU.
  return `console=ttyAMA0 earlycon crashkernel=${size >> 20n}M panic=-1`;
}

/** A probe's outcome: `CrashOutcome`, or what stopped it before the crash. */
export type ProbeOutcome =
  | CrashOutcome
  /** The production kernel reserved no crash memory (or less than asked). */
  | "no-reservation"
  /** kexec_load refused the segments, or they do not fit in crashk_res (the layout refuses what the kernel would). */
  | "load-refused";

export interface ProbeResult {
  /** The crashkernel= size probed, bytes. */
  readonly size: bigint;
  /** True when the dump was saved and status.json says success. */
  readonly ok: boolean;
  readonly outcome: ProbeOutcome;
  /** What failed (or what was saved), one line. */
  readonly reason: string;
  /** The last milestone of the capture (null before the crash). */
  readonly reached: Milestone | null;
  /** The capture kernel's "Memory: …K/…K available" line, or null. */
  readonly memory: string | null;
  /** The capture kernel's CMA line ("cma: Reserved …" or "cma: Failed to reserve …"), or null. */
  readonly cma: string | null;
  /** Milliseconds from QEMU's start to its end. */
  readonly wallMs: number;
  /** Milliseconds since QEMU's start of each step reached: production /init, capture received, bundle sent, crash, capture /init, saved, end. */
  readonly steps: Readonly<Record<string, number>>;
  /** status.json of the dump, when one was read. */
  readonly status: Readonly<Record<string, unknown>> | null;
  /** The crash reservation the production kernel made, from the capture. */
  readonly crashKernel: { readonly start: bigint; readonly end: bigint } | null;
  /** The production kernel's MemTotal and MemAvailable at its /init, bytes (null when not reported). */
  readonly productionMemory: { readonly total: bigint; readonly available: bigint } | null;
  /** The production machine as the capture described it (null when it never arrived). */
  readonly target: Target | null;
  /** The capture command line. */
  readonly commandLine: string;
  /** Every console line of the run. */
  readonly console: readonly string[];
}

/** Busybox applets crash-init.sh and collect-target.sh run. */
const APPLETS = [
  "sh", "mount", "dmesg", "stty", "cat", "sha256sum", "base64", "gzip", "gunzip", "head", "timeout", "wc", "cpio",
  "tr", "od", "id", "poweroff",
];

export interface ProductionInputs {
  /** A static arm64 busybox (the capture initramfs carries one). */
  readonly busybox: Uint8Array;
  /** The static arm64 examples/loader. */
  readonly loader: Uint8Array;
  /** The raw kernel Image, as bundle/kernel.bin. */
  readonly kernel: Uint8Array;
  /** The capture initramfs, as bundle/initrd.bin. */
  readonly initrd: Uint8Array;
}

/**
 * The production initramfs (uncompressed: unpacking a gzip archive of tens of
 * MiB costs seconds under TCG, and an Image barely compresses): crash-init.sh
 * as /init, collect-target.sh, the loader, and /bundle/kernel.bin and
 * /bundle/initrd.bin, which every probe's bundle names.
 */
export function crashProbeInitramfs(p: ProductionInputs): Uint8Array {
  return busyboxInitramfs({
    busybox: p.busybox,
    applets: APPLETS,
    init: readFileSync(packageFile("toolchain", "qemu", "crash-init.sh"), "utf8"),
    extra: [
      { path: "/tmp", directory: true },
      { path: "/bin/collect-target.sh", mode: 0o755, data: readFileSync(packageFile("examples", "collect-target.sh")) },
      { path: "/bin/loader", mode: 0o755, data: p.loader },
      { path: `/bundle/${SEGMENT_FILE.kernel}`, data: p.kernel },
      { path: `/bundle/${SEGMENT_FILE.initrd}`, data: p.initrd },
    ],
  });
}

/** A line the guest prints for the host: `@@WORD REST UPTIME@@`. */
const GUEST = /@@([A-Z]+)(?: (.*?))? ([0-9]+\.[0-9]+)@@/;
const BASE64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;

interface Line {
  readonly t: number;
  readonly text: string;
}

/** QEMU with its serial console on stdio, read line by line. */
class Guest {
  readonly lines: Line[] = [];
  cursor = 0;
  exit: { code: number | null } | null = null;
  readonly exited: Promise<void>;
  private partial = "";
  private stderr = "";
  private readonly child: ChildProcessWithoutNullStreams;
  private wakers: (() => void)[] = [];

  constructor(readonly bin: string, readonly args: readonly string[], private readonly clock: () => number, readonly t0: number) {
    this.child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("latin1");
    this.child.stdout.on("data", (d: string) => {
      const parts = (this.partial + d).split("\n");
      this.partial = parts.pop() ?? "";
      for (const p of parts) this.lines.push({ t: this.now(), text: p.replace(/\r+$/, "") });
      this.wake();
    });
    this.child.stderr.setEncoding("utf8").on("data", (d: string) => (this.stderr += d));
    this.child.stdin.on("error", () => undefined);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        if (this.exit !== null) return;
        if (this.partial !== "") this.lines.push({ t: this.now(), text: this.partial });
        this.partial = "";
        this.exit = { code };
        this.wake();
        resolve();
      };
      this.child.on("close", done);
      this.child.on("error", (e) => {
        this.stderr += `${e.message}\n`;
        this.spawnError = e;
        done(null);
      });
    });
  }

  spawnError: Error | null = null;

  now(): number {
    return this.clock() - this.t0;
  }

  write(text: string): void {
    this.child.stdin.write(text, "latin1");
  }

  kill(): void {
    if (this.exit === null) this.child.kill("SIGKILL");
  }

  get qemuStderr(): string {
    return this.stderr.trim();
  }

  /**
   * The next line from `cursor` matching `re` (the cursor moves past it), or
   * null when QEMU exits, `deadline` (ms since start) passes, or no line
   * arrives for `quietMs`.
   */
  async next(re: RegExp, deadline: number, quietMs = Infinity): Promise<{ line: Line; match: RegExpExecArray } | { end: "exited" | "timeout" | "quiet" }> {
    for (;;) {
      for (; this.cursor < this.lines.length; this.cursor++) {
        const line = this.lines[this.cursor] as Line;
        const match = re.exec(line.text);
        if (match !== null) {
          this.cursor++;
          return { line, match };
        }
      }
      if (this.exit !== null) return { end: "exited" };
      const lastT = this.lines.at(-1)?.t ?? 0;
      const now = this.now();
      if (now >= deadline) return { end: "timeout" };
      if (now - lastT >= quietMs) return { end: "quiet" };
      const wait = Math.max(1, Math.min(deadline - now, quietMs === Infinity ? deadline - now : quietMs - (now - lastT)));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, wait);
        const wakers = this.wakers;
        function done(): void {
          clearTimeout(timer);
          const i = wakers.indexOf(done);
          if (i >= 0) wakers.splice(i, 1);
          resolve();
        }
        wakers.push(done);
      });
    }
  }

  /** Waits until QEMU exits or `deadline` (ms since start) passes; true when it exited. */
  async ended(deadline: number): Promise<boolean> {
    while (this.exit === null && this.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.max(1, deadline - this.now()));
        const wakers = this.wakers;
        function done(): void {
          clearTimeout(timer);
          const i = wakers.indexOf(done);
          if (i >= 0) wakers.splice(i, 1);
          resolve();
        }
        wakers.push(done);
      });
    }
    return this.exit !== null;
  }

  private wake(): void {
    for (const w of [...this.wakers]) w();
  }
}

/**
 * Runs one probe: boots the production machine with `crashkernel=SIZE`,
 * crashes it into the capture and says what happened.
 * @throws InputError `QEMU_MISSING`, `QEMU_FAILED` (QEMU refused the
 *   machine or the production guest never sent its capture: a broken setup,
 *   not an outcome of the size), and the errors of describing the capture.
 */
export async function runCrashProbe(setup: CrashProbeSetup, size: bigint): Promise<ProbeResult> {
  const to = { ...DEFAULT_PROBE_TIMEOUTS, ...setup.timeouts };
  const dir = join(setup.workDir, `probe-${size >> 20n}M`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const disk = join(dir, "dump.img");
  await makeDumpDisk(disk, setup.disk, setup.tools, dir);
  const bin = setup.qemu ?? "qemu-system-aarch64";
  const args = [
    ...virtArgs({ el2: false, memory: setup.memory, smp: setup.smp }),
    "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "stdio", "-nic", "none", "-no-reboot",
    "-kernel", setup.kernelPath, "-initrd", setup.productionPath, "-append", productionCommandLine(size),
    "-drive", `file=${disk.replaceAll(",", ",,")},format=raw,if=none,id=dump`, "-device", "virtio-blk-pci,drive=dump",
  ];
  const g = new Guest(bin, args, setup.clock, setup.clock());
  const steps: Record<string, number> = {};
  let commandLine = "";
  let crashKernel: ProbeResult["crashKernel"] = null;
  let target: Target | null = null;
  let productionMemory: ProbeResult["productionMemory"] = null;
  const result = (outcome: ProbeOutcome, reason: string, more: Partial<ProbeResult> = {}): ProbeResult => ({
    size, ok: false, outcome, reason, reached: null, memory: null, cma: null, wallMs: g.now(), steps, status: null, crashKernel, target, productionMemory, commandLine,
    console: g.lines.map((l) => l.text), ...more,
  });
  const broken = async (what: string): Promise<never> => {
    g.kill();
    await g.exited;
    if (g.spawnError !== null) {
      const code = (g.spawnError as NodeJS.ErrnoException).code;
      if (code === "ENOENT" || code === "EACCES") throw qemuMissing(bin, g.spawnError);
    }
    const tail = g.lines.slice(-15).map((l) => l.text).join("\n");
    throw new InputError("QEMU_FAILED", `Cannot run the crash probe of ${size >> 20n} MiB: ${what}${g.qemuStderr === "" ? "" : `; QEMU: ${g.qemuStderr.split("\n").at(-1)}`}\n${tail}`,
      `${bin} ${args.join(" ")}`, "Check that the kernel boots in QEMU virt with this memory and CPU count (purgatory boot), and give the probe more time on a loaded host");
  };
  try {
    const init = await g.next(/@@INIT /, to.bootMs);
    if (!("line" in init)) return await broken(`the production guest did not start its /init (${init.end})`);
    steps["production /init"] = init.line.t;
    const mem = await g.next(/@@(?:MEMINFO (\d+) (\d+)|BEGIN|FAILED) /, to.bootMs);
    if ("line" in mem && mem.match[1] !== undefined) productionMemory = { total: BigInt(mem.match[1]) * 1024n, available: BigInt(mem.match[2]!) * 1024n };
    else if ("line" in mem) g.cursor--; // the frame (or the failure) is read next
    const capture = await receiveFrame(g, "capture", to.bootMs);
    if (typeof capture === "string") return await broken(capture);
    steps["capture received"] = g.now();
    const described = collectTarget(captureSource(parseCapture(new TextDecoder().decode(capture)), "capture")).target;
    target = described;
    crashKernel = described.crashKernel;
    commandLine = composeCommandLine({ mode: "crash", reuse: described.commandLine, append: setup.append });
    const reserved = crashKernel === null ? 0n : crashKernel.end - crashKernel.start;
    if (reserved !== size) {
      const why = g.lines.map((l) => l.text).find((t) => /crashkernel/i.test(t) && /fail|cannot|not|too/i.test(t));
      g.kill();
      await g.exited;
      return result("no-reservation", `the production kernel reserved ${reserved === 0n ? "no crash memory" : `${reserved >> 20n} MiB`} for crashkernel=${size >> 20n}M${why === undefined ? "" : `: ${why.trim()}`}`);
    }
    let files: Uint8Array;
    try {
      files = await bundleFiles(setup, described, commandLine, size);
    } catch (e) {
      if (!(e instanceof InputError) || !["NO_FIT", "OVER_HALF_RAM", "KEXEC_LOAD_REFUSED"].includes(e.code)) throw e;
      g.kill();
      await g.exited;
      return result("load-refused", `the segments cannot be loaded into the ${size >> 20n} MiB reservation (the layout refuses what kexec_load would): ${e.message}`);
    }
    const sent = await sendBundle(g, files, to.bootMs);
    if (sent !== null) return await broken(sent);
    steps["bundle sent"] = g.now();
    const loaded = await g.next(/@@(LOADED|LOADFAILED|FAILED)\b/, g.now() + to.bootMs);
    if (!("line" in loaded)) return await broken(`no answer to the bundle (${loaded.end})`);
    if (loaded.match[1] === "LOADFAILED") {
      g.kill();
      await g.exited;
      return result("load-refused", loadFailure(loaded.line.text) ?? loaded.line.text);
    }
    if (loaded.match[1] === "FAILED") return await broken(loaded.line.text);
    const crashed = await g.next(/@@CRASH /, g.now() + to.bootMs);
    if (!("line" in crashed)) return await broken(`the guest did not crash (${crashed.end})`);
    steps["echo c"] = crashed.line.t;
    const from = g.cursor;
    // The verdict: SAVED or FAILED from the capture /init, a panic (panic=-1
    // resets, which ends QEMU), the end of QEMU, or a timeout.
    const deadline = crashed.line.t + to.captureMs;
    const watched = await g.next(/purgatory-capture: (SAVED|FAILED) /, deadline, to.quietMs);
    let end: CrashEnd;
    if ("line" in watched) {
      // status.json was synced before the line; the final action (poweroff,
      // reboot) ends QEMU; halt or shell would not, so it is not waited for long.
      await g.ended(g.now() + 60_000);
      end = { how: "exited", exitCode: g.exit?.code ?? null };
    } else if (watched.end === "exited") {
      end = { how: "exited", exitCode: g.exit?.code ?? null };
    } else {
      end = watched.end === "quiet" ? { how: "quiet", seconds: to.quietMs / 1000 } : { how: "timeout", seconds: to.captureMs / 1000 };
    }
    g.kill();
    await g.exited;
    const captureLines = g.lines.slice(from);
    const at = (re: RegExp) => captureLines.find((l) => re.test(l.text))?.t;
    const initAt = at(/purgatory-capture: started at/);
    if (initAt !== undefined) steps["capture /init"] = initAt;
    const verdict: CrashVerdict = classifyCrash(captureLines.map((l) => l.text), end);
    steps["end"] = g.now();
    const seen = { reached: verdict.reached, memory: verdict.memory, cma: verdict.cma };
    if (verdict.outcome !== "saved") return result(verdict.outcome, verdict.reason, seen);
    steps["saved"] = at(/purgatory-capture: SAVED /) ?? g.now();
    const path = /purgatory-capture: SAVED (\S+) on /.exec(verdict.line ?? "")?.[1];
    const status = path === undefined ? null : await readStatus(disk, `${path}/status.json`, setup.tools);
    const ok = status !== null && status["result"] === "success";
    const why = ok ? verdict.reason
      : status === null ? `the console says SAVED but ${path ?? "the dump directory"}/status.json cannot be read from the disk`
      : `status.json says ${JSON.stringify(status["result"])}${status["message"] ? `: ${String(status["message"])}` : ""}`;
    return result(ok ? "saved" : "capture-failed", why, { ok, ...seen, status });
  } finally {
    g.kill();
    await g.exited;
    await rm(dir, { recursive: true, force: true });
  }
}

/** Receives frame NAME (up to three copies); returns its bytes, or why not. */
async function receiveFrame(g: Guest, name: string, timeoutMs: number): Promise<Uint8Array | string> {
  let why = "";
  for (let copy = 0; copy < 3; copy++) {
    const begin = await g.next(/@@(BEGIN|FAILED) /, g.now() + timeoutMs);
    if (!("line" in begin)) return `no frame ${name} arrived (${begin.end})`;
    if (begin.match[1] === "FAILED") return `the guest says: ${begin.line.text}`;
    const [got, size, sha] = (GUEST.exec(begin.line.text)?.[2] ?? "").split(" ");
    if (got !== name) return `expected frame ${name}, the guest sent ${String(got)}`;
    const start = g.cursor;
    const end = await g.next(new RegExp(`@@END ${name} `), g.now() + timeoutMs);
    if (!("line" in end)) return `frame ${name} has no end (${end.end})`;
    const text = g.lines.slice(start, g.cursor - 1).map((l) => l.text).filter((l) => BASE64_LINE.test(l)).join("");
    try {
      const bytes = new Uint8Array(gunzipSync(Buffer.from(text, "base64")));
      if (bytes.length === Number(size) && sha256(bytes) === sha) {
        g.write("ACK\n");
        return bytes;
      }
      why = `${bytes.length} bytes with sha256 ${sha256(bytes)}, the frame says ${String(size)} and ${String(sha)}`;
    } catch (e) {
      why = `not base64 of gzip (${(e as Error).message})`;
    }
    g.write("NAK\n");
  }
  return `frame ${name} arrived damaged three times; last: ${why}`;
}

/** Sends the bundle cpio (up to three times); returns null once the guest took it, else why not. */
async function sendBundle(g: Guest, cpio: Uint8Array, timeoutMs: number): Promise<string | null> {
  const text = gzipSync(cpio, { level: 9 }).toString("base64");
  let why = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const ready = await g.next(/@@(READY|FAILED) /, g.now() + timeoutMs);
    if (!("line" in ready)) return `the guest did not ask for the bundle (${ready.end})`;
    if (ready.match[1] === "FAILED") return `the guest says: ${ready.line.text}`;
    g.write(`BUNDLE ${text.length} ${sha256(cpio)}\n${text}`);
    const answer = await g.next(/@@(NAK|LOADED|LOADFAILED|FAILED|CRASH)\b/, g.now() + timeoutMs);
    if (!("line" in answer)) return `no answer to the bundle (${answer.end})`;
    if (answer.match[1] !== "NAK") {
      g.cursor--; // the caller reads the answer
      return null;
    }
    why = answer.line.text;
  }
  return `the guest refused the bundle three times; last: ${why}`;
}

/**
 * The files of the crash bundle that depend on this boot, as a newc cpio:
 * segments.bin, dtb.bin, elfcorehdr.bin and purgatory.bin.
 * @throws InputError from `buildBundle` (`NO_FIT` when the segments do not fit the reservation).
 */
async function bundleFiles(setup: CrashProbeSetup, target: Target, commandLine: string, size: bigint): Promise<Uint8Array> {
  const seed = createHash("sha256").update(`purgatory crash probe ${size}`).digest();
  const b = await buildBundle({
    mode: "crash", kernel: setup.kernel, initrd: setup.initrd, dtb: null, target, commandLine,
    seed: new Uint8Array(seed),
  });
  const local = new Set([SEGMENT_FILE.kernel, SEGMENT_FILE.initrd]);
  const entries = [...b.files].filter(([name]) => !local.has(name) && (name === "segments.bin" || Object.values(SEGMENT_FILE).includes(name)))
    .map(([name, data]) => ({ path: name, data }));
  return buildCpio(entries);
}

/** The host programs of the dump disk (e2fsprogs): where they are. */
export interface HostTools {
  /** mkfs.ext2, mkfs.ext3 or mkfs.ext4, for the disk's file system. */
  readonly mkfs: string;
  readonly debugfs: string;
}

/** The file systems a probe's disk can be made with (mke2fs), by the capture's fs_type. */
export const DUMP_FS_TYPES: readonly string[] = ["ext2", "ext3", "ext4", "auto"];

/**
 * Finds mkfs.<fs> (mkfs.ext4 for "auto") and debugfs in `dirs` (default:
 * PATH, then /usr/sbin and /sbin, where e2fsprogs installs them and where a
 * user's PATH often does not lead).
 * @throws InputError `TOOL_MISSING` naming the program.
 */
export function findHostTools(fsType: string, dirs: readonly string[] = [...(process.env["PATH"] ?? "").split(":"), "/usr/sbin", "/sbin"]): HostTools {
  const find = (name: string): string => {
    for (const d of dirs) if (d !== "" && existsSync(join(d, name))) return join(d, name);
    throw new InputError("TOOL_MISSING", `Cannot make the dump disk of the crash probes: ${name} is not in ${dirs.filter((d) => d !== "").join(":")}`, name,
      "Install e2fsprogs (Debian: apt-get install e2fsprogs): the probes make each dump disk with mke2fs and read status.json back with debugfs");
  };
  return { mkfs: find(`mkfs.${fsType === "auto" ? "ext4" : fsType}`), debugfs: find("debugfs") };
}

/** A sparse disk image with an empty file system that satisfies the capture's dump_to (mke2fs -L or -U) and holds its directory. */
async function makeDumpDisk(path: string, d: DumpDisk, tools: HostTools, dir: string): Promise<void> {
  const tree = join(dir, "tree");
  await mkdir(join(tree, d.directory), { recursive: true });
  const name = /^LABEL=(.*)$/.exec(d.dumpTo)?.[1];
  const uuid = /^UUID=(.*)$/.exec(d.dumpTo)?.[1];
  await run(tools.mkfs, ["-q", "-F", ...(name === undefined ? [] : ["-L", name]), ...(uuid === undefined ? [] : ["-U", uuid]),
    "-E", "root_owner=0:0", "-d", tree, path, `${d.mib}M`]);
  await rm(tree, { recursive: true, force: true });
}

/** status.json at `path` on the disk (debugfs, no mount), or null when it cannot be read or parsed. */
async function readStatus(disk: string, path: string, tools: HostTools): Promise<Record<string, unknown> | null> {
  try {
    const text = await run(tools.debugfs, ["-R", `cat ${path}`, disk]);
    const doc = JSON.parse(text) as unknown;
    return doc !== null && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function run(bin: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: "utf8", maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      reject(new Error(`${bin} ${args.join(" ")}: ${stderr.trim() || err.message}`));
    });
  });
}

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

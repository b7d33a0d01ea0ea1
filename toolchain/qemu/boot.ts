import { join } from "node:path";
import { InputError, hex } from "../bytes/index.js";
import type { BundleOnDisk } from "../bundle/index.js";
import { crashNotes } from "../target/index.js";
import { checkLoad } from "../layout/index.js";
import { decodeString, getProperty, parseFdt } from "../fdt/index.js";
import { runBareMetal, type BareMetalResult } from "./bare.js";
import { MACHINES, dtbMachine, machineArg, machineOf, qemuMemoryArg, qemuMissing, type MachineName } from "./machine.js";

/**
 * Emulated kexec: QEMU places every segment of a bundle at its address
 * (`-device loader,file=…,force-raw=on`, no copy) and starts CPU 0 at the
 * bundle's entry (`-device loader,addr=…,cpu-num=0`), with the MMU and caches
 * off and the other CPUs powered off, at EL1, or at EL2 with
 * `virtualization=on`: the state the kernel's kexec path hands to the
 * purgatory (docs/kexec-contract.md §2). Segment bytes from bufsz to memsz
 * are zero, as the kernel leaves them, since QEMU's RAM starts zeroed. The
 * machine (machine.ts: qemu-virt or xlnx-zcu102) is the one the bundle's
 * device tree was made for, by its root compatible.
 *
 * The outcome is read from the serial console, line by line (see `ConsoleWatch`).
 */

export interface BootOptions {
  /** Start at EL2 (`virt,virtualization=on`) instead of EL1. */
  readonly el2?: boolean;
  /**
   * QEMU's `-cpu` value (default VIRT_CPU, cortex-a57). `max` (or
   * `neoverse-n1`) has FEAT_VHE: with `el2`, the kernel then runs its host at
   * EL2 with HCR_EL2.E2H = 1, as on many current boards.
   */
  readonly cpu?: string;
  /** RAM bytes; default: up to the end of the target's highest RAM range. */
  readonly memory?: bigint;
  /** CPU count; default: the cpu nodes under /cpus in the bundle's DTB. */
  readonly smp?: number;
  /** Milliseconds before QEMU is killed and the outcome is `timeout`. */
  readonly timeoutMs: number;
  /** Success when a console line matches this, instead of when the kernel starts init. */
  readonly expect?: RegExp;
  /** The QEMU binary; default `qemu-system-aarch64` on PATH. */
  readonly qemu?: string;
  /** Boot even when segment files differ from the manifest (e.g. to watch the purgatory catch it). */
  readonly allowModified?: boolean;
}

export interface BootMachine {
  readonly name: MachineName;
  readonly el2: boolean;
  readonly memory: bigint;
  readonly smp: number;
}

/**
 * Checks that the bundle fits the machine QEMU will emulate, and picks the
 * machine: the one its DTB names, a load kexec_load accepts (layout's
 * `checkLoad` against the bundle's target), every segment inside the
 * machine's RAM and clear of QEMU's DTB ROM, the entry inside a segment, the
 * DTB's RAM inside QEMU's, the DTB's PSCI conduit the one QEMU uses at that EL.
 * @throws InputError `DIGEST_MISMATCH`, `KEXEC_LOAD_REFUSED`, `UNSUPPORTED_MACHINE`, `PSCI_MISMATCH`, `BAD_OPTION`,
 *   `TARGET_MISMATCH`, `SEGMENT_OUTSIDE_RAM`, `SEGMENT_ON_QEMU_DTB`, `ENTRY_OUTSIDE_SEGMENTS`, `DTB_MEMORY_OUTSIDE_RAM`.
 */
export function planBoot(b: BundleOnDisk, o: Omit<BootOptions, "timeoutMs" | "expect" | "qemu">): BootMachine {
  const m = b.manifest;
  // A missing file or one of the wrong size cannot be placed at all; other
  // bytes than the manifest's can, to watch the purgatory refuse them.
  const unplaceable = b.faults.find((f) => f.fault !== "sha256");
  if (unplaceable !== undefined) {
    throw new InputError("READ_FAILED", `Cannot boot the bundle: ${unplaceable.detail}`, join(b.dir, unplaceable.file), "The bundle is incomplete or was changed; rebuild it");
  }
  if (b.faults.length > 0 && o.allowModified !== true) {
    const names = b.faults.map((f) => f.file);
    throw new InputError("DIGEST_MISMATCH", `Cannot boot the bundle: ${names.join(", ")} differ${names.length === 1 ? "s" : ""} from the manifest's sha256`, b.dir,
      "Rebuild the bundle, or pass --allow-modified to boot it anyway (the purgatory should then refuse it)");
  }
  const dtb = b.files.get("dtb");
  if (dtb === undefined) throw new InputError("NO_DTB", "Cannot boot the bundle: it has no dtb segment", "segments", "An arm64 kernel needs a device tree; rebuild the bundle");
  // kexec_load checks the load before anything runs (sanity_check_segment_list);
  // what it refuses never reaches the purgatory, so it is not booted either.
  const load = { entry: m.entry, flags: Number(m.flags), segments: m.segments };
  const refused = checkLoad(load, m.target).find((v) => v.severity === "rejected");
  if (refused !== undefined) {
    throw new InputError("KEXEC_LOAD_REFUSED", `Cannot boot the bundle: kexec_load would refuse it with ${refused.errno}: ${refused.message}`,
      refused.segment === undefined ? "segments" : `segments[${refused.segment}]`, refused.fix);
  }
  const el2 = o.el2 === true;
  const dt = dtbMachine(dtb);
  const machine = machineOf(dt, "dtb.bin /compatible");
  const { name, qemuName } = machine;
  const want = el2 ? machine.psci.el2 : machine.psci.el1;
  if (dt.psciMethod !== null && dt.psciMethod !== want) {
    const other = el2 ? machine.psci.el1 : machine.psci.el2;
    throw new InputError("PSCI_MISMATCH",
      `Cannot boot at EL${el2 ? 2 : 1}: the bundle's DTB says /psci method "${dt.psciMethod}", but QEMU ${qemuName} ${el2 ? "with" : "without"} virtualization=on answers PSCI on ${want.toUpperCase()}`,
      "/psci/method",
      other === dt.psciMethod
        ? (el2 ? `Boot without --el2, or rebuild from a target made with \`purgatory target ${name} --el2\``
          : `Boot with --el2, or rebuild from a target made with \`purgatory target ${name}\` without --el2`)
        : `Rebuild from a target whose DTB says method = "${want}" (\`purgatory target ${name}\`)`);
  }
  const top = m.target.memory.reduce((end, r) => (r.end > end ? r.end : end), 0n);
  const memory = o.memory ?? top - machine.ramBase;
  if (memory <= 0n) {
    throw new InputError("TARGET_MISMATCH", `Cannot size QEMU's RAM: the target's RAM ends at ${hex(top)}, at or below ${name}'s RAM base ${hex(machine.ramBase)}`, "target.memory",
      `The bundle was built for another machine's memory map; rebuild it for a ${name} target`);
  }
  qemuMemoryArg(memory);
  if (machine.maxMemory !== null && memory > machine.maxMemory) {
    throw new InputError(o.memory === undefined ? "TARGET_MISMATCH" : "BAD_OPTION",
      `Cannot give QEMU ${qemuName} ${memory >> 20n} MiB: it maps at most ${machine.maxMemory >> 20n} MiB from ${hex(machine.ramBase)}`,
      o.memory === undefined ? "target.memory" : "-m", `Rebuild for a ${name} target with at most ${machine.maxMemory >> 20n} MiB`);
  }
  const smp = o.smp ?? Math.max(dt.cpus, 1);
  if (!Number.isInteger(smp) || smp < 1 || smp > machine.maxCpus) {
    throw new InputError("BAD_OPTION", `Cannot start QEMU ${qemuName} with ${smp} CPUs: it holds 1 to ${machine.maxCpus}`, o.smp === undefined ? "/cpus" : "--smp", `Give --smp 1..${machine.maxCpus}`);
  }
  const ram = { start: machine.ramBase, end: machine.ramBase + memory };
  const rom = machine.dtbRom;
  m.segments.forEach((s, i) => {
    const end = s.mem + s.memsz;
    const what = `segment ${s.role} ${hex(s.mem)}-${hex(end)}`;
    if (s.mem < ram.start || end > ram.end) {
      throw new InputError("SEGMENT_OUTSIDE_RAM", `Cannot place ${what}: QEMU ${qemuName} will have RAM ${hex(ram.start)}-${hex(ram.end)}`, `segments[${i}].mem`,
        s.mem >= ram.start ? `Give -m ${(end - ram.start + 0xf_ffffn) >> 20n}M or more, or rebuild for this machine's RAM` : `Rebuild the bundle for a ${name} target (RAM at ${hex(ram.start)})`);
    }
    if (rom !== null && s.mem < rom.end && end > rom.start) {
      throw new InputError("SEGMENT_ON_QEMU_DTB", `Cannot place ${what}: QEMU keeps its own DTB as a ROM at ${hex(rom.start)}-${hex(rom.end)} and refuses overlapping images`,
        `segments[${i}].mem`, `Rebuild from a \`purgatory target ${name}\` target, which reserves that MiB`);
    }
  });
  if (!m.segments.some((s) => m.entry >= s.mem && m.entry < s.mem + s.bufsz)) {
    throw new InputError("ENTRY_OUTSIDE_SEGMENTS", `Cannot start at entry ${hex(m.entry)}: no segment's bytes are there`, "entry", "The entry is the purgatory segment's start; rebuild the bundle");
  }
  for (const r of dt.memory) {
    if (r.address < ram.start || r.address + r.size > ram.end) {
      throw new InputError("DTB_MEMORY_OUTSIDE_RAM",
        `Cannot boot: the bundle's DTB gives the kernel RAM ${hex(r.address)}-${hex(r.address + r.size)}, but QEMU ${qemuName} will have ${hex(ram.start)}-${hex(ram.end)}`,
        "/memory/reg", `Give -m ${(r.address + r.size - ram.start) >> 20n}M or more (or omit -m)`);
    }
  }
  return { name, el2, memory, smp };
}

export type Outcome = "success" | "purgatory-failed" | "kernel-panic" | "qemu-exited" | "timeout";

export interface Verdict {
  readonly outcome: Outcome;
  readonly reason: string;
}

const INIT_LINE = /Run (\S+) as init process/;
const BANNER = /Linux version \S+/;
const PURGATORY_FAILURE = /purgatory: (region \d+ at .*: sha256 mismatch|region count exceeds)/;
const PURGATORY_HALT = /purgatory: halted/;
const PURGATORY_RESET = /purgatory: resetting/;
const PANIC = /Kernel panic - not syncing: .*/;
const PANIC_END = /---\[ end Kernel panic/;

/**
 * Reads a boot's console line by line and decides the outcome as soon as it
 * is known:
 * - success: a line matches `expect`, or (without `expect`) the kernel prints
 *   "Run /init as init process" (init/main.c `run_init_process`);
 * - purgatory-failed: the purgatory reports a digest mismatch or a region
 *   count over its table, decided when it says "halted", or when QEMU exits
 *   after it says "resetting" (PSCI SYSTEM_RESET under -no-reboot ends QEMU,
 *   and that exit is part of what the policy promises);
 * - kernel-panic: "Kernel panic - not syncing", decided at its "---[ end" line.
 * Only whole lines are matched, so the verdict does not depend on how the
 * output arrives; the last unfinished line (a prompt) is tried at the end of
 * the run (`end`), where a failure seen but not concluded also counts;
 * otherwise the outcome is `timeout` or `qemu-exited`.
 */
export class ConsoleWatch {
  private pending = "";
  private verdict: Verdict | undefined;
  private failure: Verdict | undefined;
  private resetting = false;
  /** The kernel's "Linux version …" line, once seen. */
  banner: string | undefined;

  constructor(private readonly expect?: RegExp) {}

  /** Feeds console text; returns the verdict once there is one. */
  push(text: string): Verdict | undefined {
    const lines = (this.pending + text).split("\n");
    this.pending = lines.pop()!;
    for (const line of lines) this.line(line.replace(/\r$/, ""));
    return this.verdict;
  }

  /** The verdict when QEMU has stopped (exit code null when it was killed). */
  end(exit: { timedOut: boolean; timeoutMs: number; exitCode: number | null; stderr: string }): Verdict {
    if (this.verdict === undefined && this.pending !== "") this.line(this.pending.replace(/\r$/, ""));
    if (this.verdict !== undefined) return this.verdict;
    if (this.failure !== undefined) {
      if (!this.resetting) return this.failure;
      const how = exit.timedOut ? `but QEMU was still running after ${exit.timeoutMs / 1000} s: the PSCI reset did not happen`
        : exit.exitCode === 0 ? "and QEMU exited through PSCI SYSTEM_RESET" : `and QEMU exited with code ${String(exit.exitCode)}`;
      return { ...this.failure, reason: `${this.failure.reason}; ${how}` };
    }
    const goal = this.expect === undefined ? "the kernel did not start init" : `no line matched --expect ${this.expect.source}`;
    if (exit.timedOut) {
      const progress = this.banner === undefined ? "the kernel never printed its banner" : `the kernel had started (${this.banner})`;
      return { outcome: "timeout", reason: `${goal} within ${exit.timeoutMs / 1000} s; ${progress}` };
    }
    const why = exit.stderr.trim().split("\n").at(-1) ?? "";
    return { outcome: "qemu-exited", reason: `QEMU exited with code ${String(exit.exitCode)} and ${goal}${why === "" ? "" : `: ${why}`}` };
  }

  private line(line: string): void {
    if (this.banner === undefined) {
      const b = BANNER.exec(line);
      if (b !== null) this.banner = b[0];
    }
    if (this.verdict !== undefined) return;
    if (this.expect !== undefined ? this.expect.test(line) : INIT_LINE.test(line)) {
      const reason = this.expect !== undefined ? `the console matched --expect: ${line.trim()}` : `the kernel reached userspace: ${INIT_LINE.exec(line)![0]}`;
      this.verdict = { outcome: "success", reason };
    } else if (PURGATORY_FAILURE.test(line)) {
      this.failure ??= { outcome: "purgatory-failed", reason: `the purgatory refused to boot: ${line.trim()}` };
    } else if (PURGATORY_HALT.test(line)) {
      this.verdict = this.failure ?? { outcome: "purgatory-failed", reason: `the purgatory stopped: ${line.trim()}` };
    } else if (PURGATORY_RESET.test(line)) {
      this.failure ??= { outcome: "purgatory-failed", reason: `the purgatory stopped: ${line.trim()}` };
      this.resetting = true;
    } else if (PANIC_END.test(line)) {
      if (this.failure?.outcome === "kernel-panic") this.verdict = this.failure;
    } else if (PANIC.test(line)) {
      this.failure ??= { outcome: "kernel-panic", reason: PANIC.exec(line)![0] };
    }
  }
}

/**
 * The console log level a command line leaves the kernel with
 * (init/main.c: `quiet` sets CONSOLE_LOGLEVEL_QUIET 4, `debug` 10,
 * `loglevel=N` N; they are early parameters, read in order, so the last one
 * counts), or "all" with `ignore_loglevel` (kernel/printk/printk.c). Without
 * any, CONFIG_CONSOLE_LOGLEVEL_DEFAULT: 7 in Debian's and most kernels.
 */
export function consoleLoglevel(commandLine: string): number | "all" {
  let level = 7;
  for (const w of commandLine.split(/\s+/)) {
    if (w === "ignore_loglevel") return "all";
    if (w === "quiet") level = 4;
    else if (w === "debug") level = 10;
    else {
      const m = /^loglevel=(\d+)$/.exec(w);
      if (m !== null) level = Number(m[1]);
    }
  }
  return level;
}

/** KERN_INFO: the level of "Run /init as init process" (pr_info in init/main.c run_init_process). */
const KERN_INFO = 6;

/**
 * Why the console will not show the kernel starting init with this DTB's
 * command line, or null when it will: a message reaches the console only
 * when its level is below the console log level.
 */
export function initLineHidden(dtb: Uint8Array): string | null {
  const raw = getProperty(parseFdt(dtb), "/chosen", "bootargs");
  const bootargs = raw === undefined ? "" : decodeString(raw, "/chosen/bootargs");
  const level = consoleLoglevel(bootargs);
  if (level === "all" || KERN_INFO < level) return null;
  const word = bootargs.split(/\s+/).filter((w) => w === "quiet" || w === "debug" || /^loglevel=\d+$/.test(w)).at(-1) ?? "";
  return `the bundle's command line has "${word}" (console log level ${level}), so the kernel does not print "Run /init as init process" (KERN_INFO)`;
}

export interface BootResult extends Verdict {
  readonly machine: BootMachine;
  /** The binary and every argument, runnable as they are while the bundle exists. */
  readonly qemuArgs: readonly string[];
  /** Everything the guest wrote to the serial console. */
  readonly console: string;
  /** The console's last lines. */
  readonly consoleTail: string;
  /** The kernel's "Linux version …" banner, or null when it never printed one. */
  readonly banner: string | null;
  readonly exitCode: number | null;
  readonly stderr: string;
}

const TAIL_LINES = 30;

/**
 * Boots a bundle in QEMU (see the top of this file) until the outcome is
 * known, QEMU exits, or `timeoutMs` passes; `onConsole` receives the
 * console as it arrives (latin1 text, one character per byte).
 * @throws InputError as `planBoot`; `BAD_OPTION` without `expect` when the
 *   bundle's command line keeps "Run /init as init process" off the console
 *   (quiet); `QEMU_MISSING` when the binary cannot be started.
 */
export async function bootBundle(b: BundleOnDisk, o: BootOptions, onConsole?: (text: string) => void): Promise<BootResult> {
  const machine = planBoot(b, o);
  // Without a line to wait for, a quiet kernel reaches init unseen and the boot would time out as a failure.
  const hidden = o.expect === undefined ? initLineHidden(b.files.get("dtb")!) : null;
  if (hidden !== null) {
    throw new InputError("BAD_OPTION", `Cannot tell when the kernel reaches userspace: ${hidden}`, "--expect",
      "Give --expect REGEX, a line your /init prints (e.g. --expect 'login:'), or rebuild the bundle without quiet");
  }
  const watch = new ConsoleWatch(o.expect);
  let seen = 0;
  let r: BareMetalResult;
  try {
    const facts = MACHINES[machine.name];
    r = await runBareMetal({
      machine: machineArg(facts, machine.el2),
      cpu: o.cpu ?? facts.cpu,
      memory: qemuMemoryArg(machine.memory),
      // A crash bundle boots where a kernel just died: plant the notes it
      // leaves (CPU prstatus, vmcoreinfo) at the addresses the elfcorehdr names,
      // or the capture kernel finds empty notes and gives up on /proc/vmcore.
      images: b.manifest.mode === "crash" ? crashNotes(b.manifest.target).map((n) => ({ addr: n.address, bytes: n.bytes })) : [],
      files: b.manifest.segments.filter((s) => s.bufsz > 0n).map((s) => ({ addr: s.mem, path: join(b.dir, s.file) })),
      entry: b.manifest.entry,
      timeoutMs: o.timeoutMs,
      extraArgs: ["-smp", String(machine.smp), ...facts.extraArgs],
      ...(o.qemu === undefined ? {} : { qemu: o.qemu }),
      until: (console) => {
        const fresh = console.slice(seen);
        seen = console.length;
        onConsole?.(fresh);
        return watch.push(fresh) !== undefined;
      },
    });
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "EACCES") throw qemuMissing(o.qemu ?? "qemu-system-aarch64", e as Error);
    throw e;
  }
  if (r.console.length > seen) onConsole?.(r.console.slice(seen));
  const verdict = watch.end({ timedOut: r.timedOut, timeoutMs: o.timeoutMs, exitCode: r.exitCode, stderr: r.stderr });
  return {
    ...verdict,
    machine,
    qemuArgs: [o.qemu ?? "qemu-system-aarch64", ...r.args],
    console: r.console,
    consoleTail: r.console.replace(/\r/g, "").split("\n").slice(-TAIL_LINES).join("\n"),
    banner: watch.banner ?? null,
    exitCode: r.exitCode,
    stderr: r.stderr,
  };
}

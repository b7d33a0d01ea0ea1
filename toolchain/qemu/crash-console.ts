/**
 * What became of a real crash, read from the serial console of the machine
 * that crashed: the crashed kernel's last words, our purgatory's, the
 * capture kernel's and its initramfs's (docs/capture-initramfs.md, "The
 * console"). The verdict names the first cause the console shows, because
 * later messages are its consequences: an initramfs that failed to unpack
 * ends in "No working init found", an OOM kill of makedumpfile in a FAILED
 * collector line, an OOM with nothing to kill in "System is deadlocked on
 * memory".
 */

export type CrashOutcome =
  /** The capture initramfs printed SAVED (the caller then checks status.json). */
  | "saved"
  /** The OOM killer ran, or the kernel panicked for want of memory. */
  | "oom"
  /** "Initramfs unpacking failed": the rootfs could not hold the archive (init/initramfs.c). */
  | "initramfs"
  /** Another kernel panic in the capture kernel. */
  | "panic"
  /** Our purgatory refused a segment. */
  | "purgatory"
  /** The capture initramfs printed "FAILED STEP: WHY" for a reason other than memory. */
  | "capture-failed"
  /** No verdict before a timeout. */
  | "hang"
  /** QEMU ended (a reset, a power-off) with no verdict on the console. */
  | "ended";

export type Milestone =
  | "crashed kernel" | "crash kexec" | "purgatory" | "capture kernel" | "capture init" | "capture initramfs"
  | "dump device" | "collector" | "saved";

export interface CrashVerdict {
  readonly outcome: CrashOutcome;
  /** One line: what failed (or what was saved), in the console's own words. */
  readonly reason: string;
  /** The last milestone the console reached. */
  readonly reached: Milestone;
  /** The console line the verdict rests on, or null. */
  readonly line: string | null;
  /** The capture kernel's "Memory: …K/…K available (…)" line (mm/mm_init.c `mem_init_print_info()`), or null. */
  readonly memory: string | null;
  /** The capture kernel's CMA reservation: "cma: Reserved 64 MiB at …" or "cma: Failed to reserve 64 MiB" (mm/cma.c), or null. */
  readonly cma: string | null;
}

/** Console cues of progress after `echo c`, in the order they appear. */
export const MILESTONES: readonly { readonly name: Milestone; readonly re: RegExp; readonly what: string }[] = [
  { name: "crashed kernel", re: /sysrq: Trigger a crash|Kernel panic - not syncing: sysrq triggered crash/, what: "the crashed kernel panicked (sysrq c) and went no further" },
  // arch/arm64/kernel/machine_kexec.c: "Starting crashdump kernel...", then "Bye!" as the kernel leaves.
  { name: "crash kexec", re: /Starting crashdump kernel|\bBye!/, what: "the crashed kernel left for the purgatory" },
  { name: "purgatory", re: /^purgatory: /, what: "the purgatory ran" },
  { name: "capture kernel", re: /Linux version \S+/, what: "the capture kernel printed its banner" },
  { name: "capture init", re: /Run \S+ as init process/, what: "the capture kernel started /init" },
  { name: "capture initramfs", re: /purgatory-capture: started at/, what: "the capture /init started" },
  { name: "dump device", re: /purgatory-capture: device \S+ ready/, what: "the dump device appeared" },
  { name: "collector", re: /purgatory-capture: saving the memory/, what: "the collector was running" },
  { name: "saved", re: /purgatory-capture: SAVED /, what: "the dump was saved" },
];

/** How the run ended, for the verdict when the console gives none. */
export interface CrashEnd {
  /** "timeout": the capture outlasted its limit; "quiet": the console was silent that long; "exited": QEMU ended. */
  readonly how: "timeout" | "quiet" | "exited";
  /** The limit that passed, in seconds (timeout and quiet). */
  readonly seconds?: number;
  /** QEMU's exit code (exited). */
  readonly exitCode?: number | null;
}

/** Kernel log lines start with a timestamp "[    1.234567] ". */
const STAMP = /^\[\s*\d+\.\d+\]\s*/;
const INITRAMFS = /Initramfs unpacking failed: (.*)/;
// mm/oom_kill.c: "<comm> invoked oom-killer", "Out of memory: Killed process <pid> (<comm>)",
// "Out of memory and no killable processes..."; mm/page_alloc.c and mm/oom_kill.c panics.
const OOM_INVOKED = /(\S+) invoked oom-killer/;
const OOM_KILLED = /Out of memory: Killed process (\d+) \(([^)]*)\)/;
const OOM_NOTHING = /Out of memory and no killable processes/;
const PANIC = /Kernel panic - not syncing: (.*)/;
const SYSRQ_PANIC = /sysrq triggered crash/;
const MEMORY_PANIC = /Out of memory|deadlocked on memory/;
const PURGATORY_REFUSED = /^purgatory: (region \d+ at .*mismatch.*|region count exceeds.*|refusing to run.*|no exception vectors.*|halted.*)/;
const CAPTURE_FAILED = /purgatory-capture: FAILED (\S+): (.*?)(?:; failure action: \S+)?$/;
const SAVED = /purgatory-capture: SAVED (.*)/;
const MEMORY = /Memory: \d+K\/\d+K available.*/;
const CMA = /cma: (?:Reserved|Failed to reserve) .*/;

/**
 * Classifies the console of a crash: `lines` are whole lines (without line
 * ends) from the line that announced `echo c` on. Causes count from the
 * crashed kernel's jump to the purgatory on (the crashed kernel's own panic
 * is the crash). The first cause wins: an unpacking failure, the OOM killer
 * (with its victim, or the panic when it had none), a purgatory refusal,
 * another panic, a FAILED line (an OOM victim before it makes it "oom").
 * SAVED with no cause before it is success. Without any, `end` decides: a
 * hang (with its limit) or an unexplained end, with the last milestone and
 * the last line.
 */
export function classifyCrash(lines: readonly string[], end: CrashEnd): CrashVerdict {
  const text = lines.map((l) => l.replace(/\r/g, ""));
  let level = -1;
  let kexecAt = -1;
  text.forEach((t, i) => {
    MILESTONES.forEach((m, j) => {
      // The crashed kernel's own lines come before the kexec: after it, only the capture's count.
      if (j > level && m.re.test(t) && (j <= 1 || kexecAt >= 0)) level = j;
    });
    if (level >= 1 && kexecAt < 0) kexecAt = i;
  });
  const reached = MILESTONES[Math.max(level, 0)]!.name;
  const capture = kexecAt < 0 ? [] : text.slice(kexecAt);
  const memory = firstMatch(capture, MEMORY);
  const cma = firstMatch(capture, CMA);
  const verdict = (outcome: CrashOutcome, reason: string, line: string | null): CrashVerdict => ({ outcome, reason, reached, line, memory, cma });

  for (const [i, line] of capture.entries()) {
    const t = line.replace(STAMP, "");
    const unpack = INITRAMFS.exec(t);
    if (unpack !== null) return verdict("initramfs", `Initramfs unpacking failed: ${unpack[1]}`, line);
    const invoked = OOM_INVOKED.exec(t);
    if (invoked !== null || OOM_KILLED.test(t) || OOM_NOTHING.test(t) || (PANIC.test(t) && MEMORY_PANIC.test(t))) {
      return verdict("oom", oomReason(capture.slice(i), invoked?.[1] ?? null), line);
    }
    if (PURGATORY_REFUSED.test(t)) return verdict("purgatory", `the purgatory refused to boot: ${t.trim()}`, line);
    const panic = PANIC.exec(t);
    if (panic !== null && !SYSRQ_PANIC.test(t)) return verdict("panic", `Kernel panic - not syncing: ${panic[1]!.trim()}`, line);
    const failed = CAPTURE_FAILED.exec(t);
    if (failed !== null) return verdict("capture-failed", `the capture's ${failed[1]} step failed: ${failed[2]}`, line);
    const saved = SAVED.exec(t);
    if (saved !== null) {
      // A later step can still fail (status.json, the final action): the caller checks status.json.
      const later = capture.slice(i + 1).find((l) => CAPTURE_FAILED.test(l));
      if (later === undefined) return { ...verdict("saved", `SAVED ${saved[1]}`, line), reached: "saved" };
    }
  }
  const last = [...text].reverse().map((l) => l.trim()).find((l) => l !== "") ?? null;
  const where = `${MILESTONES[Math.max(level, 0)]!.what}${last === null ? "" : `; last line: ${JSON.stringify(last.slice(0, 160))}`}`;
  if (end.how === "exited") return verdict("ended", `QEMU ended (exit code ${String(end.exitCode ?? null)}) with no verdict: ${where}`, last);
  const limit = end.how === "quiet" ? `the console was silent for ${end.seconds} s` : `no verdict within ${end.seconds} s of the crash`;
  return verdict("hang", `hang: ${limit}; ${where}`, last);
}

/** The OOM killer's story from the line that starts it: its victim, or the panic when it found none. */
function oomReason(from: readonly string[], invoker: string | null): string {
  const by = invoker === null ? "" : ` (invoked by ${invoker})`;
  for (const line of from) {
    const t = line.replace(STAMP, "");
    const killed = OOM_KILLED.exec(t);
    if (killed !== null) return `the OOM killer killed ${killed[2]} (pid ${killed[1]})${by}`;
    const panic = PANIC.exec(t);
    if (panic !== null) return `out of memory${by}, nothing to kill: Kernel panic - not syncing: ${panic[1]!.trim()}`;
  }
  return `the OOM killer ran${by}`;
}

function firstMatch(lines: readonly string[], re: RegExp): string | null {
  for (const l of lines) {
    const m = re.exec(l);
    if (m !== null) return m[0];
  }
  return null;
}

/**
 * Why the production guest could not load the bundle, from its
 * "@@LOADFAILED STATUS OUTPUT UPTIME@@" line (crash-init.sh; OUTPUT is the
 * loader's on one line), or null for any other line. The loader's segment
 * list is left out; its kexec_load error and likely cause are kept.
 */
export function loadFailure(line: string): string | null {
  const m = /@@LOADFAILED (\d+) ?(.*?) +[0-9]+\.[0-9]+@@/.exec(line);
  if (m === null) return null;
  const text = m[2]!.trim();
  const at = text.indexOf("loader: kexec_load");
  const kept = (at >= 0 ? text.slice(at) : text.replace(/loader: segment .*?(?=loader: |$)/g, "")).trim();
  const message = kept.split(/\s+(?=loader: )/).join("; ");
  return `kexec_load refused the segments: ${message === "" ? `the loader exited with ${m[1]}` : message}`;
}

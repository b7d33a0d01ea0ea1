import { InputError, hex } from "../bytes/index.js";
import type { Target } from "../target/index.js";

/**
 * `boot.txt`: the facts of the boot a crash bundle was built for, in a form a
 * C loader compares with the running system without a JSON parser. A crash
 * load carries, in its elfcorehdr, the physical addresses of the VMCOREINFO
 * note and of every CPU's crash notes; the kernel allocates those at boot
 * (Linux `kernel/crash_core.c`, `kernel/crash_dump` per-CPU `crash_notes`),
 * so they move between boots even without KASLR, and a bundle from another
 * boot gives a `/proc/vmcore` whose notes are garbage. Loaders refuse a
 * bundle whose boot.txt disagrees with the running system
 * (docs/kdump-service.md).
 *
 * One fact a line, `KEY VALUE...`, addresses as `0x` + 16 hex digits:
 *
 * | line | compared with |
 * |---|---|
 * | `purgatory-boot 1` | (format and version, first line) |
 * | `boot_id UUID` | `/proc/sys/kernel/random/boot_id` |
 * | `vmcoreinfo ADDR` | the first word of `/sys/kernel/vmcoreinfo` |
 * | `crash_notes CPU ADDR` | `/sys/devices/system/cpu/cpuCPU/crash_notes` (`%llx`) |
 * | `kernel_code ADDR` | the start of "Kernel code" in `/proc/iomem` (root only) |
 */

export const BOOT_FILE = "boot.txt";
export const BOOT_FILE_MAGIC = "purgatory-boot 1";

export interface BootFacts {
  readonly bootId: string;
  readonly vmcoreinfo: bigint | null;
  readonly crashNotes: readonly { readonly cpu: number; readonly address: bigint }[];
  readonly kernelCode: bigint | null;
}

/** The boot facts of a target, or null when it does not name its boot (no `bootId`). */
export function bootFacts(t: Target): BootFacts | null {
  if (t.bootId === undefined) return null;
  return {
    bootId: t.bootId,
    vmcoreinfo: t.vmcoreinfo?.address ?? null,
    crashNotes: t.cpuNotes.map((n) => ({ cpu: n.cpu, address: n.address })),
    kernelCode: t.kernelCode?.start ?? null,
  };
}

const addr = (v: bigint) => "0x" + v.toString(16).padStart(16, "0");

/** The text of boot.txt. */
export function encodeBootFile(f: BootFacts): string {
  const lines = [BOOT_FILE_MAGIC, `boot_id ${f.bootId}`];
  if (f.vmcoreinfo !== null) lines.push(`vmcoreinfo ${addr(f.vmcoreinfo)}`);
  for (const n of f.crashNotes) lines.push(`crash_notes ${n.cpu} ${addr(n.address)}`);
  if (f.kernelCode !== null) lines.push(`kernel_code ${addr(f.kernelCode)}`);
  return lines.join("\n") + "\n";
}

/**
 * Parses boot.txt.
 * @throws InputError `BAD_BOOT_FILE` with the line number of the first bad line.
 */
export function parseBootFile(text: string, where = BOOT_FILE): BootFacts {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  const fail = (i: number, why: string): never => {
    throw new InputError("BAD_BOOT_FILE", `Cannot read ${where}: line ${i + 1} ${why}`, `${where}:${i + 1}`, "boot.txt is written by `purgatory bundle`; rebuild the bundle.");
  };
  if (lines[0] !== BOOT_FILE_MAGIC) fail(0, `is ${JSON.stringify(lines[0] ?? "")}, not "${BOOT_FILE_MAGIC}"`);
  let bootId: string | null = null;
  let vmcoreinfo: bigint | null = null;
  let kernelCode: bigint | null = null;
  const crashNotes: { cpu: number; address: bigint }[] = [];
  const u64 = (s: string | undefined, i: number): bigint => (s !== undefined && /^0x[0-9a-f]{16}$/.test(s) ? BigInt(s) : fail(i, `has ${JSON.stringify(s ?? "")} where 0x and 16 hex digits belong`));
  lines.slice(1).forEach((line, k) => {
    const i = k + 1;
    const w = line.split(" ");
    switch (w[0]) {
      case "boot_id":
        if (w.length !== 2 || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(w[1] ?? "")) fail(i, "is not \"boot_id UUID\"");
        if (bootId !== null) fail(i, "repeats boot_id");
        bootId = w[1] as string;
        break;
      case "vmcoreinfo":
        if (w.length !== 2 || vmcoreinfo !== null) fail(i, "is not one \"vmcoreinfo ADDR\"");
        vmcoreinfo = u64(w[1], i);
        break;
      case "kernel_code":
        if (w.length !== 2 || kernelCode !== null) fail(i, "is not one \"kernel_code ADDR\"");
        kernelCode = u64(w[1], i);
        break;
      case "crash_notes": {
        if (w.length !== 3 || !/^[0-9]{1,5}$/.test(w[1] ?? "")) fail(i, "is not \"crash_notes CPU ADDR\"");
        const cpu = Number(w[1]);
        const prev = crashNotes.at(-1);
        if (prev !== undefined && cpu <= prev.cpu) fail(i, `lists cpu ${cpu} after cpu ${prev.cpu}`);
        crashNotes.push({ cpu, address: u64(w[2], i) });
        break;
      }
      default:
        fail(i, `has the unknown key ${JSON.stringify(w[0])}`);
    }
  });
  if (bootId === null) fail(lines.length, "ends without a boot_id line");
  return { bootId: bootId as unknown as string, vmcoreinfo, crashNotes, kernelCode };
}

/** One fact that differs between the boot a bundle was built for and the running one. */
export interface Moved {
  /** The fact: "boot_id", "vmcoreinfo", "crash_notes 1", "kernel_code", "cpus". */
  readonly what: string;
  readonly built: string;
  readonly now: string;
}

/**
 * What moved between the boot `built` describes and `now`; empty when the
 * bundle is for this boot. A fact missing on one side only counts as moved.
 */
export function bootMoved(built: BootFacts, now: BootFacts): Moved[] {
  const moved: Moved[] = [];
  const a = (v: bigint | null | undefined) => (v === null || v === undefined ? "none" : hex(v));
  if (built.bootId !== now.bootId) moved.push({ what: "boot_id", built: built.bootId, now: now.bootId });
  if (built.vmcoreinfo !== now.vmcoreinfo) moved.push({ what: "vmcoreinfo", built: a(built.vmcoreinfo), now: a(now.vmcoreinfo) });
  const cpus = (f: BootFacts) => f.crashNotes.map((n) => n.cpu).join(",");
  if (cpus(built) !== cpus(now)) moved.push({ what: "cpus", built: cpus(built) || "none", now: cpus(now) || "none" });
  for (const n of built.crashNotes) {
    const m = now.crashNotes.find((x) => x.cpu === n.cpu);
    if (m !== undefined && m.address !== n.address) moved.push({ what: `crash_notes ${n.cpu}`, built: a(n.address), now: a(m.address) });
  }
  if (built.kernelCode !== now.kernelCode) moved.push({ what: "kernel_code", built: a(built.kernelCode), now: a(now.kernelCode) });
  return moved;
}

/** "boot_id a → b, vmcoreinfo 0x… → 0x…". */
export function formatMoved(moved: readonly Moved[]): string {
  return moved.map((m) => `${m.what} ${m.built} → ${m.now}`).join(", ");
}

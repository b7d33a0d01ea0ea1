/**
 * What the target machine is: the one value every downstream step (layout,
 * elfcorehdr, /chosen edits, QEMU boot) takes, so a build host can work from a
 * captured description. Only `toolchain/target/` knows where a live system
 * keeps these facts.
 *
 * Conventions: every address and size is a `bigint` in bytes; a `Range` is
 * half-open, `[start, end)` (iomem's inclusive ends are converted on parse).
 */

/** A half-open physical range `[start, end)`, in bytes. */
export interface Range {
  readonly start: bigint;
  readonly end: bigint;
}

/** One CPU's crash note buffer (`/sys/devices/system/cpu/cpuN/crash_notes{,_size}`). */
export interface CpuNote {
  readonly cpu: number;
  readonly address: bigint;
  /** Bytes. */
  readonly size: bigint;
}

/** vmcoreinfo: where the note lives, and its text when it could be read. */
export interface VmcoreInfo {
  readonly address: bigint;
  /** Bytes. */
  readonly size: bigint;
  /** The raw `KEY=VALUE` text from the note, when available. */
  readonly text?: string;
}

export type PageSize = 4096 | 16384 | 65536;

/**
 * The kernel lockdown level, the bracketed word of
 * /sys/kernel/security/lockdown (security/lockdown/lockdown.c). Both
 * integrity and confidentiality lock LOCKDOWN_KEXEC, so kexec_load fails
 * with EPERM (kernel/kexec.c kexec_load_check).
 */
export type Lockdown = "none" | "integrity" | "confidentiality";
export const LOCKDOWN_LEVELS: readonly Lockdown[] = ["none", "integrity", "confidentiality"];

export interface Target {
  /** Schema version of the JSON form. */
  readonly version: 1;
  /** The running kernel's PAGE_SIZE in bytes. */
  readonly pageSize: PageSize;
  /** Top-level System RAM ranges, ascending. */
  readonly memory: readonly Range[];
  /** Ranges inside RAM that segments must avoid (firmware, reserved, old DTB ...), ascending. */
  readonly reserved: readonly Range[];
  /** The kernel's `crashk_res` (crash load range), or null when no crash kernel memory is reserved. */
  readonly crashKernel: Range | null;
  /** The kernel's `crashk_low_res` (`crashkernel=X,low`), or null. */
  readonly crashKernelLow: Range | null;
  /** Per-CPU crash notes, ascending by cpu. */
  readonly cpuNotes: readonly CpuNote[];
  readonly vmcoreinfo: VmcoreInfo | null;
  /** "Kernel code" and "Kernel data" from /proc/iomem. */
  readonly kernelCode: Range | null;
  readonly kernelData: Range | null;
  /** The running kernel's command line (/proc/cmdline, without the newline). */
  readonly commandLine: string;
  /** The base device tree (/sys/firmware/fdt), or null when none was captured. */
  readonly dtb: Uint8Array | null;
  /** The lockdown level, when the description has it (securityfs was readable; descriptions before it lack the field). */
  readonly lockdown?: Lockdown;
}

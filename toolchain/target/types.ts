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
 * The UART families the purgatory has (or will have) a driver for, named by
 * the Linux driver that owns them: `pl011` (drivers/tty/serial/amba-pl011.c),
 * `8250` (drivers/tty/serial/8250/, any 16550-compatible register file) and
 * `cadence` (drivers/tty/serial/xilinx_uartps.c). docs/target.md lists the
 * compatibles of each.
 */
export type UartFamily = "pl011" | "8250" | "cadence";
export const UART_FAMILIES: readonly UartFamily[] = ["pl011", "8250", "cadence"];

/** The console UART of the target, from its device tree (docs/target.md says how each field is found). */
export interface TargetConsole {
  /** The driver family, or null when no compatible of the node is one this tool knows. */
  readonly family: UartFamily | null;
  /** The compatible string that chose the family; for an unknown UART, the node's first. */
  readonly compatible: string;
  /** The UART's node in the device tree (`/pl011@9000000`). */
  readonly path: string;
  /** CPU physical address of the registers (`reg` through every parent's `ranges`), or null when it cannot be translated. */
  readonly base: bigint | null;
  /** Register n is at base + (n << shift). */
  readonly shift: number;
  /** Bytes per register access, as the family's Linux driver makes them. */
  readonly width: 1 | 2 | 4;
}

/** How the target calls PSCI firmware (the DT's psci `method`). */
export type PsciConduit = "hvc" | "smc";

/**
 * The kernel lockdown level, the bracketed word of
 * /sys/kernel/security/lockdown (security/lockdown/lockdown.c). Both
 * integrity and confidentiality lock LOCKDOWN_KEXEC, so kexec_load fails
 * with EPERM (kernel/kexec.c kexec_load_check).
 */
export type Lockdown = "none" | "integrity" | "confidentiality";
export const LOCKDOWN_LEVELS: readonly Lockdown[] = ["none", "integrity", "confidentiality"];

export interface Target {
  /** Schema version of the JSON form (2 added console, psci and cpuEnableMethod; 1 is still read). */
  readonly version: 2;
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
  /** The UART the firmware and the kernel print on (stdout-path, else console=), or null when none is known. */
  readonly console: TargetConsole | null;
  /** The PSCI conduit, or null when the device tree has no PSCI node (or no DTB was captured). */
  readonly psci: PsciConduit | null;
  /** Each CPU node's `enable-method` (null when it has none), by node path. */
  readonly cpuEnableMethod: Readonly<Record<string, string | null>>;
  /**
   * The boot this description was taken in (`/proc/sys/kernel/random/boot_id`,
   * a random UUID the kernel makes at every boot), when known. A crash load
   * is only good for the boot whose vmcoreinfo and crash-note addresses it
   * carries (docs/kdump-service.md); absent in descriptions of emulated
   * machines and in target.json files written before it existed.
   */
  readonly bootId?: string;
  /** The lockdown level, when the description has it (securityfs was readable; descriptions before it lack the field). */
  readonly lockdown?: Lockdown;
}

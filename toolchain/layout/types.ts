/**
 * The values layout/ produces and checks. A `Load` is what `kexec_load(2)`
 * receives (entry, flags, segments); a `Plan` is a `Load` that `planLayout`
 * built, with each segment's role known.
 *
 * Every address and size is a `bigint` in bytes; `mem`/`memsz` describe the
 * half-open destination `[mem, mem + memsz)`.
 */

/** uapi `KEXEC_ON_CRASH` (include/uapi/linux/kexec.h): load into crashk_res, run on panic. */
export const KEXEC_ON_CRASH = 0x1;
/** uapi `KEXEC_UPDATE_ELFCOREHDR` and `KEXEC_CRASH_HOTPLUG_SUPPORT`: crash hotplug, newer kernels only. */
export const KEXEC_UPDATE_ELFCOREHDR = 0x4;
export const KEXEC_CRASH_HOTPLUG_SUPPORT = 0x8;
/** `KEXEC_DEBUG`: accepted only by kernels that list it in KEXEC_FLAGS. */
export const KEXEC_DEBUG = 0x10;
/** uapi `KEXEC_ARCH_MASK`: the architecture field of the flags word. */
export const KEXEC_ARCH_MASK = 0xffff0000;
/** uapi `KEXEC_ARCH_AARCH64` = EM_AARCH64 (183) << 16. */
export const KEXEC_ARCH_AARCH64 = 0x00b70000;
/** uapi `KEXEC_SEGMENT_MAX`: the kernel refuses more segments with EINVAL. */
export const KEXEC_SEGMENT_MAX = 16;

export const SZ_2M = 0x20_0000n;
export const SZ_1G = 0x4000_0000n;
export const SZ_32G = 0x8_0000_0000n;
/** booting.rst: the DTB must not exceed 2 MiB. */
export const DTB_MAX_SIZE = SZ_2M;

export type Mode = "crash" | "reboot";
export type Role = "kernel" | "initrd" | "dtb" | "elfcorehdr" | "purgatory";
export const ROLES: readonly Role[] = ["kernel", "initrd", "dtb", "elfcorehdr", "purgatory"];

/** One `struct kexec_segment`, as the kernel sees it, plus what we know about it. */
export interface LoadSegment {
  /** Unknown for a bare segment list; then the arm64 boot rules cannot be applied to it. */
  readonly role?: Role;
  readonly mem: bigint;
  readonly memsz: bigint;
  readonly bufsz: bigint;
  /** Kernel only: the Image header's `text_offset` (bytes from the 2 MiB-aligned base to `mem`). */
  readonly textOffset?: bigint;
  /** Kernel only: the Image header's `image_size` (bytes that must be free from `mem`). */
  readonly imageSize?: bigint;
}

/** The three arguments of `kexec_load(entry, nr_segments, segments, flags)`. */
export interface Load {
  readonly entry: bigint;
  /** The flags word (an `unsigned long`; bits above 31 are refused on input). */
  readonly flags: number;
  readonly segments: readonly LoadSegment[];
}

export interface PlanSegment extends LoadSegment {
  readonly role: Role;
}

/** A placement the kernel accepts, segments sorted by `mem`. */
export interface Plan extends Load {
  readonly mode: Mode;
  readonly segments: readonly PlanSegment[];
  /** The purgatory's base (what kexec_load jumps to). */
  readonly entry: bigint;
  /** Where purgatory jumps: the kernel segment's `mem` (2 MiB-aligned base + text_offset). */
  readonly kernelEntry: bigint;
}

/** The errno `kexec_load` returns for a rule, or "none" when the kernel accepts the load but the boot fails. */
export type Errno = "EPERM" | "EADDRNOTAVAIL" | "EINVAL" | "none";

/**
 * `rejected`: kexec_load returns the errno. `boot-fails`: the kernel accepts the
 * load, but the new kernel cannot boot, or memory that is not ours gets overwritten.
 */
export type Severity = "rejected" | "boot-fails";

export type RuleId =
  | "lockdown"
  | "flags"
  | "segment-count"
  | "flags-arch"
  | "entry-crash-range"
  | "wrap"
  | "page-alignment"
  | "overlap"
  | "bufsz"
  | "ram-half"
  | "crash-range"
  | "system-ram"
  | "reserved"
  | "kernel-base"
  | "kernel-image-size"
  | "initrd-window"
  | "dtb-size"
  | "dtb-2m-crossing"
  | "console-window"
  | "entry-segment";

/** One broken rule, as data. */
export interface Violation {
  readonly rule: RuleId;
  readonly errno: Errno;
  readonly severity: Severity;
  /** Index into `load.segments` of the segment at fault, when there is one. */
  readonly segment?: number;
  readonly role?: Role;
  /** The second segment of an overlap. */
  readonly other?: number;
  /** What is wrong, with the values. */
  readonly message: string;
  /** What to change. */
  readonly fix: string;
}

/**
 * Something `explain` cannot decide offline (lockdown, sysctls, CPU state) or a
 * check it had to skip for lack of a fact. Not a finding.
 */
export interface Caveat {
  readonly errno: "EPERM" | "EBUSY" | "ENOMEM" | "EINVAL" | "none";
  readonly message: string;
}

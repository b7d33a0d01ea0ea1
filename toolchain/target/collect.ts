import { InputError, hex, isInputError } from "../bytes/index.js";
import { boardFacts } from "./board.js";
import { memoryMapFromIomem, parseIomem } from "./iomem.js";
import { validateTarget } from "./json.js";
import { KCORE, readKcoreVmcoreinfo } from "./kcore.js";
import type { CaptureSource } from "./source.js";
import { LOCKDOWN_LEVELS, type CpuNote, type Lockdown, type PageSize, type Target, type VmcoreInfo } from "./types.js";
import { parseVmcoreinfo } from "./vmcoreinfo.js";

/**
 * Builds a `Target` from a machine's files, the one place that knows where a
 * live arm64 Linux keeps each fact:
 *
 * | fact | file | format |
 * |---|---|---|
 * | RAM, reserved, crash and kernel ranges | `/proc/iomem` | see iomem.ts |
 * | per-CPU crash notes | `/sys/devices/system/cpu/cpuN/crash_notes{,_size}` | `%llx` (hex, no 0x) / `%zu` (Linux `drivers/base/cpu.c`) |
 * | vmcoreinfo note | `/sys/kernel/vmcoreinfo` | `%pa %x`: `0x` + 16 hex digits, hex size (Linux `kernel/ksysfs.c`) |
 * | vmcoreinfo text | the VMCOREINFO note of `/proc/kcore` | see kcore.ts |
 * | page size | `AT_PAGESZ` in `/proc/self/auxv`, `PAGESIZE=` in vmcoreinfo, or the caller | |
 * | command line | `/proc/cmdline` | one line |
 * | base device tree | `/sys/firmware/fdt` | raw FDT |
 * | boot id | `/proc/sys/kernel/random/boot_id` | a UUID and a newline (Linux `drivers/char/random.c`) |
 * | console, PSCI conduit, CPU enable-methods | the device tree (and `console=`) | see board.ts |
 * | lockdown level | `/sys/kernel/security/lockdown` | the levels, the current one in brackets (security/lockdown/lockdown.c `lockdown_read`) |
 */

export interface CollectOptions {
  /** The running kernel's page size, when the caller knows it (`--page-size`). */
  readonly pageSize?: PageSize;
}

export interface Collected {
  readonly target: Target;
  /** Facts that could not be captured and what that costs, for the user. */
  readonly warnings: readonly string[];
}

const CPU_DIR = "sys/devices/system/cpu";
const LOCKDOWN = "sys/kernel/security/lockdown";
const AT_NULL = 0n;
const AT_PAGESZ = 6n;
const PAGE_SIZES: readonly number[] = [4096, 16384, 65536];

/**
 * Collects the target description from `src`.
 * @throws InputError for a missing /proc/iomem or /proc/cmdline, a malformed
 * file (with its path), no page size from any source, or sources that disagree.
 */
export function collectTarget(src: CaptureSource, opts: CollectOptions = {}): Collected {
  const warnings: string[] = [];
  const iomem = memoryMapFromIomem(parseIomem(text(required(src, "proc/iomem"))));
  const commandLine = text(required(src, "proc/cmdline")).replace(/\n$/, "");

  const cpuNotes: CpuNote[] = [];
  const cpus = (src.list(CPU_DIR) ?? [])
    .filter((n) => /^cpu[0-9]+$/.test(n))
    .map((n) => Number(n.slice(3)))
    .sort((a, b) => a - b);
  for (const cpu of cpus) {
    const dir = `${CPU_DIR}/cpu${cpu}`;
    const addr = src.read(`${dir}/crash_notes`);
    if (addr === null) {
      warnings.push(`cpu${cpu} has no crash_notes (a kernel without CONFIG_CRASH_DUMP?): its registers will be missing from a dump`);
      continue;
    }
    const size = src.read(`${dir}/crash_notes_size`);
    if (size === null) throw new InputError("MISSING_FILE", `Cannot describe ${src.label}: ${dir}/crash_notes exists but crash_notes_size does not`, `${dir}/crash_notes_size`, "Capture both files of each CPU.");
    cpuNotes.push({
      cpu,
      address: sysfs(addr, /^([0-9a-f]{1,16})\n?$/, `${dir}/crash_notes`, "hex without 0x (%llx)", (m) => BigInt("0x" + m[1])),
      size: sysfs(size, /^([0-9]{1,10})\n?$/, `${dir}/crash_notes_size`, "a decimal size (%zu)", (m) => BigInt(m[1] as string)),
    });
  }
  if (cpus.length === 0) warnings.push(`no ${CPU_DIR}/cpuN directories: the description has no crash notes`);

  let vmcoreinfo: VmcoreInfo | null = null;
  const vi = src.read("sys/kernel/vmcoreinfo");
  if (vi === null) warnings.push("no /sys/kernel/vmcoreinfo (a kernel without CONFIG_CRASH_CORE?): no elfcorehdr can be built");
  else {
    const [address, size] = sysfs(vi, /^0x([0-9a-f]{1,16}) ([0-9a-f]{1,8})\n?$/, "sys/kernel/vmcoreinfo", "\"0x<address> <hex size>\" (%pa %x)", (m) => [
      BigInt("0x" + m[1]),
      BigInt("0x" + m[2]),
    ]);
    const note = kcoreText(src, warnings);
    vmcoreinfo = note === null ? { address, size } : { address, size, text: note };
  }

  const fdt = src.read("sys/firmware/fdt");
  if (fdt === null) warnings.push("no /sys/firmware/fdt: give a base device tree to later steps yourself");

  // securityfs may be unmounted, or the kernel built without the lockdown LSM:
  // then the level is not known, and explain says so instead of deciding.
  const lockdownFile = src.read(LOCKDOWN);
  const lockdown = lockdownFile === null ? undefined
    : sysfs(lockdownFile, /^(?:[a-z]+ )*\[([a-z]+)\](?: [a-z]+)*\n?$/, LOCKDOWN, "the levels with the current one in brackets", (m) => m[1] as string);
  if (lockdown !== undefined && !LOCKDOWN_LEVELS.includes(lockdown as Lockdown)) {
    throw new InputError("BAD_SYSFS", `Cannot parse /${LOCKDOWN}: lockdown level ${JSON.stringify(lockdown)} is not one of ${LOCKDOWN_LEVELS.join(", ")}`, LOCKDOWN);
  }

  const pageSize = choosePageSize(src, vmcoreinfo?.text, opts.pageSize);
  // The boot id names the boot whose note addresses these are; a crash load
  // built from them is refused in any other boot (docs/kdump-service.md).
  const bootIdFile = src.read("proc/sys/kernel/random/boot_id");
  // (No warning without it: only `kdump arm` needs it, and says so.)
  const bootId = bootIdFile === null ? undefined : sysfs(bootIdFile, /^([0-9a-f-]{36})\n?$/, "proc/sys/kernel/random/boot_id", "a UUID", (m) => m[1] as string);
  const board = fdt === null ? { console: null, psci: null, cpuEnableMethod: {}, notes: [] } : boardFacts(fdt, commandLine);
  warnings.push(...board.notes);
  const target: Target = {
    version: 2,
    pageSize,
    ...iomem,
    cpuNotes,
    vmcoreinfo,
    commandLine,
    dtb: fdt,
    console: board.console,
    psci: board.psci,
    cpuEnableMethod: board.cpuEnableMethod,
    ...(bootId === undefined ? {} : { bootId }),
    ...(lockdown === undefined ? {} : { lockdown: lockdown as Lockdown }),
  };
  if (target.crashKernel === null) warnings.push("no \"Crash kernel\" range in /proc/iomem: boot the target with crashkernel= for kdump");
  validateTarget(target);
  return { target, warnings };
}

function required(src: CaptureSource, path: string): Uint8Array {
  const b = src.read(path);
  if (b === null) throw new InputError("MISSING_FILE", `Cannot describe ${src.label}: /${path} is missing`, path, "Every Linux has it; check --root or the capture.");
  return b;
}

function text(b: Uint8Array): string {
  return new TextDecoder("utf-8", { fatal: false }).decode(b);
}

function sysfs<T>(b: Uint8Array, re: RegExp, path: string, format: string, f: (m: RegExpExecArray) => T): T {
  const s = text(b);
  const m = re.exec(s);
  if (m === null) throw new InputError("BAD_SYSFS", `Cannot parse /${path}: ${JSON.stringify(s.slice(0, 60))} is not ${format}`, path, "Capture the file unchanged from the running kernel.");
  return f(m);
}

/** The kcore VMCOREINFO text, or null (with a warning) when kcore is absent, closed or has no such note. */
function kcoreText(src: CaptureSource, warnings: string[]): string | null {
  let head: Uint8Array | null;
  try {
    head = src.readAt(KCORE, 0, 64);
  } catch (e) {
    if (isInputError(e) && e.code === "NO_ACCESS") {
      warnings.push("/proc/kcore cannot be opened (not root, or kernel lockdown): no vmcoreinfo text, so no elfcorehdr can be built");
      return null;
    }
    throw e;
  }
  if (head === null) {
    warnings.push("no /proc/kcore: no vmcoreinfo text, so no elfcorehdr can be built");
    return null;
  }
  const t = readKcoreVmcoreinfo(src, head);
  if (t === null) warnings.push("/proc/kcore has no VMCOREINFO note (kernels before 4.19): no elfcorehdr can be built");
  return t;
}

/** Picks the page size from auxv, vmcoreinfo and the caller; they must agree. */
function choosePageSize(src: CaptureSource, vmcoreinfoText: string | undefined, given: PageSize | undefined): PageSize {
  const found: { from: string; size: number }[] = [];
  const auxv = src.read("proc/self/auxv");
  if (auxv !== null) {
    const v = auxvPageSize(auxv);
    if (v !== null) found.push({ from: "AT_PAGESZ in /proc/self/auxv", size: v });
  }
  if (vmcoreinfoText !== undefined) {
    const v = parseVmcoreinfo(vmcoreinfoText, "vmcoreinfo from /proc/kcore").pageSize;
    if (v !== null) found.push({ from: "PAGESIZE in vmcoreinfo", size: v });
  }
  if (given !== undefined) found.unshift({ from: "--page-size", size: given });
  const first = found[0];
  if (first === undefined) {
    throw new InputError("NO_PAGE_SIZE", `Cannot describe ${src.label}: no page size (no /proc/self/auxv, no vmcoreinfo text)`, "pageSize", "Pass --page-size 4096 (or 16384, 65536): the target's `getconf PAGESIZE`.");
  }
  for (const f of found) {
    if (f.size !== first.size) {
      throw new InputError("PAGE_SIZE_CONFLICT", `Cannot describe ${src.label}: ${first.from} says ${first.size} but ${f.from} says ${f.size}`, "pageSize", "All facts must come from the same running kernel.");
    }
  }
  if (!PAGE_SIZES.includes(first.size)) {
    throw new InputError("BAD_PAGE_SIZE", `Cannot describe ${src.label}: page size ${first.size} (${first.from}) is not 4096, 16384 or 65536`, "pageSize");
  }
  return first.size as PageSize;
}

/**
 * AT_PAGESZ from a 64-bit auxv (pairs of u64 LE, ended by AT_NULL), or null
 * when it has none.
 * @throws InputError `BAD_AUXV` when the length is not a multiple of 16.
 */
export function auxvPageSize(auxv: Uint8Array): number | null {
  if (auxv.length % 16 !== 0) {
    throw new InputError("BAD_AUXV", `Cannot parse /proc/self/auxv: ${auxv.length} bytes is not a whole number of 16-byte entries`, "proc/self/auxv", "Capture it from a 64-bit process on the target.");
  }
  const v = new DataView(auxv.buffer, auxv.byteOffset, auxv.byteLength);
  for (let at = 0; at < auxv.length; at += 16) {
    const type = v.getBigUint64(at, true);
    if (type === AT_NULL) break;
    if (type === AT_PAGESZ) {
      const size = v.getBigUint64(at + 8, true);
      if (size > 1n << 30n) throw new InputError("BAD_AUXV", `Cannot use /proc/self/auxv: AT_PAGESZ ${hex(size)} is not a page size`, "proc/self/auxv");
      return Number(size);
    }
  }
  return null;
}

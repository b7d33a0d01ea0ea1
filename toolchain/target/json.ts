import { InputError, hex, stableJson } from "../bytes/index.js";
import { boardFacts } from "./board.js";
import { normalize } from "./ranges.js";
import { LOCKDOWN_LEVELS, UART_FAMILIES, type CpuNote, type Lockdown, type PageSize, type PsciConduit, type Range, type Target, type TargetConsole, type UartFamily, type VmcoreInfo } from "./types.js";
import { parseVmcoreinfo } from "./vmcoreinfo.js";

/**
 * The versioned JSON form of a `Target` (`target.json`). 64-bit values are
 * `"0x…"` strings (JSON numbers lose precision above 2^53), ranges are
 * half-open `{start, end}`, the base DTB is base64. Keys are written sorted,
 * so the same machine gives the same bytes.
 *
 * Version 2 added `console`, `psci` and `cpuEnableMethod` (docs/target.md).
 * A version 1 file is still read: those three are derived from its DTB and
 * command line exactly as `purgatory describe` derives them (null and empty
 * without a DTB), and it is written back as version 2.
 */

const PAGE_SIZES: readonly PageSize[] = [4096, 16384, 65536];
const KEYS_V1 = [
  "commandLine", "cpuNotes", "crashKernel", "crashKernelLow", "dtb", "kernelCode",
  "kernelData", "memory", "pageSize", "reserved", "version", "vmcoreinfo",
] as const;
/** Fields a description may leave out (written before they existed); `object` requires the others. */
const OPTIONAL_KEYS = ["bootId", "lockdown"] as const;
/** `/proc/sys/kernel/random/boot_id`: a UUID in lower-case hex (Linux drivers/char/random.c, proc_do_uuid). */
export const BOOT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const KEYS = [...KEYS_V1, "console", "cpuEnableMethod", "psci"] as const;
const CONSOLE_KEYS = ["base", "compatible", "family", "path", "shift", "width"] as const;
/** The largest register shift a UART uses (stride 16); anything above is a typo. */
const MAX_SHIFT = 4;
const FDT_MAGIC = 0xd00dfeed;

/** Serializes a target as JSON text (sorted keys, two-space indent, trailing newline). */
export function serializeTarget(t: Target): string {
  const range = (r: Range | null) => (r === null ? null : { end: hex(r.end), start: hex(r.start) });
  const vmcoreinfo = t.vmcoreinfo === null
    ? null
    : t.vmcoreinfo.text === undefined
      ? { address: hex(t.vmcoreinfo.address), size: hex(t.vmcoreinfo.size) }
      : { address: hex(t.vmcoreinfo.address), size: hex(t.vmcoreinfo.size), text: t.vmcoreinfo.text };
  const c = t.console;
  const doc = {
    commandLine: t.commandLine,
    console: c === null ? null : { base: c.base === null ? null : hex(c.base), compatible: c.compatible, family: c.family, path: c.path, shift: c.shift, width: c.width },
    cpuEnableMethod: t.cpuEnableMethod,
    cpuNotes: t.cpuNotes.map((n) => ({ address: hex(n.address), cpu: n.cpu, size: hex(n.size) })),
    crashKernel: range(t.crashKernel),
    crashKernelLow: range(t.crashKernelLow),
    dtb: t.dtb === null ? null : Buffer.from(t.dtb).toString("base64"),
    kernelCode: range(t.kernelCode),
    kernelData: range(t.kernelData),
    ...(t.lockdown === undefined ? {} : { lockdown: t.lockdown }),
    memory: t.memory.map(range),
    pageSize: t.pageSize,
    psci: t.psci,
    reserved: t.reserved.map(range),
    version: t.version,
    vmcoreinfo,
    ...(t.bootId === undefined ? {} : { bootId: t.bootId }),
  };
  return stableJson(doc) + "\n";
}

/**
 * Parses and validates `target.json` text.
 * @throws InputError `BAD_JSON` (with the byte offset) for invalid JSON and
 * `BAD_TARGET` with the JSON path (`memory[1].end`) and a hint for the first bad field.
 */
export function parseTarget(text: string): Target {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const pos = /position (\d+)/.exec((e as Error).message);
    throw new InputError(
      "BAD_JSON",
      `Cannot parse target description: ${(e as Error).message}`,
      pos?.[1] === undefined ? undefined : Number(pos[1]),
      "target.json must be JSON as written by `purgatory describe`.",
    );
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) bad("", `expected an object, found ${typeName(doc)}`);
  const version = (doc as Record<string, unknown>).version;
  if (version !== 1 && version !== 2) {
    bad("version", `version ${JSON.stringify(version)} is not 1 or 2`, "This purgatory reads versions 1 and 2; re-run `purgatory describe` with it, or upgrade.");
  }
  const o = object(doc, "", version === 1 ? KEYS_V1 : KEYS, OPTIONAL_KEYS) as Record<(typeof KEYS)[number], unknown> & Partial<Record<(typeof OPTIONAL_KEYS)[number], unknown>>;
  const vmcoreinfo = o.vmcoreinfo === null ? null : vmcoreInfo(o.vmcoreinfo, "vmcoreinfo");
  const commandLine = string(o.commandLine, "commandLine");
  const dtb = o.dtb === null ? null : base64(o.dtb, "dtb");
  const board = version === 2
    ? { console: o.console === null ? null : targetConsole(o.console, "console"), psci: psci(o.psci, "psci"), cpuEnableMethod: enableMethods(o.cpuEnableMethod, "cpuEnableMethod") }
    : dtb === null ? { console: null, psci: null, cpuEnableMethod: {} } : boardFacts(dtb, commandLine);
  const target: Target = {
    version: 2,
    pageSize: pageSize(o.pageSize, "pageSize"),
    memory: array(o.memory, "memory").map((r, i) => range(r, `memory[${i}]`)),
    reserved: array(o.reserved, "reserved").map((r, i) => range(r, `reserved[${i}]`)),
    crashKernel: o.crashKernel === null ? null : range(o.crashKernel, "crashKernel"),
    crashKernelLow: o.crashKernelLow === null ? null : range(o.crashKernelLow, "crashKernelLow"),
    cpuNotes: array(o.cpuNotes, "cpuNotes").map((n, i) => cpuNote(n, `cpuNotes[${i}]`)),
    vmcoreinfo,
    kernelCode: o.kernelCode === null ? null : range(o.kernelCode, "kernelCode"),
    kernelData: o.kernelData === null ? null : range(o.kernelData, "kernelData"),
    commandLine,
    dtb,
    console: board.console,
    psci: board.psci,
    cpuEnableMethod: board.cpuEnableMethod,
    ...(o.bootId === undefined ? {} : { bootId: string(o.bootId, "bootId") }),
    ...(o.lockdown === undefined ? {} : { lockdown: lockdown(o.lockdown, "lockdown") }),
  };
  validateTarget(target);
  return target;
}

/**
 * Checks the relations between a target's fields: ranges non-empty, ascending
 * and disjoint; reserved, crash and kernel ranges inside RAM; the low crash
 * range below the high one; cpu numbers ascending; vmcoreinfo text parseable
 * and agreeing on PAGESIZE; the DTB starting with the FDT magic.
 * @throws InputError `BAD_TARGET` with the path of the first bad field.
 */
export function validateTarget(t: Target): void {
  if (!PAGE_SIZES.includes(t.pageSize)) bad("pageSize", `page size ${t.pageSize} is not 4096, 16384 or 65536`, "arm64 kernels use 4K, 16K or 64K pages.");
  if (t.memory.length === 0) bad("memory", "no System RAM ranges", "Capture /proc/iomem as root.");
  ascending(t.memory, "memory");
  ascending(t.reserved, "reserved");
  const ram = normalize(t.memory);
  const inRam = (r: Range, path: string): void => {
    if (!ram.some((m) => r.start >= m.start && r.end <= m.end)) {
      bad(path, `${hex(r.start)}-${hex(r.end)} is not inside System RAM`, "Every reserved, crash and kernel range lies inside a memory range.");
    }
  };
  t.reserved.forEach((r, i) => inRam(r, `reserved[${i}]`));
  for (const key of ["crashKernel", "crashKernelLow", "kernelCode", "kernelData"] as const) {
    const r = t[key];
    if (r !== null) {
      nonEmpty(r, key);
      inRam(r, key);
    }
  }
  if (t.crashKernelLow !== null) {
    if (t.crashKernel === null) bad("crashKernelLow", "a low crash range without a crash range", "crashkernel=X,low only exists next to crashkernel=Y; set crashKernel too.");
    else if (t.crashKernelLow.end > t.crashKernel.start) {
      bad("crashKernelLow", `low crash range ends at ${hex(t.crashKernelLow.end)}, above the start of crashKernel ${hex(t.crashKernel.start)}`, "The low range is the lower of the two \"Crash kernel\" ranges.");
    }
  }
  t.cpuNotes.forEach((n, i) => {
    const path = `cpuNotes[${i}]`;
    const prev = t.cpuNotes[i - 1];
    if (prev !== undefined && n.cpu <= prev.cpu) bad(`${path}.cpu`, `cpu ${n.cpu} does not follow cpu ${prev.cpu}`, "List CPUs once each, ascending.");
    if (n.size === 0n) bad(`${path}.size`, "a crash note of size 0", "crash_notes_size is never 0 on a kernel with CONFIG_CRASH_DUMP.");
    if (n.address + n.size > U64_END) bad(`${path}.size`, "the note runs past the 64-bit address space");
  });
  if (t.vmcoreinfo !== null) {
    if (t.vmcoreinfo.size === 0n) bad("vmcoreinfo.size", "vmcoreinfo size 0", "/sys/kernel/vmcoreinfo prints a non-zero size.");
    if (t.vmcoreinfo.address + t.vmcoreinfo.size > U64_END) bad("vmcoreinfo.size", "the note runs past the 64-bit address space");
    if (t.vmcoreinfo.text !== undefined) {
      const info = parseVmcoreinfo(t.vmcoreinfo.text, "vmcoreinfo.text");
      if (info.pageSize !== null && info.pageSize !== t.pageSize) {
        bad("pageSize", `page size ${t.pageSize} disagrees with vmcoreinfo PAGESIZE=${info.pageSize}`, "Both come from the same kernel; re-run describe, or fix --page-size.");
      }
    }
  }
  if (t.bootId !== undefined && !BOOT_ID.test(t.bootId)) {
    bad("bootId", `boot id ${JSON.stringify(t.bootId)} is not a lower-case UUID`, "Copy /proc/sys/kernel/random/boot_id unchanged, without its newline.");
  }
  if (t.console !== null) validateConsole(t.console, "console");
  if (t.psci !== null && t.psci !== "hvc" && t.psci !== "smc") bad("psci", `psci ${JSON.stringify(t.psci)} is not "hvc", "smc" or null`, "The /psci method of the device tree; null when it has none.");
  for (const [cpu, m] of Object.entries(t.cpuEnableMethod)) {
    if (!cpu.startsWith("/")) bad(`cpuEnableMethod.${cpu}`, `"${cpu}" is not a node path`, "Key each CPU by its node path, e.g. /cpus/cpu@0.");
    if (m !== null && (typeof m !== "string" || m === "")) bad(`cpuEnableMethod.${cpu}`, `enable-method ${JSON.stringify(m)} is not a non-empty string or null`);
  }
  if (t.commandLine.includes("\0")) bad("commandLine", "the command line contains a NUL byte", "/proc/cmdline is one line of text.");
  if (t.dtb !== null && (t.dtb.length < 4 || new DataView(t.dtb.buffer, t.dtb.byteOffset, t.dtb.byteLength).getUint32(0, false) !== FDT_MAGIC)) {
    bad("dtb", "the base DTB does not start with the FDT magic d0 0d fe ed", "Give the raw /sys/firmware/fdt, base64-encoded.");
  }
}

const U64_END = 1n << 64n;

function validateConsole(c: TargetConsole, path: string): void {
  if (c.family !== null && !UART_FAMILIES.includes(c.family)) bad(`${path}.family`, `family ${JSON.stringify(c.family)} is not one of ${UART_FAMILIES.join(", ")} or null`);
  if (typeof c.compatible !== "string" || c.compatible === "") bad(`${path}.compatible`, "the compatible is empty", "Copy the UART node's compatible string.");
  if (!c.path.startsWith("/")) bad(`${path}.path`, `"${c.path}" is not a node path`, "The UART's node, e.g. /pl011@9000000.");
  if (c.base !== null && (c.base < 0n || c.base >= U64_END)) bad(`${path}.base`, "the base is not a u64");
  if (!Number.isInteger(c.shift) || c.shift < 0 || c.shift > MAX_SHIFT) bad(`${path}.shift`, `shift ${String(c.shift)} is not 0..${MAX_SHIFT}`, "The register stride is 1 << shift bytes (reg-shift).");
  if (c.width !== 1 && c.width !== 2 && c.width !== 4) bad(`${path}.width`, `width ${String(c.width)} is not 1, 2 or 4`, "Bytes per register access (reg-io-width).");
}

function bad(path: string, what: string, hint?: string): never {
  throw new InputError("BAD_TARGET", `Cannot use target description: ${what}`, path, hint);
}

function typeName(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `${typeof v} ${JSON.stringify(v)}`;
}

function object<K extends string, O extends string = never>(v: unknown, path: string, keys: readonly K[], optional: readonly O[] = []): Record<K, unknown> & Partial<Record<O, unknown>> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(path, `expected an object, found ${typeName(v)}`);
  const o = v as Record<string, unknown>;
  const at = (k: string) => (path === "" ? k : `${path}.${k}`);
  const known: readonly string[] = [...keys, ...optional];
  for (const k of Object.keys(o)) {
    if (!known.includes(k)) bad(at(k), `unknown field "${k}"`, `Known fields here: ${[...known].sort().join(", ")}.`);
  }
  for (const k of keys) if (!Object.hasOwn(o, k)) bad(at(k), `missing field "${k}"`, "Every field is required; write null where a fact is unknown.");
  return o as Record<K, unknown> & Partial<Record<O, unknown>>;
}

function lockdown(v: unknown, path: string): Lockdown {
  if (!LOCKDOWN_LEVELS.includes(v as Lockdown)) bad(path, `lockdown ${typeName(v)} is not one of ${LOCKDOWN_LEVELS.join(", ")}`, "The bracketed word of /sys/kernel/security/lockdown.");
  return v as Lockdown;
}

function array(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) bad(path, `expected an array, found ${typeName(v)}`);
  return v;
}

function string(v: unknown, path: string): string {
  if (typeof v !== "string") bad(path, `expected a string, found ${typeName(v)}`);
  return v;
}

function u64(v: unknown, path: string): bigint {
  if (typeof v !== "string" || !/^0x[0-9a-fA-F]{1,16}$/.test(v)) {
    bad(path, `expected a "0x…" hex string of at most 16 digits, found ${typeName(v)}`, "64-bit values are written as strings like \"0x40000000\" so JSON keeps every bit.");
  }
  return BigInt(v);
}

function range(v: unknown, path: string): Range {
  const o = object(v, path, ["start", "end"] as const);
  const r = { start: u64(o.start, `${path}.start`), end: u64(o.end, `${path}.end`) };
  nonEmpty(r, path);
  return r;
}

function nonEmpty(r: Range, path: string): void {
  if (r.end <= r.start) bad(`${path}.end`, `end ${hex(r.end)} is not above start ${hex(r.start)}`, "Ranges are half-open [start, end): end is one past the last byte.");
}

function ascending(rs: readonly Range[], path: string): void {
  rs.forEach((r, i) => {
    const prev = rs[i - 1];
    if (prev !== undefined && r.start < prev.end) {
      bad(`${path}[${i}].start`, `${hex(r.start)} overlaps or precedes the previous range ending ${hex(prev.end)}`, "List ranges ascending and disjoint.");
    }
  });
}

function pageSize(v: unknown, path: string): PageSize {
  if (typeof v !== "number" || !PAGE_SIZES.includes(v as PageSize)) bad(path, `page size ${typeName(v)} is not 4096, 16384 or 65536`, "arm64 kernels use 4K, 16K or 64K pages.");
  return v as PageSize;
}

function cpuNote(v: unknown, path: string): CpuNote {
  const o = object(v, path, ["cpu", "address", "size"] as const);
  if (typeof o.cpu !== "number" || !Number.isInteger(o.cpu) || o.cpu < 0 || o.cpu > 0xffff_ffff) {
    bad(`${path}.cpu`, `cpu ${typeName(o.cpu)} is not a CPU number`, "The N of /sys/devices/system/cpu/cpuN, as a JSON number.");
  }
  return { cpu: o.cpu, address: u64(o.address, `${path}.address`), size: u64(o.size, `${path}.size`) };
}

function vmcoreInfo(v: unknown, path: string): VmcoreInfo {
  if (v !== null && typeof v === "object" && !Array.isArray(v) && Object.hasOwn(v, "text")) {
    const o = object(v, path, ["address", "size", "text"] as const);
    return { address: u64(o.address, `${path}.address`), size: u64(o.size, `${path}.size`), text: string(o.text, `${path}.text`) };
  }
  const o = object(v, path, ["address", "size"] as const);
  return { address: u64(o.address, `${path}.address`), size: u64(o.size, `${path}.size`) };
}

function targetConsole(v: unknown, path: string): TargetConsole {
  const o = object(v, path, CONSOLE_KEYS);
  const family = o.family === null ? null : string(o.family, `${path}.family`);
  if (family !== null && !(UART_FAMILIES as readonly string[]).includes(family)) {
    bad(`${path}.family`, `family ${JSON.stringify(family)} is not one of ${UART_FAMILIES.join(", ")} or null`);
  }
  const int = (x: unknown, at: string): number => {
    if (typeof x !== "number" || !Number.isInteger(x)) bad(at, `expected an integer, found ${typeName(x)}`);
    return x;
  };
  return {
    family: family as UartFamily | null,
    compatible: string(o.compatible, `${path}.compatible`),
    path: string(o.path, `${path}.path`),
    base: o.base === null ? null : u64(o.base, `${path}.base`),
    shift: int(o.shift, `${path}.shift`),
    width: int(o.width, `${path}.width`) as TargetConsole["width"],
  };
}

function psci(v: unknown, path: string): PsciConduit | null {
  if (v === null) return null;
  if (v !== "hvc" && v !== "smc") bad(path, `psci ${typeName(v)} is not "hvc", "smc" or null`, "The /psci method of the device tree; null when it has none.");
  return v;
}

function enableMethods(v: unknown, path: string): Record<string, string | null> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(path, `expected an object, found ${typeName(v)}`, "Map each CPU node path to its enable-method, or null.");
  const out: Record<string, string | null> = {};
  for (const [k, m] of Object.entries(v as Record<string, unknown>)) out[k] = m === null ? null : string(m, `${path}.${k}`);
  return out;
}

function base64(v: unknown, path: string): Uint8Array {
  const s = string(v, path);
  const bytes = Buffer.from(s, "base64");
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s) || bytes.toString("base64") !== s) {
    bad(path, "not canonical base64", "Encode the raw DTB with `base64 -w0`.");
  }
  return new Uint8Array(bytes);
}

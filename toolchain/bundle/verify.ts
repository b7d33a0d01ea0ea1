import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { InputError, hex } from "../bytes/index.js";
import { checkVmcoreHeader } from "../elf/index.js";
import { cellsFor, decodeAddrRanges, decodeU64, getProperty, parseFdt } from "../fdt/index.js";
import { checkConsoleWindow, checkLoad, type Role } from "../layout/index.js";
import { formatConsole, parseHeader, readSlots } from "../purgatory/index.js";
import { formatUart, parseConsoleRequest, uartWindow } from "./console.js";
import type { Manifest } from "./manifest.js";
import { readBundle } from "./read.js";
import { decodeSegmentTable } from "./table.js";

/** One verification step and its outcome. */
export interface VerifyCheck {
  readonly check: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface VerifyReport {
  readonly dir: string;
  readonly ok: boolean;
  readonly checks: readonly VerifyCheck[];
  /** The first failed check, if any. */
  readonly firstFailure: VerifyCheck | null;
}

/**
 * Verifies a bundle offline: re-hashes every segment file, re-checks every
 * layout rule against the bundle's target, checks that segments.bin, the
 * purgatory's slots and the DTB's /chosen agree with the manifest, and that
 * the elfcorehdr passes the capture kernel's checks.
 * @throws InputError when manifest.json itself cannot be read (nothing to check against).
 */
export async function verifyBundle(dir: string): Promise<VerifyReport> {
  const bundle = await readBundle(dir);
  const { manifest, files } = bundle;
  const checks: VerifyCheck[] = [];
  const add = (check: string, ok: boolean, detail: string) => checks.push({ check, ok, detail });

  for (const s of manifest.segments) {
    const fault = bundle.faults.find((f) => f.role === s.role);
    if (fault?.fault === "missing") {
      add(`${s.role}: file`, false, fault.detail);
      continue;
    }
    add(`${s.role}: size`, fault?.fault !== "size", fault?.fault === "size" ? fault.detail : `${s.file} is ${hex(s.bufsz)} bytes, bufsz ${hex(s.bufsz)}`);
    add(`${s.role}: sha256`, fault === undefined, fault === undefined ? s.sha256 : fault.detail);
  }

  const violations = checkLoad({ entry: manifest.entry, flags: Number(manifest.flags), segments: manifest.segments }, manifest.target);
  add("layout", violations.length === 0,
    violations.length === 0 ? "every kexec_load and arm64 boot rule holds" : violations.map((v) => `${v.rule} (${v.errno}): ${v.message}`).join("; "));

  await checkTable(dir, manifest, add);
  checkPurgatory(manifest, files, add);
  checkDtb(manifest, files, add);
  const elf = files.get("elfcorehdr");
  if (elf !== undefined) {
    const errors = checkVmcoreHeader(elf).filter((f) => f.severity === "error");
    add("elfcorehdr: fs/proc/vmcore.c checks", errors.length === 0, errors.length === 0 ? "accepted" : errors.map((f) => f.message).join("; "));
  }

  const firstFailure = checks.find((c) => !c.ok) ?? null;
  return { dir, ok: firstFailure === null, checks, firstFailure };
}

type Add = (check: string, ok: boolean, detail: string) => void;

async function checkTable(dir: string, m: Manifest, add: Add): Promise<void> {
  const bytes = await readFile(join(dir, "segments.bin")).catch(() => null);
  if (bytes === null) return add("segments.bin", false, "segments.bin is missing");
  try {
    const t = decodeSegmentTable(new Uint8Array(bytes));
    const same = t.entry === m.entry && t.flags === m.flags && t.segments.length === m.segments.length &&
      t.segments.every((s, i) => {
        const x = m.segments[i]!;
        return s.role === x.role && s.file === x.file && s.mem === x.mem && s.memsz === x.memsz && s.bufsz === x.bufsz &&
          Buffer.from(s.sha256).toString("hex") === x.sha256;
      });
    add("segments.bin", same, same ? "agrees with manifest.json" : "differs from manifest.json (entry, flags or a segment)");
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    add("segments.bin", false, e.message);
  }
}

function checkPurgatory(m: Manifest, files: ReadonlyMap<Role, Uint8Array>, add: Add): void {
  const blob = files.get("purgatory");
  if (blob === undefined) return add("purgatory: slots", false, "no purgatory segment");
  const p = m.segments.find((s) => s.role === "purgatory")!;
  add("purgatory: entry", m.entry === p.mem, `entry ${hex(m.entry)}, purgatory at ${hex(p.mem)}`);
  try {
    // The purgatory builds its page tables past the blob, up to the header's
    // mem_size: a segment smaller than that would let it write memory that is not its own.
    const memSize = BigInt(parseHeader(blob).mem_size);
    add("purgatory: memsz", p.memsz >= memSize, `segment memsz ${hex(p.memsz)}, the purgatory uses ${hex(memSize)}`);
    const slots = readSlots(blob);
    add("purgatory: kernel_entry", slots.kernel_entry === m.kernelEntry, `slot ${hex(slots.kernel_entry)}, manifest ${hex(m.kernelEntry)}`);
    add("purgatory: dtb_addr", slots.dtb_addr === m.dtbAddress, `slot ${hex(slots.dtb_addr)}, manifest ${hex(m.dtbAddress)}`);
    checkConsole(m, formatConsole({ kind: slots.console_kind, base: slots.console_base, shift: slots.console_shift, width: slots.console_width }), add);
    const want = m.segments.filter((s) => s.role !== "purgatory");
    const same = slots.regions.length === want.length && slots.regions.every((r, i) => {
      const s = want[i]!;
      return r.start === s.mem && r.length === s.bufsz && Buffer.from(r.sha256).toString("hex") === s.sha256;
    });
    add("purgatory: regions", same, same ? `${want.length} regions match the segments` :
      `the region table (${slots.regions.map((r) => `${hex(r.start)}+${hex(r.length)}`).join(", ")}) does not match the segments`);
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    add("purgatory: slots", false, e.message);
  }
}

/**
 * The console the purgatory's slots name agrees with the manifest, and its
 * registers are neither RAM nor a segment (layout's console-window rule);
 * without one, the check says once why the purgatory prints nothing.
 */
function checkConsole(m: Manifest, slot: string, add: Add): void {
  const p = (m.purgatory ?? {}) as { console?: unknown; consoleNote?: unknown };
  const stated = typeof p.console === "string" ? p.console : "(none stated)";
  if (stated !== slot) return add("purgatory: console", false, `the slots say ${slot}, the manifest ${stated}`);
  const req = parseConsoleRequest(slot, "purgatory.console");
  if (req === "none" || req === "auto") {
    return add("purgatory: console", true, typeof p.consoleNote === "string" ? p.consoleNote : "none: the purgatory prints nothing");
  }
  const name = formatUart(req);
  const found = checkConsoleWindow(uartWindow(req), name, { entry: m.entry, flags: Number(m.flags), segments: m.segments }, m.target);
  add("purgatory: console", found.length === 0, found.length === 0 ? `${name}, outside RAM and every segment` : found.map((v) => v.message).join("; "));
}

function checkDtb(m: Manifest, files: ReadonlyMap<Role, Uint8Array>, add: Add): void {
  const bytes = files.get("dtb");
  if (bytes === undefined) return add("dtb", false, "no dtb segment");
  try {
    const tree = parseFdt(bytes);
    const u64 = (name: string) => {
      const v = getProperty(tree, "/chosen", name);
      return v === undefined ? null : v.length === 4 ? BigInt(new DataView(v.buffer, v.byteOffset).getUint32(0)) : decodeU64(v, `/chosen/${name}`);
    };
    const initrd = m.segments.find((s) => s.role === "initrd");
    const start = u64("linux,initrd-start");
    const end = u64("linux,initrd-end");
    add("dtb: initrd", initrd === undefined ? start === null && end === null : start === initrd.mem && end === initrd.mem + initrd.bufsz,
      `linux,initrd-start/end ${start === null ? "absent" : `${hex(start)}..${hex(end ?? 0n)}`}`);
    const ranges = (name: string) => {
      const v = getProperty(tree, "/chosen", name);
      return v === undefined ? null : decodeAddrRanges(v, cellsFor(tree, "/chosen"), `/chosen/${name}`);
    };
    const hdr = ranges("linux,elfcorehdr");
    const usable = ranges("linux,usable-memory-range");
    if (m.mode === "crash") {
      const e = m.segments.find((s) => s.role === "elfcorehdr");
      add("dtb: linux,elfcorehdr", e !== undefined && hdr?.length === 1 && hdr[0]!.address === e.mem && hdr[0]!.size === e.bufsz,
        hdr === null ? "absent" : hdr.map((r) => `<${hex(r.address)} ${hex(r.size)}>`).join(" "));
      const want = [m.target.crashKernel, m.target.crashKernelLow].flatMap((r) => (r === null ? [] : [r]));
      add("dtb: linux,usable-memory-range",
        usable !== null && usable.length === want.length && usable.every((r, i) => r.address === want[i]!.start && r.size === want[i]!.end - want[i]!.start),
        usable === null ? "absent" : usable.map((r) => `<${hex(r.address)} ${hex(r.size)}>`).join(" "));
    } else {
      add("dtb: no capture properties", hdr === null && usable === null, "a reboot must not carry linux,elfcorehdr or linux,usable-memory-range");
    }
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    add("dtb", false, e.message);
  }
}

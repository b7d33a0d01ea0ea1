import { InputError, hex, stableJson } from "../bytes/index.js";
import type { PageSize, Range, Target } from "../target/types.js";
import type { CheckFacts } from "./check.js";
import { KEXEC_ON_CRASH, ROLES, type Load, type LoadSegment, type Mode, type Role } from "./types.js";

/**
 * Reads a proposed load from JSON: a bundle's manifest.json, or the segment
 * list a loader author writes by hand:
 *
 *   { "entry": "0x…", "flags": "0x…",
 *     "segments": [{ "role"?: "kernel", "mem": "0x…", "memsz": "0x…", "bufsz": "0x…" }],
 *     "pageSize"?: 4096, "memory"?: [{ "start": "0x…", "end": "0x…" }], "reserved"?: […],
 *     "crashKernel"?: { "start": "0x…", "end": "0x…" } | null, "crashKernelLow"?: … }
 *
 * 64-bit values are "0x…" strings (decimal strings and safe JSON integers are
 * accepted too); ranges are half-open. A manifest's `mode` must agree with the
 * flags, `target` (a path or an inline object) is handed back for the target
 * reader, and a kernel segment may carry `textOffset` and `imageSize`.
 * Segment objects are strict (a misspelt key is an error); top-level keys we do
 * not use are listed in `ignored`, since a manifest carries much more.
 */
export interface LoadDocument {
  readonly load: Load;
  /** The manifest's `mode`, when it states one (it agrees with the flags). */
  readonly mode?: Mode;
  /** Target facts stated in the document itself. */
  readonly facts: CheckFacts;
  /** The manifest's `target`: a path (relative to the manifest) or the inline object, unparsed. */
  readonly target?: string | { readonly [key: string]: unknown };
  /** Top-level keys this reader does not use, sorted. */
  readonly ignored: readonly string[];
}

const TOP_KEYS = ["entry", "flags", "mode", "segments", "pageSize", "memory", "reserved", "crashKernel", "crashKernelLow", "target"];
const SEGMENT_KEYS = ["role", "mem", "memsz", "bufsz", "file", "sha256", "source", "textOffset", "imageSize"];
const U64_END = 1n << 64n;

type Json = { readonly [key: string]: unknown };

/**
 * Parses the JSON text of a proposed load.
 * @throws InputError `BAD_LOAD` with the character offset (syntax) or the
 *   path (`segments[2].mem`) of the first bad value, and how to write it.
 */
export function parseLoadJson(text: string): LoadDocument {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    const at = /position (\d+)/.exec(String((e as Error).message))?.[1];
    throw new InputError("BAD_LOAD", `Cannot parse the load as JSON: ${(e as Error).message.replace(/ in JSON at position \d+.*$/, "")}`,
      at === undefined ? undefined : Number(at),
      "Was the file cut short? A bundle's manifest.json is written whole by `purgatory bundle`: build the bundle again; a load of your own is a JSON object with entry, flags and segments (see `purgatory explain --help`)");
  }
  const top = object(doc, "", "a JSON object with entry, flags and segments");

  const entry = u64(need(top, "entry", ""), "entry");
  const flags64 = u64(need(top, "flags", ""), "flags");
  if (flags64 > 0xffff_ffffn) {
    throw new InputError("BAD_LOAD", `Cannot read flags ${hex(flags64)}: bits above 31 are set, which kexec_load refuses with EINVAL`, "flags",
      "Use KEXEC_ON_CRASH | KEXEC_ARCH_AARCH64 (0xb70001) for a crash load, KEXEC_ARCH_AARCH64 (0xb70000) for a reboot");
  }
  const flags = Number(flags64);

  let mode: Mode | undefined;
  if (has(top, "mode")) {
    const m = top.mode;
    if (m !== "crash" && m !== "reboot") bad("mode", `mode ${JSON.stringify(m)} is not "crash" or "reboot"`);
    mode = m;
    if ((mode === "crash") !== ((flags & KEXEC_ON_CRASH) !== 0)) {
      bad("mode", `mode "${mode}" disagrees with flags ${hex(flags)} (KEXEC_ON_CRASH is ${flags & KEXEC_ON_CRASH ? "set" : "clear"})`,
        "Fix whichever is wrong: a crash load sets KEXEC_ON_CRASH (0x1)");
    }
  }

  const list = need(top, "segments", "");
  if (!Array.isArray(list)) bad("segments", "segments is not an array");
  if (list.length === 0) bad("segments", "segments is empty; kexec_load with no segments unloads instead of loading", "List the segments to load");
  const seen = new Map<Role, number>();
  const segments = list.map((v, i) => segment(v, `segments[${i}]`, seen, i));

  const facts: { -readonly [K in keyof CheckFacts]: CheckFacts[K] } = {};
  if (has(top, "pageSize")) facts.pageSize = pageSize(top.pageSize);
  if (has(top, "memory")) facts.memory = ranges(top.memory, "memory");
  if (has(top, "reserved")) facts.reserved = ranges(top.reserved, "reserved");
  if (has(top, "crashKernel")) facts.crashKernel = top.crashKernel === null ? null : range(top.crashKernel, "crashKernel");
  if (has(top, "crashKernelLow")) facts.crashKernelLow = top.crashKernelLow === null ? null : range(top.crashKernelLow, "crashKernelLow");

  let target: LoadDocument["target"];
  if (has(top, "target")) {
    const t = top.target;
    if (typeof t === "string") {
      if (t === "") bad("target", "target is an empty path");
      target = t;
    } else target = object(t, "target", "a path string or a target object");
  }

  return {
    load: { entry, flags, segments },
    ...(mode !== undefined ? { mode } : {}),
    facts,
    ...(target !== undefined ? { target } : {}),
    ignored: Object.keys(top).filter((k) => !TOP_KEYS.includes(k)).sort(),
  };
}

function segment(v: unknown, at: string, seen: Map<Role, number>, i: number): LoadSegment {
  const o = object(v, at, "a segment object with mem, memsz and bufsz");
  for (const k of Object.keys(o)) {
    if (!SEGMENT_KEYS.includes(k)) bad(`${at}.${k}`, `unknown segment key ${JSON.stringify(k)}`, `A segment takes ${SEGMENT_KEYS.join(", ")}`);
  }
  let role: Role | undefined;
  if (has(o, "role")) {
    const r = o.role;
    if (typeof r !== "string" || !(ROLES as readonly string[]).includes(r)) bad(`${at}.role`, `role ${JSON.stringify(r)} is not one of ${ROLES.join(", ")}`);
    role = r as Role;
    const prev = seen.get(role);
    if (prev !== undefined) bad(`${at}.role`, `segments[${prev}] and segments[${i}] both have role ${role}`, "Give each role to one segment");
    seen.set(role, i);
  }
  if (has(o, "file") && (typeof o.file !== "string" || o.file === "")) bad(`${at}.file`, "file is not a non-empty string");
  if (has(o, "sha256") && (typeof o.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(o.sha256))) {
    bad(`${at}.sha256`, "sha256 is not 64 lower-case hex digits");
  }
  if (has(o, "source") && typeof o.source !== "string") bad(`${at}.source`, "source is not a string");
  const out: { -readonly [K in keyof LoadSegment]: LoadSegment[K] } = {
    mem: u64(need(o, "mem", at), `${at}.mem`),
    memsz: u64(need(o, "memsz", at), `${at}.memsz`),
    bufsz: u64(need(o, "bufsz", at), `${at}.bufsz`),
  };
  if (role !== undefined) out.role = role;
  for (const k of ["textOffset", "imageSize"] as const) {
    if (!has(o, k)) continue;
    if (role !== "kernel") bad(`${at}.${k}`, `${k} belongs to the kernel segment only`);
    out[k] = u64(o[k], `${at}.${k}`);
  }
  return out;
}

function range(v: unknown, at: string): Range {
  const o = object(v, at, 'a range {"start": "0x…", "end": "0x…"} (end exclusive)');
  for (const k of Object.keys(o)) if (k !== "start" && k !== "end") bad(`${at}.${k}`, `unknown range key ${JSON.stringify(k)}`, "A range takes start and end");
  const start = u64(need(o, "start", at), `${at}.start`);
  const end = u64(need(o, "end", at), `${at}.end`);
  if (end <= start) bad(at, `range end ${hex(end)} is not above start ${hex(start)}`, "Ranges are half-open: end is the first byte after the range");
  return { start, end };
}

function ranges(v: unknown, at: string): Range[] {
  if (!Array.isArray(v)) bad(at, `${at} is not an array of ranges`);
  return v.map((r, i) => range(r, `${at}[${i}]`));
}

function pageSize(v: unknown): PageSize {
  const n = u64(v, "pageSize");
  if (n !== 4096n && n !== 16384n && n !== 65536n) bad("pageSize", `page size ${hex(n)} is not 4096, 16384 or 65536`);
  return Number(n) as PageSize;
}

/** A u64 from "0x…" or decimal text, or a safe non-negative JSON integer. */
function u64(v: unknown, at: string): bigint {
  let n: bigint;
  if (typeof v === "string") {
    if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(v)) bad(at, `${JSON.stringify(v.slice(0, 40))} is not a number`, 'Write 64-bit values as "0x…" strings');
    n = BigInt(v);
  } else if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) bad(at, `${v} is not a non-negative integer that JSON numbers hold exactly`, 'Write 64-bit values as "0x…" strings');
    n = BigInt(v);
  } else {
    return bad(at, `expected a number, found ${kind(v)}`, 'Write 64-bit values as "0x…" strings');
  }
  if (n >= U64_END) bad(at, `${hex(n)} does not fit in 64 bits`);
  return n;
}

function object(v: unknown, at: string, what: string): Json {
  if (v === null || typeof v !== "object" || Array.isArray(v)) bad(at, `expected ${what}, found ${kind(v)}`);
  return v as Json;
}

function need(o: Json, key: string, at: string): unknown {
  if (!has(o, key)) bad(at === "" ? key : `${at}.${key}`, `${key} is missing`, key === "entry" ? "Give entry, the purgatory's physical start" : undefined);
  return o[key];
}

function has(o: Json, key: string): boolean {
  return Object.hasOwn(o, key);
}

function kind(v: unknown): string {
  return v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : typeof v === "string" ? "a string" : `a ${typeof v}`;
}

function bad(where: string, why: string, hint?: string): never {
  throw new InputError("BAD_LOAD", `Cannot read the load: ${why}`, where === "" ? undefined : where, hint);
}

/**
 * The facts to check a document against: the target's (a full `Target`, from
 * `--target` or the manifest), completed by the facts the document states.
 * @throws InputError `TARGET_MISMATCH` when the document and the target disagree on a fact.
 */
export function factsFor(doc: LoadDocument, target: Target | undefined, targetName: string): CheckFacts {
  if (target === undefined) return doc.facts;
  const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);
  for (const k of ["pageSize", "memory", "reserved", "crashKernel", "crashKernelLow"] as const) {
    if (Object.hasOwn(doc.facts, k) && !same(doc.facts[k], target[k])) {
      throw new InputError("TARGET_MISMATCH", `Cannot check the load: its ${k} disagrees with the one in ${targetName}`, k,
        `Remove ${k} from the load, or check it against the target it was made for`);
    }
  }
  return target;
}

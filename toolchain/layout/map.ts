import { hex } from "../bytes/index.js";
import type { Range } from "../target/types.js";
import type { CheckFacts } from "./check.js";
import { KEXEC_ON_CRASH, type Load, type Role } from "./types.js";

/**
 * A picture of a load in physical memory, for people: RAM, reserved and crash
 * ranges, the running kernel, every segment with its role, the purgatory's
 * page-table pool and its console's registers. `memoryMap` builds it as data;
 * `renderMapText` draws it for a terminal and `renderMapSvg` as an SVG with a
 * legend. Pure and deterministic: the same load and facts give the same text.
 *
 * Each bar is drawn to scale (so many bytes a column); a range smaller than a
 * column still takes one, so nothing vanishes, and where two share a column
 * the more specific one shows (a segment over the crash range over RAM). The
 * list under the bars has every range exactly, nested by containment.
 */

/** What a range of the map is. */
export type MapKind = "ram" | "crash" | "crash-low" | "reserved" | "running-kernel" | Role | "pool" | "segment" | "console";

export interface MapInput {
  readonly load: Load;
  readonly facts: CheckFacts;
  /**
   * The purgatory's UART (`purgatory.console` of a manifest): it prints there
   * before the kernel runs. `name` is its family (pl011, 8250, cadence),
   * `window` its register block. Null when none or unknown.
   */
  readonly console?: { readonly name: string; readonly window: Range } | null;
}

export interface MapRange extends Range {
  readonly kind: MapKind;
  /** One word or two: "kernel", "crash kernel". */
  readonly label: string;
  /** What it is, with the values that matter. */
  readonly detail: string;
}

/** One bar: `columns` columns over `[start, end)`, each marked with the kind that shows there. */
export interface MapBar extends Range {
  readonly title: string;
  /** Bytes a column (span / columns; not a whole number when the span does not divide). */
  readonly columns: number;
  /** The kind shown in each column, or null for a column in no range (not RAM). */
  readonly marks: readonly (MapKind | null)[];
}

/** One line of the list: a range, how deep it nests, or a gap. */
export interface MapRow {
  readonly depth: number;
  readonly range: MapRange | null;
  readonly start: bigint;
  readonly end: bigint;
  /** For a gap: "free" inside RAM or a crash range, "not RAM" between top-level ranges. */
  readonly gap?: string;
}

export interface MemoryMap {
  readonly title: string;
  readonly bars: readonly MapBar[];
  readonly rows: readonly MapRow[];
  readonly ranges: readonly MapRange[];
  /** Hex digits to print addresses with: enough for the highest end. */
  readonly digits: number;
}

/** The letter and the colour of each kind, in the order the legend lists them. */
export const MAP_KINDS: Readonly<Record<MapKind, { readonly letter: string; readonly color: string; readonly name: string }>> = {
  ram: { letter: ".", color: "#e3ecd9", name: "free RAM" },
  reserved: { letter: "r", color: "#9e9e9e", name: "reserved" },
  crash: { letter: "c", color: "#f6d9a8", name: "crash kernel range (crashk_res)" },
  "crash-low": { letter: "l", color: "#f1e4c8", name: "low crash range (crashk_low_res)" },
  "running-kernel": { letter: "k", color: "#b3c6de", name: "running kernel (Kernel code/data)" },
  kernel: { letter: "K", color: "#1f5fa8", name: "kernel segment" },
  initrd: { letter: "I", color: "#2e9a3a", name: "initrd segment" },
  dtb: { letter: "D", color: "#8a5cc2", name: "DTB segment" },
  elfcorehdr: { letter: "E", color: "#cf2f2f", name: "elfcorehdr segment" },
  purgatory: { letter: "P", color: "#f07d0c", name: "purgatory segment (the blob)" },
  pool: { letter: "p", color: "#ffc27a", name: "purgatory page-table pool (memsz past the blob)" },
  segment: { letter: "S", color: "#6d6d6d", name: "segment without a role" },
  console: { letter: "C", color: "#16a9bd", name: "console MMIO (the purgatory's UART)" },
};

/** Higher shows over lower in a bar column. */
const PRIORITY: readonly MapKind[] = ["ram", "crash-low", "crash", "reserved", "running-kernel", "segment", "pool", "elfcorehdr", "initrd", "kernel", "dtb", "purgatory", "console"];
const CONTAINERS: readonly MapKind[] = ["ram", "crash", "crash-low"];
/** Columns of a bar. */
export const MAP_COLUMNS = 64;
const PAGE = 0x1000n;

/** Builds the map of a load against what is known of its target. */
export function memoryMap(m: MapInput): MemoryMap {
  const { load, facts } = m;
  const crash = (load.flags & KEXEC_ON_CRASH) !== 0;
  const ranges: MapRange[] = [];
  const add = (kind: MapKind, r: Range, label: string, detail: string) => {
    if (r.end > r.start) ranges.push({ kind, start: r.start, end: r.end, label, detail });
  };
  for (const r of facts.memory ?? []) add("ram", r, "RAM", "System RAM");
  if (facts.crashKernel) add("crash", facts.crashKernel, "crash kernel", crash ? "crashk_res: where a crash load goes" : "crashk_res: for a crash load, unused by a reboot");
  if (facts.crashKernelLow) add("crash-low", facts.crashKernelLow, "crash low", "crashk_low_res: the capture kernel's DMA memory, no segment");
  for (const r of facts.reserved ?? []) add("reserved", r, "reserved", "firmware or early kernel allocations");
  if (facts.kernelCode) add("running-kernel", facts.kernelCode, "Kernel code", "the running kernel's text");
  if (facts.kernelData) add("running-kernel", facts.kernelData, "Kernel data", "the running kernel's data");
  load.segments.forEach((s, i) => {
    const head = `segment ${i}, bufsz ${hex(s.bufsz)}`;
    const entry = load.entry >= s.mem && load.entry < s.mem + s.memsz ? `; entry ${hex(load.entry)}` : "";
    if (s.role === "purgatory") {
      // The purgatory takes its page tables from the pages past its blob (purgatory-src/mmu.S).
      const blobEnd = (s.mem + s.bufsz + PAGE - 1n) / PAGE * PAGE;
      const end = blobEnd < s.mem + s.memsz ? blobEnd : s.mem + s.memsz;
      add("purgatory", { start: s.mem, end }, "purgatory", `${head}: the blob${entry}`);
      add("pool", { start: end, end: s.mem + s.memsz }, "pool", `segment ${i} past the blob: the purgatory's page tables`);
    } else {
      const what: Record<Role, string> = {
        kernel: [s.textOffset === undefined ? "" : `text_offset ${hex(s.textOffset)}`, s.imageSize === undefined ? "" : `image_size ${hex(s.imageSize)}`].filter((w) => w !== "").join(", "),
        initrd: "",
        dtb: "the DTB with the /chosen edits",
        elfcorehdr: "the crashed kernel's memory and CPU notes",
        purgatory: "",
      };
      const about = s.role === undefined ? "" : what[s.role];
      add(s.role ?? "segment", { start: s.mem, end: s.mem + s.memsz }, s.role ?? "segment", `${head}${about === "" ? "" : `: ${about}`}${entry}`);
    }
  });
  if (m.console) add("console", m.console.window, "console", `${m.console.name} registers: the purgatory prints its progress here`);
  ranges.sort((a, b) => (a.start !== b.start ? (a.start < b.start ? -1 : 1) : rank(a) - rank(b)));

  const bars: MapBar[] = [];
  const segs = ranges.filter((r) => isSegment(r.kind));
  const ram = ranges.filter((r) => r.kind === "ram");
  const spans: { title: string; r: Range }[] = ram.length > 0
    ? ram.map((r) => ({ title: `RAM ${hex(r.start)}-${hex(r.end)} (${size(r.end - r.start)})`, r }))
    : segs.length > 0 ? [{ title: "the segments (the load states no RAM)", r: hull(segs) }] : [];
  for (const { title, r } of spans) {
    bars.push(bar(title, r, ranges));
    const inside = segs.filter((s) => s.start >= r.start && s.end <= r.end);
    if (inside.length === 0) continue;
    const crashRange = crash ? ranges.find((c) => c.kind === "crash" && inside.every((s) => s.start >= c.start && s.end <= c.end)) : undefined;
    const zoom: Range = crashRange ?? hull(inside);
    if ((zoom.end - zoom.start) * 4n <= r.end - r.start) {
      bars.push(bar(crashRange ? `crash kernel range ${hex(zoom.start)}-${hex(zoom.end)} (${size(zoom.end - zoom.start)})` : `the segments ${hex(zoom.start)}-${hex(zoom.end)} (${size(zoom.end - zoom.start)})`, zoom, ranges));
    }
  }

  const top = ranges.reduce((e, r) => (r.end > e ? r.end : e), 0n);
  const segCount = load.segments.length;
  return {
    title: `${crash ? "crash" : "reboot"} load, ${segCount} segment${segCount === 1 ? "" : "s"}, entry ${hex(load.entry)}`,
    bars,
    rows: rows(ranges),
    ranges,
    digits: Math.max(8, (top - 1n).toString(16).length),
  };
}

function isSegment(k: MapKind): boolean {
  return k !== "ram" && k !== "crash" && k !== "crash-low" && k !== "reserved" && k !== "running-kernel" && k !== "console";
}

/** Containers before what they contain when both start at one address. */
function rank(r: MapRange): number {
  const c = CONTAINERS.indexOf(r.kind);
  return c >= 0 ? c : CONTAINERS.length + PRIORITY.indexOf(r.kind);
}

function hull(rs: readonly Range[]): Range {
  return { start: rs.reduce((a, r) => (r.start < a ? r.start : a), rs[0]!.start), end: rs.reduce((a, r) => (r.end > a ? r.end : a), rs[0]!.end) };
}

function bar(title: string, r: Range, ranges: readonly MapRange[]): MapBar {
  const span = r.end - r.start;
  const W = BigInt(MAP_COLUMNS);
  const marks: (MapKind | null)[] = [];
  for (let i = 0n; i < W; i++) {
    const a = r.start + (span * i) / W;
    const b = r.start + (span * (i + 1n)) / W;
    let best: MapKind | null = null;
    for (const x of ranges) {
      if (x.start < b && x.end > a && (best === null || PRIORITY.indexOf(x.kind) > PRIORITY.indexOf(best))) best = x.kind;
    }
    marks.push(best);
  }
  return { title, start: r.start, end: r.end, columns: Number(span) / MAP_COLUMNS, marks };
}

/** The list: each range under the nearest container holding it, with the free stretches between. */
function rows(ranges: readonly MapRange[]): MapRow[] {
  const out: MapRow[] = [];
  const stack: MapRange[] = [];
  /** The end of what the list has covered so far at each depth (the container's start for its first child). */
  const cursor: bigint[] = [];
  const closeTo = (depth: number) => {
    while (stack.length > depth) {
      const c = stack.pop()!;
      const at = cursor.pop()!;
      if (c.end - at >= PAGE) out.push({ depth: stack.length + 1, range: null, start: at, end: c.end, gap: "free" });
    }
  };
  let topEnd: bigint | null = null;
  for (const r of ranges) {
    let depth = stack.length;
    while (depth > 0 && !(r.start >= stack[depth - 1]!.start && r.end <= stack[depth - 1]!.end)) depth--;
    closeTo(depth);
    if (depth === 0) {
      if (topEnd !== null && r.start > topEnd) out.push({ depth: 0, range: null, start: topEnd, end: r.start, gap: "not RAM" });
      topEnd = topEnd === null || r.end > topEnd ? r.end : topEnd;
    } else {
      const at = cursor[depth - 1]!;
      if (r.start - at >= PAGE) out.push({ depth, range: null, start: at, end: r.start, gap: "free" });
      if (r.end > at) cursor[depth - 1] = r.end;
    }
    out.push({ depth, range: r, start: r.start, end: r.end });
    if (CONTAINERS.includes(r.kind)) {
      stack.push(r);
      cursor.push(r.start);
    }
  }
  closeTo(0);
  return out;
}

/** A size for people: exact binary units when it divides, else one decimal. */
function size(n: bigint): string {
  const units: [bigint, string][] = [[1n << 40n, "TiB"], [1n << 30n, "GiB"], [1n << 20n, "MiB"], [1n << 10n, "KiB"]];
  for (const [u, name] of units) {
    if (n >= u) return n % u === 0n ? `${n / u} ${name}` : `${(Number(n) / Number(u)).toFixed(1)} ${name}`;
  }
  return `${n} B`;
}

function addr(v: bigint, digits: number): string {
  return "0x" + v.toString(16).padStart(digits, "0");
}

function perColumn(b: MapBar): string {
  return `${size(BigInt(Math.round(b.columns)))}${Number.isInteger(b.columns) ? "" : " (rounded)"} a column`;
}

function listLine(m: MemoryMap, row: MapRow): string {
  const indent = "  ".repeat(row.depth);
  const span = `${addr(row.start, m.digits)}-${addr(row.end, m.digits)}`;
  const sz = size(row.end - row.start).padStart(9);
  if (row.range === null) return `${indent}${span}  ${sz}  ${row.gap === "free" ? "." : " "} ${row.gap}`;
  const k = MAP_KINDS[row.range.kind];
  return `${indent}${span}  ${sz}  ${k.letter} ${row.range.label.padEnd(12)} ${row.range.detail}`;
}

/** The map as text for a terminal: the bars, the list, the legend. */
export function renderMapText(m: MemoryMap): string {
  const lines = [`memory map: ${m.title}`, ""];
  for (const b of m.bars) {
    const left = addr(b.start, m.digits);
    const right = addr(b.end, m.digits);
    lines.push(`${b.title}, ${perColumn(b)}:`);
    lines.push(` ${left}${" ".repeat(Math.max(1, MAP_COLUMNS - left.length - right.length))}${right}`);
    lines.push(`|${b.marks.map((k) => (k === null ? " " : MAP_KINDS[k].letter)).join("")}|`);
    lines.push("");
  }
  for (const row of m.rows) lines.push(listLine(m, row));
  const used = new Set(m.ranges.map((r) => r.kind));
  used.add("ram");
  lines.push("");
  const items = (Object.keys(MAP_KINDS) as MapKind[]).filter((kind) => used.has(kind)).map((k) => `${MAP_KINDS[k].letter} ${MAP_KINDS[k].name}`);
  let legend = "legend: ";
  items.forEach((item, i) => {
    const text = item + (i < items.length - 1 ? "," : "");
    if (legend.trim() !== "legend:" && legend.length + 1 + text.length > 100) {
      lines.push(legend);
      legend = "        ";
    } else if (legend.trim() !== "legend:") legend += " ";
    legend += text;
  });
  lines.push(legend);
  return lines.join("\n") + "\n";
}

const SVG_WIDTH = 960;
const BAR_LEFT = 20;
const BAR_WIDTH = 920;
const BAR_HEIGHT = 34;
const LINE = 16;

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** x of address `v` on a bar, in pixels with two decimals. */
function x(b: MapBar, v: bigint): number {
  const clamped = v < b.start ? b.start : v > b.end ? b.end : v;
  return BAR_LEFT + Math.round((Number(clamped - b.start) / Number(b.end - b.start)) * BAR_WIDTH * 100) / 100;
}

/**
 * The same map as an SVG: each bar to scale with every range as a coloured
 * rectangle (at least 2 pixels wide, so a page-sized range shows), the legend,
 * and the list in a monospace font.
 */
export function renderMapSvg(m: MemoryMap): string {
  const out: string[] = [];
  let y = 28;
  out.push(`<text x="${BAR_LEFT}" y="${y}" class="title">memory map: ${esc(m.title)}</text>`);
  y += 18;
  for (const b of m.bars) {
    y += LINE;
    out.push(`<text x="${BAR_LEFT}" y="${y}">${esc(b.title)}</text>`);
    y += 6;
    out.push(`<rect x="${BAR_LEFT}" y="${y}" width="${BAR_WIDTH}" height="${BAR_HEIGHT}" fill="#ffffff" stroke="#333333"/>`);
    const inBar = m.ranges.filter((r) => r.start < b.end && r.end > b.start).sort((p, q) => PRIORITY.indexOf(p.kind) - PRIORITY.indexOf(q.kind));
    for (const r of inBar) {
      const x0 = x(b, r.start);
      const w = Math.max(2, Math.round((x(b, r.end) - x0) * 100) / 100);
      out.push(`<rect x="${x0}" y="${y}" width="${w}" height="${BAR_HEIGHT}" fill="${MAP_KINDS[r.kind].color}"><title>${esc(`${r.label} ${hex(r.start)}-${hex(r.end)}: ${r.detail}`)}</title></rect>`);
    }
    out.push(`<rect x="${BAR_LEFT}" y="${y}" width="${BAR_WIDTH}" height="${BAR_HEIGHT}" fill="none" stroke="#333333"/>`);
    y += BAR_HEIGHT + 14;
    out.push(`<text x="${BAR_LEFT}" y="${y}" class="small">${addr(b.start, m.digits)}</text>`);
    out.push(`<text x="${BAR_LEFT + BAR_WIDTH}" y="${y}" class="small" text-anchor="end">${addr(b.end, m.digits)}</text>`);
    y += 10;
  }
  y += LINE;
  out.push(`<text x="${BAR_LEFT}" y="${y}" class="title">legend</text>`);
  const used = new Set<MapKind>([...m.ranges.map((r) => r.kind), "ram"]);
  for (const k of (Object.keys(MAP_KINDS) as MapKind[]).filter((kind) => used.has(kind))) {
    y += LINE + 2;
    out.push(`<rect x="${BAR_LEFT}" y="${y - 11}" width="24" height="12" fill="${MAP_KINDS[k].color}" stroke="#333333"/>`);
    out.push(`<text x="${BAR_LEFT + 32}" y="${y}" class="mono" xml:space="preserve">${esc(`${MAP_KINDS[k].letter}  ${MAP_KINDS[k].name}`)}</text>`);
  }
  y += LINE;
  for (const row of m.rows) {
    y += LINE;
    out.push(`<text x="${BAR_LEFT}" y="${y}" class="mono" xml:space="preserve">${esc(listLine(m, row))}</text>`);
  }
  const height = y + 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${SVG_WIDTH}" height="${height}" viewBox="0 0 ${SVG_WIDTH} ${height}">`,
    "<style>text { font-family: sans-serif; font-size: 13px; fill: #222222; } .title { font-size: 15px; font-weight: bold; } .small { font-size: 11px; } .mono { font-family: monospace; font-size: 11px; white-space: pre; }</style>",
    `<rect width="${SVG_WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...out,
    "</svg>",
  ].join("\n") + "\n";
}

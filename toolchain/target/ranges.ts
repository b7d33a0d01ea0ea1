import type { Range } from "./types.js";

/** Range arithmetic on half-open `[start, end)` bigint ranges: the one copy the planner, the elfcorehdr, the iomem reader and QEMU targets share. */

/** Rounds `v` up to a multiple of `a` (a > 0). */
export function alignUp(v: bigint, a: bigint): bigint {
  return ((v + a - 1n) / a) * a;
}

/** Rounds `v` down to a multiple of `a` (a > 0, v >= 0). */
export function alignDown(v: bigint, a: bigint): bigint {
  return v - (v % a);
}

/** Sorted by start, empty ranges dropped, overlapping or touching ranges merged. */
export function normalize(rs: readonly Range[]): Range[] {
  const sorted = rs.filter((r) => r.end > r.start).sort((x, y) => (x.start < y.start ? -1 : x.start > y.start ? 1 : 0));
  const out: Range[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && r.start <= last.end) {
      if (r.end > last.end) out[out.length - 1] = { start: last.start, end: r.end };
    } else out.push({ start: r.start, end: r.end });
  }
  return out;
}

/** The parts of `from` that no range of `cut` covers, normalized. */
export function subtract(from: readonly Range[], cut: readonly Range[]): Range[] {
  const cuts = normalize(cut);
  const out: Range[] = [];
  for (const r of normalize(from)) {
    let start = r.start;
    for (const c of cuts) {
      if (c.end <= start || c.start >= r.end) continue;
      if (c.start > start) out.push({ start, end: c.start });
      start = c.end > start ? c.end : start;
    }
    if (start < r.end) out.push({ start, end: r.end });
  }
  return out;
}

/** The parts of `a` that `b` also covers, normalized. */
export function intersect(a: readonly Range[], b: readonly Range[]): Range[] {
  const out: Range[] = [];
  for (const x of normalize(a)) {
    for (const y of normalize(b)) {
      const start = x.start > y.start ? x.start : y.start;
      const end = x.end < y.end ? x.end : y.end;
      if (start < end) out.push({ start, end });
    }
  }
  return normalize(out);
}

/** Total bytes covered. */
export function totalSize(rs: readonly Range[]): bigint {
  return normalize(rs).reduce((n, r) => n + r.end - r.start, 0n);
}

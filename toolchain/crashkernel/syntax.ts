/**
 * Writing `crashkernel=` values that `parseCrashkernel` (the kernel's
 * `parse_crashkernel()`) reads back to the intended size.
 */

const UNITS: readonly [string, bigint][] = [
  ["E", 1n << 60n],
  ["P", 1n << 50n],
  ["T", 1n << 40n],
  ["G", 1n << 30n],
  ["M", 1n << 20n],
  ["K", 1n << 10n],
];

/**
 * A size as `memparse()` reads it: the largest binary unit that divides it
 * exactly (`512M`, `2G`, `1536M`), else plain decimal bytes. Never a leading
 * zero, which `simple_strtoull()` would read as octal.
 */
export function formatSize(bytes: bigint): string {
  if (bytes < 0n) throw new RangeError(`formatSize: ${bytes} is negative`);
  for (const [unit, scale] of UNITS) if (bytes !== 0n && bytes % scale === 0n) return `${bytes / scale}${unit}`;
  return bytes.toString();
}

/** `crashkernel=SIZE`: the kernel picks the place, below the DMA limit first. */
export function simpleSyntax(size: bigint): string {
  return `crashkernel=${formatSize(size)}`;
}

/** `crashkernel=HIGH,high crashkernel=LOW,low`: the segments go high, DMA-able memory (swiotlb) low. */
export function splitSyntax(high: bigint, low: bigint): string {
  return `crashkernel=${formatSize(high)},high crashkernel=${formatSize(low)},low`;
}

/** One entry of the range form: machines whose RAM (rounded up to 128 MiB) is in `[start, end)` reserve `size`; `end` null = no limit. */
export interface RangeEntry {
  readonly start: bigint;
  readonly end: bigint | null;
  readonly size: bigint;
}

/**
 * `crashkernel=START-[END]:SIZE,...`, after merging neighbours that touch
 * and reserve the same size. Entries must be ascending and disjoint.
 * @throws RangeError for an empty list, unordered or overlapping entries, or
 *   an open end before the last entry (the caller's mistake, not input).
 */
export function rangeSyntax(entries: readonly RangeEntry[]): string {
  return `crashkernel=${mergeRanges(entries).map((e) => `${formatSize(e.start)}-${e.end === null ? "" : formatSize(e.end)}:${formatSize(e.size)}`).join(",")}`;
}

/** Merges touching neighbours with the same size (the kernel takes the first match, so the result reads the same). */
export function mergeRanges(entries: readonly RangeEntry[]): RangeEntry[] {
  if (entries.length === 0) throw new RangeError("rangeSyntax: no entries");
  const out: RangeEntry[] = [];
  for (const [i, e] of entries.entries()) {
    if (e.end !== null && e.end <= e.start) throw new RangeError(`rangeSyntax: entry ${i} ends at or below its start`);
    const last = out[out.length - 1];
    if (last !== undefined) {
      if (last.end === null || e.start < last.end) throw new RangeError(`rangeSyntax: entry ${i} overlaps or precedes entry ${i - 1}`);
      if (last.end === e.start && last.size === e.size) {
        out[out.length - 1] = { start: last.start, end: e.end, size: e.size };
        continue;
      }
    }
    out.push(e);
  }
  return out;
}

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSize, memparse, mergeRanges, parseCrashkernel, rangeSyntax, simpleSyntax, splitSyntax } from "../../toolchain/crashkernel/index.js";
import type { RangeEntry } from "../../toolchain/crashkernel/index.js";

const M = 1n << 20n;
const G = 1n << 30n;

describe("formatSize writes sizes memparse reads back", () => {
  it.each([
    [256n * M, "256M"],
    [G, "1G"],
    [1536n * M, "1536M"],
    [4n << 40n, "4T"],
    [64n << 10n, "64K"],
    [4097n, "4097"],
    [0n, "0"],
  ] as const)("%s -> %s", (n, text) => expect(formatSize(n)).toBe(text));

  it("round-trips any size without a leading zero (which simple_strtoull would read as octal)", () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 62n) - 1n }), (n) => {
      const text = formatSize(n);
      expect(text === "0" || !text.startsWith("0")).toBe(true);
      expect(memparse(text, 0)).toEqual({ value: n, end: text.length });
    }));
  });
});

/** A size in MiB, what the estimate prints. */
const mibSize = fc.bigInt({ min: 1n, max: 64n * 1024n }).map((n) => n * M);

describe("every syntax written parses back to the intended size", () => {
  it("crashkernel=SIZE", () => {
    fc.assert(fc.property(mibSize, fc.bigInt({ min: 1n, max: 64n * 1024n }), (size, extra) => {
      const ram = size + extra * M;
      expect(parseCrashkernel(`console=ttyAMA0 ${simpleSyntax(size)} quiet`, ram)).toMatchObject({ form: "simple", size, base: null, lowSize: null });
    }));
  });

  it("crashkernel=HIGH,high crashkernel=LOW,low", () => {
    fc.assert(fc.property(mibSize, mibSize, (high, low) => {
      const line = splitSyntax(high, low);
      expect(line).toBe(`crashkernel=${formatSize(high)},high crashkernel=${formatSize(low)},low`);
      expect(parseCrashkernel(line, high + low + G)).toMatchObject({ form: "high", size: high, lowSize: low, lowDefaulted: false });
    }));
  });

  it("the range form gives each machine the size of its range, and nothing below the first", () => {
    // Ascending starts (whole multiples of 128 MiB, the kernel's rounding of RAM), sizes below each start.
    const fleet = fc.uniqueArray(fc.integer({ min: 2, max: 4096 }), { minLength: 1, maxLength: 6 }).chain((starts) => {
      const sorted = [...starts].sort((a, b) => a - b).map((s) => BigInt(s) * 128n * M);
      return fc.tuple(fc.constant(sorted), fc.tuple(...sorted.map((s) => fc.bigInt({ min: 1n, max: s / M - 1n }).map((n) => n * M))), fc.boolean());
    });
    fc.assert(fc.property(fleet, ([starts, sizes, openEnd]) => {
      const entries: RangeEntry[] = starts.map((start, i) => ({ start, end: starts[i + 1] ?? (openEnd ? null : start + 128n * M), size: sizes[i]! }));
      const line = rangeSyntax(entries);
      for (const e of entries) {
        // The smallest machine in the range, one 64 MiB short of it (firmware keeps some; the kernel rounds RAM up
        // to 128 MiB), and the largest: a machine of END - 1 bytes rounds up to END, which belongs to the next range.
        const rams = [e.start, e.start - 64n * M, (e.end ?? e.start + 4n * G) - 128n * M];
        for (const ram of rams) {
          if (e.size >= ram) continue; // parse_crashkernel() refuses a size not below the RAM; the estimate drops such entries
          expect(parseCrashkernel(line, ram), `${line} at ${ram}`).toMatchObject({ form: "range", size: e.size });
        }
      }
      const first = entries[0]!;
      expect(() => parseCrashkernel(line, first.start - 128n * M - 1n)).toThrow(/no range holds|not below/);
    }));
  });
});

describe("mergeRanges joins touching neighbours with the same size", () => {
  it("merges, keeps different sizes and gaps apart", () => {
    const e = (start: bigint, end: bigint | null, size: bigint): RangeEntry => ({ start, end, size });
    expect(mergeRanges([e(2n * G, 4n * G, 256n * M), e(4n * G, 16n * G, 256n * M), e(16n * G, null, 320n * M)]))
      .toEqual([e(2n * G, 16n * G, 256n * M), e(16n * G, null, 320n * M)]);
    expect(mergeRanges([e(G, 2n * G, 256n * M), e(4n * G, null, 256n * M)])).toEqual([e(G, 2n * G, 256n * M), e(4n * G, null, 256n * M)]);
    expect(rangeSyntax([e(2n * G, 4n * G, 256n * M), e(4n * G, null, 256n * M)])).toBe("crashkernel=2G-:256M");
  });

  it("refuses entries out of order, overlapping, empty or after an open end", () => {
    const e = (start: bigint, end: bigint | null): RangeEntry => ({ start, end, size: M });
    expect(() => mergeRanges([])).toThrow(RangeError);
    expect(() => mergeRanges([e(2n * G, G)])).toThrow(RangeError);
    expect(() => mergeRanges([e(G, 4n * G), e(2n * G, null)])).toThrow(RangeError);
    expect(() => mergeRanges([e(G, null), e(2n * G, null)])).toThrow(RangeError);
  });
});

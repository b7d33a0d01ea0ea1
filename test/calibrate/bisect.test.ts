import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { searchMinimum, type Probed, type SearchOptions } from "../../toolchain/calibrate/index.js";

const MiB = 1n << 20n;
const OPTIONS: SearchOptions = { start: 121n * MiB, granule: 2n * MiB, firstStep: 8n * MiB, floor: 30n * MiB, ceiling: 512n * MiB, maxProbes: 12 };

/** A fake prober: sizes at or above `threshold` work; records the order of the probes. */
function threshold(t: bigint): { probe: (size: bigint) => Promise<Probed>; sizes: bigint[] } {
  const sizes: bigint[] = [];
  return { sizes, probe: async (size) => (sizes.push(size), { size, ok: size >= t }) };
}

const mib = (xs: readonly bigint[]) => xs.map((x) => Number(x / MiB));

describe("searchMinimum", () => {
  it("from a working estimate, steps down by doubling steps to the first failure, then halves the gap to 2 MiB", async () => {
    const f = threshold(116n * MiB);
    const r = await searchMinimum(f.probe, OPTIONS);
    // 121 MiB rounds up to 122; 114 fails, 118 and 116 work.
    expect(mib(f.sizes)).toEqual([122, 114, 118, 116]);
    expect(r).toMatchObject({ minimum: 116n * MiB, failed: 114n * MiB, succeeded: 116n * MiB, stopped: null, consistent: true });
    expect(r.probes).toHaveLength(4);
  });

  it("from a failing estimate, steps up by doubling steps to the first success, then halves the gap", async () => {
    const f = threshold(150n * MiB);
    const r = await searchMinimum(f.probe, OPTIONS);
    // 122 fails, 130 (+8) fails, 146 (+16) fails, 178 (+32) works; then 162, 154, 150, 148.
    expect(mib(f.sizes)).toEqual([122, 130, 146, 178, 162, 154, 150, 148]);
    expect(r.minimum).toBe(150n * MiB);
    expect(r.failed).toBe(148n * MiB);
  });

  it("stops at the floor when even the floor works, and at the ceiling when nothing works", async () => {
    const low = await searchMinimum(threshold(0n).probe, { ...OPTIONS, start: 40n * MiB });
    expect(low).toMatchObject({ minimum: 30n * MiB, failed: null, stopped: null });
    const none = await searchMinimum(threshold(1n << 40n).probe, { ...OPTIONS, ceiling: 200n * MiB });
    expect(none.minimum).toBeNull();
    expect(none.succeeded).toBeNull();
    expect(none.stopped).toMatch(/nothing up to the ceiling/);
    expect(none.probes.at(-1)?.size).toBe(200n * MiB);
  });

  it("gives up after maxProbes with the bracket it has, and says so", async () => {
    const r = await searchMinimum(threshold(150n * MiB).probe, { ...OPTIONS, maxProbes: 5 });
    expect(r.probes).toHaveLength(5);
    expect(r.minimum).toBeNull();
    expect(r.failed).toBe(146n * MiB);
    expect(r.succeeded).toBe(162n * MiB);
    expect(r.stopped).toMatch(/stopped after 5 probes between/);
  });

  it("reports outcomes no single boundary explains (the CMA band: a smaller size works where a larger fails)", async () => {
    // Works below 82 MiB (no room for the CMA area, so none is reserved) and from 116 MiB on.
    const probe = async (size: bigint): Promise<Probed> => ({ size, ok: size < 82n * MiB || size >= 116n * MiB });
    const r = await searchMinimum(probe, { ...OPTIONS, start: 140n * MiB, firstStep: 32n * MiB });
    // 140 works, 108 fails: the boundary near the estimate.
    expect(r.minimum).toBe(116n * MiB);
    expect(r.consistent).toBe(true);
    const wide = await searchMinimum(probe, { ...OPTIONS, start: 140n * MiB, firstStep: 64n * MiB });
    // 140 works, 76 works (inside the band below it): the search goes on down and never sees 82..114 fail.
    expect(wide.minimum).toBe(30n * MiB);
  });

  it("finds any threshold between floor and ceiling exactly, never probing the same size twice or outside the bounds", () =>
    fc.assert(
      fc.asyncProperty(fc.integer({ min: 15, max: 256 }), fc.integer({ min: 15, max: 256 }), async (t2, s2) => {
        const t = BigInt(t2) * 2n * MiB;
        const f = threshold(t);
        const r = await searchMinimum(f.probe, { ...OPTIONS, start: BigInt(s2) * 2n * MiB, maxProbes: 40 });
        expect(r.minimum).toBe(t < OPTIONS.floor ? OPTIONS.floor : t);
        expect(new Set(f.sizes).size).toBe(f.sizes.length);
        for (const s of f.sizes) {
          expect(s % OPTIONS.granule).toBe(0n);
          expect(s >= OPTIONS.floor && s <= OPTIONS.ceiling).toBe(true);
        }
      }),
      { numRuns: 300 },
    ));

  it("refuses options that describe no search", async () => {
    const p = threshold(0n).probe;
    await expect(searchMinimum(p, { ...OPTIONS, granule: 0n })).rejects.toThrow(RangeError);
    await expect(searchMinimum(p, { ...OPTIONS, floor: 3n * MiB })).rejects.toThrow(/multiple of the granule/);
    await expect(searchMinimum(p, { ...OPTIONS, floor: 600n * MiB })).rejects.toThrow(/above ceiling/);
    await expect(searchMinimum(p, { ...OPTIONS, maxProbes: 0 })).rejects.toThrow(/maxProbes/);
  });
});

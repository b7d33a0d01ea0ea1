import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
import { INTERESTING_WORDS, type Mutation, applyMutations, fuzzOne, syntheticSeeds } from "../../bench/fdt-mutate.js";
import { assemble, begin, end, fin, nop, prop } from "./_assemble.js";
import { fixtureBlobs, qemuBlobs } from "./_corpus.js";

// Seeds from every producer: dtc (fixtures), QEMU (packed: its 1 MiB of free
// space only slows the run), our writer, and a hand-assembled blob with NOPs.
const seeds: Uint8Array[] = [
  ...fixtureBlobs().filter((b) => b.blob.length < 32 * 1024).map((b) => b.blob),
  ...qemuBlobs().slice(0, 2).map((b) => serializeFdt(parseFdt(b.blob))),
  ...syntheticSeeds(),
  assemble({ tokens: [begin(""), nop, prop(0, "x"), begin("c"), nop, end, end, fin], strings: "model\0", reservations: [[1n, 2n]] }),
];

const big = fc.nat(1 << 20);
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("truncate" as const), at: big }),
  fc.record({ kind: fc.constant("flip" as const), bits: fc.array(fc.nat(1 << 24), { minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("splice" as const), to: big, cut: fc.nat(64), donor: fc.nat(64), from: big, length: fc.nat(64), aligned: fc.boolean() }),
  fc.record({ kind: fc.constant("word" as const), at: fc.oneof(fc.nat(9), big), value: fc.oneof(fc.constantFrom(...INTERESTING_WORDS), fc.nat(0xffff_ffff)) }),
  fc.constant({ kind: "fixTotalsize" as const }),
);

describe("parseFdt on truncated, bit-flipped and spliced blobs", () => {
  it("returns a tree that round-trips or throws InputError with a listed code and an offset, for 20,000 cases", () => {
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(fc.nat(seeds.length - 1), fc.array(mutation, { minLength: 1, maxLength: 3 }), (seed, mutations) => {
        const outcome = fuzzOne(applyMutations(seeds[seed]!, mutations, seeds));
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        expect(outcome).not.toMatch(/^BUG/);
      }),
      { numRuns: 20_000 },
    );
    // The mutations reach past the header: every structure-level outcome occurs
    // (TOO_DEEP is rarer, about 1 in 10,000; parse.test.ts covers it).
    for (const code of ["ok", "BAD_MAGIC", "BAD_VERSION", "TRUNCATED", "TRAILING_DATA", "BAD_LAYOUT", "BAD_STRUCTURE", "BAD_STRING", "BAD_NAME", "DUPLICATE"]) {
      expect(outcomes.get(code) ?? 0, `${code} in ${JSON.stringify([...outcomes])}`).toBeGreaterThan(0);
    }
  }, 60_000);

  it("finds no bug in the seeds themselves", () => {
    for (const s of seeds) expect(fuzzOne(s)).toBe("ok");
  });
});

import fc from "fast-check";
import { InputError } from "../../toolchain/bytes/index.js";

/**
 * Mutations of valid inputs for the parser fuzz tests: truncation, bit flips,
 * overwritten fields (with the values that break arithmetic), splices from
 * other inputs, inserted and deleted runs, and plain random bytes.
 */

const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff];

export function mutated(seeds: readonly Uint8Array[]): fc.Arbitrary<Uint8Array> {
  const seed = fc.constantFrom(...seeds);
  const truncated = fc.tuple(seed, fc.double({ min: 0, max: 1, noNaN: true })).map(([s, f]) => s.slice(0, Math.floor(s.length * f)));
  const flipped = fc.tuple(seed, fc.array(fc.tuple(fc.nat(), fc.nat(7)), { minLength: 1, maxLength: 6 })).map(([s, flips]) => {
    const b = s.slice();
    for (const [i, bit] of flips) if (b.length > 0) b[i % b.length]! ^= 1 << bit;
    return b;
  });
  // Header fields live in the first few hundred bytes: overwrite 1, 2, 4 or 8 of them.
  const field = fc
    .tuple(seed, fc.nat(0x240), fc.constantFrom(1, 2, 4, 8), fc.oneof(fc.constantFrom(...INTERESTING), fc.nat()), fc.boolean())
    .map(([s, at, width, v, nearEnd]) => {
      const b = s.slice();
      const pos = nearEnd ? Math.max(0, b.length - 1 - (at % 16)) : at;
      for (let i = 0; i < width && pos + i < b.length; i++) b[pos + i] = width === 8 && i >= 4 ? (v > 0xffffffff ? 0xff : 0) : (v >>> (8 * (i % 4))) & 0xff;
      return b;
    });
  const spliced = fc.tuple(seed, seed, fc.nat(), fc.nat(), fc.nat(0x400)).map(([a, b, i, j, n]) => {
    const at = a.length > 0 ? i % a.length : 0;
    const from = b.length > 0 ? j % b.length : 0;
    const piece = b.subarray(from, from + n);
    const out = a.slice();
    out.set(piece.subarray(0, Math.max(0, out.length - at)), at);
    return out;
  });
  const inserted = fc.tuple(seed, fc.nat(), fc.uint8Array({ minLength: 1, maxLength: 64 }), fc.boolean()).map(([s, i, junk, del]) => {
    const at = s.length > 0 ? i % s.length : 0;
    const tail = del ? s.subarray(Math.min(s.length, at + junk.length)) : s.subarray(at);
    const middle = del ? new Uint8Array(0) : junk;
    const out = new Uint8Array(at + middle.length + tail.length);
    out.set(s.subarray(0, at));
    out.set(middle, at);
    out.set(tail, at + middle.length);
    return out;
  });
  const random = fc.uint8Array({ maxLength: 512 });
  return fc.oneof(truncated, flipped, field, field, spliced, inserted, random);
}

/** Runs `f`; passes when it returns or throws InputError, rethrows anything else. */
export function onlyInputError(f: () => unknown): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
  }
}

/** Async form of `onlyInputError`. */
export async function onlyInputErrorAsync(f: () => Promise<unknown>): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
  }
}

/** Cases per parser fuzz test: at least 10,000; set FUZZ_RUNS=100000 for a longer hunt. */
export const FUZZ_RUNS = Math.max(10_000, Number(process.env["FUZZ_RUNS"] ?? 0));

/**
 * The search for the smallest crash reservation that works, one real crash
 * per probe. Probes are costly (a production boot, a crash and a capture
 * under emulation), so the search starts where the estimate says and moves
 * by doubling steps until it has a failing size below a working one, then
 * halves the gap down to the granule (2 MiB: the alignment of crashk_res,
 * arch/arm64 `CRASH_ALIGN`).
 *
 * It assumes that a size works when a larger one does, which holds for each
 * term of the model but one: the capture kernel's CMA area is reserved only
 * when it fits (mm/cma.c "Failed to reserve"), so a reservation too small to
 * hold it can work while a larger one, which reserves it and is left with
 * too little, fails. The search finds the boundary nearest the estimate;
 * `consistent` says whether every probe agrees with one boundary.
 */

/** What a probe says: whether the capture succeeded at that size. */
export interface Probed {
  readonly size: bigint;
  readonly ok: boolean;
}

export interface SearchOptions {
  /** Where to start: the estimate's minimum (rounded up to the granule). */
  readonly start: bigint;
  /** Step of the sizes, bytes (2 MiB). */
  readonly granule: bigint;
  /** The first step away from `start`, bytes; doubled while the outcome does not change. */
  readonly firstStep: bigint;
  /** The smallest size worth probing (at least one granule). */
  readonly floor: bigint;
  /** The largest size to try. */
  readonly ceiling: bigint;
  /** Give up after this many probes. */
  readonly maxProbes: number;
}

export interface SearchResult<P extends Probed> {
  /** Every probe, in the order run. */
  readonly probes: readonly P[];
  /** The smallest working size with a failing size one granule below (or the floor working), or null when the search did not close. */
  readonly minimum: bigint | null;
  /** The largest failing size below `succeeded`, or null. */
  readonly failed: bigint | null;
  /** The smallest working size found, or null when none worked. */
  readonly succeeded: bigint | null;
  /** Why the search stopped without a minimum, or null. */
  readonly stopped: string | null;
  /** False when a probe below `succeeded` worked or one above `failed` failed: outcomes that no single boundary explains. */
  readonly consistent: boolean;
}

/**
 * Finds the smallest size at which `probe` succeeds, at `granule` steps.
 * @throws RangeError for options that cannot describe a search (granule not
 *   positive, sizes not multiples of it, floor above ceiling, no probes).
 */
export async function searchMinimum<P extends Probed>(probe: (size: bigint) => Promise<P>, o: SearchOptions): Promise<SearchResult<P>> {
  const g = o.granule;
  if (g <= 0n) throw new RangeError(`searchMinimum: granule ${g} is not positive`);
  for (const [name, v] of [["floor", o.floor], ["ceiling", o.ceiling], ["firstStep", o.firstStep]] as const) {
    if (v <= 0n || v % g !== 0n) throw new RangeError(`searchMinimum: ${name} ${v} is not a positive multiple of the granule ${g}`);
  }
  if (o.floor > o.ceiling) throw new RangeError(`searchMinimum: floor ${o.floor} is above ceiling ${o.ceiling}`);
  if (!Number.isInteger(o.maxProbes) || o.maxProbes < 1) throw new RangeError(`searchMinimum: maxProbes ${o.maxProbes} is not a positive integer`);
  const clamp = (s: bigint) => (s < o.floor ? o.floor : s > o.ceiling ? o.ceiling : s);
  const probes: P[] = [];
  let failed: bigint | null = null;
  let succeeded: bigint | null = null;
  const run = async (size: bigint): Promise<boolean> => {
    const p = await probe(size);
    if (p.size !== size) throw new Error(`searchMinimum: the probe of ${size} reported size ${p.size}`);
    probes.push(p);
    if (p.ok && (succeeded === null || size < succeeded)) succeeded = size;
    if (!p.ok && (failed === null || size > failed) && (succeeded === null || size < succeeded)) failed = size;
    return p.ok;
  };
  const done = (stopped: string | null): SearchResult<P> => {
    const s = succeeded as bigint | null;
    const f = failed as bigint | null;
    const closed = s !== null && (s === o.floor || (f !== null && s - f <= g));
    const consistent = probes.every((p) => (p.ok ? f === null || p.size > f : s === null || p.size < s));
    return { probes, minimum: closed ? s : null, failed: f, succeeded: s, stopped: closed ? null : stopped, consistent };
  };
  const budget = () => probes.length < o.maxProbes;

  let at = clamp(roundUp(o.start, g));
  let step = o.firstStep;
  if (await run(at)) {
    // Down by doubling steps until a size fails or the floor works.
    while (at > o.floor) {
      if (!budget()) return done(`stopped after ${o.maxProbes} probes, still working at ${at}`);
      const next = clamp(at - step);
      if (!(await run(next))) break;
      at = next;
      step *= 2n;
    }
  } else {
    // Up by doubling steps until a size works or the ceiling fails.
    for (;;) {
      if (at >= o.ceiling) return done(`nothing up to the ceiling ${o.ceiling} worked`);
      if (!budget()) return done(`stopped after ${o.maxProbes} probes, still failing at ${at}`);
      const next = clamp(at + step);
      if (await run(next)) break;
      at = next;
      step *= 2n;
    }
  }
  // Halve the gap between the largest failure and the smallest success.
  for (;;) {
    const s = succeeded as bigint | null;
    const f = failed as bigint | null;
    if (s === null || f === null || s - f <= g) break;
    if (!budget()) return done(`stopped after ${o.maxProbes} probes between ${f} and ${s}`);
    const mid = f + roundDown((s - f) / 2n, g);
    await run(mid > f ? mid : f + g);
  }
  return done(null);
}

function roundUp(n: bigint, g: bigint): bigint {
  return ((n + g - 1n) / g) * g;
}

function roundDown(n: bigint, g: bigint): bigint {
  return (n / g) * g;
}

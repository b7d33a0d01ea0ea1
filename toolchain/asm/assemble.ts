import { InputError } from "../bytes/index.js";
import { KEYSTONE_TEXT_LIMIT, KeystoneEngine, KeystoneFailure } from "./_keystone.js";
import { formatOrigin, parseSource, RESERVED_PREFIX, sourceLines } from "./source.js";
import type { SourceLine, Statement } from "./source.js";

/**
 * Keystone you can trust: every assembly is checked statement by statement.
 *
 * The program is given to Keystone with a hidden label before each statement
 * and, after the last one, a table of `.word label - start` entries (in
 * windows of statements, one call each, so that no call's text is longer
 * than Keystone can take). The table tells where Keystone placed every
 * statement; each statement's size must then equal the model from
 * `source.ts` (4 bytes per instruction, counted data, alignment padding). A
 * statement that Keystone dropped or mis-sized is reported with its file and
 * line, and the table is cut off the result.
 * When Keystone fails, the failing statement is found by bisecting prefixes.
 */

/** One statement and where it landed (offset in bytes from the start). */
export interface Placed {
  readonly statement: Statement;
  readonly offset: number;
  readonly size: number;
}

export interface Assembly {
  readonly bytes: Uint8Array;
  /** The address the code was assembled for. */
  readonly address: bigint;
  readonly statements: readonly Placed[];
  /** Offset of every label, in bytes from the start. */
  readonly labels: ReadonlyMap<string, number>;
}

export interface AssembleOptions {
  /** Load address the code is assembled for (default 0). Alignment directives align absolute addresses. */
  readonly address?: bigint;
  /** File name for messages when `source` is a string (default `<input>`). */
  readonly file?: string;
}

/** The loaded assembler (AArch64, little-endian). One instance serves the whole process. */
export class Assembler {
  private readonly engine: KeystoneEngine;
  /** Keystone's version, e.g. "0.9". */
  readonly keystoneVersion: string;

  private constructor(engine: KeystoneEngine) {
    this.engine = engine;
    this.keystoneVersion = engine.version;
  }

  static async load(): Promise<Assembler> {
    return new Assembler(await KeystoneEngine.load());
  }

  /**
   * Assembles `source`.
   * @throws InputError `ASM_SYNTAX` (outside the modelled subset), `ASM_ERROR`
   *   (Keystone refused a statement, or the labels, symbols and alignments
   *   alone are more text than it takes in one call), `ASM_DROPPED` (a
   *   statement emitted the wrong number of bytes); `where` is `file:line`
   *   (the file alone for the size limit).
   */
  async assemble(source: string | readonly SourceLine[], options: AssembleOptions = {}): Promise<Assembly> {
    const address = options.address ?? 0n;
    const lines = typeof source === "string" ? sourceLines(source, options.file ?? "<input>") : source;
    const stmts = parseSource(lines);
    const n = stmts.length;
    const mark = (i: number): string => `${RESERVED_PREFIX}s${i}`;
    const start = `${RESERVED_PREFIX}start`;
    const model = modelOffsets(stmts, address);
    const windows = tableWindows(stmts, model, mark, start);

    // One Keystone call per window of statements: the window in full, each
    // statement after a mark, and a table of `.word mark - start` entries at
    // the end; the rest of the program stands in at its modelled size
    // (`stand`), which keeps each call's text under KEYSTONE_TEXT_LIMIT. The
    // marks emit nothing, so every call gives the same number of bytes before
    // its table when every statement has its modelled size; each window's
    // bytes are then taken from its own call.
    const offsets: number[] = [];
    const pieces: Uint8Array[] = [];
    let total: number | undefined;
    let complete = true;
    for (const [a, b] of windows) {
      const body = stmts.slice(a, b).flatMap((s, k) => [`${mark(a + k)}:`, s.text]);
      const last = b === n ? [`${mark(n)}:`] : [];
      const count = b - a + last.length;
      const table = Array.from({ length: count }, (_, k) => `.word ${mark(a + k)} - ${start}`);
      const program = [`${start}:`, ...stand(stmts, model, 0, a), ...body, ...last, ...stand(stmts, model, b, n), ...table].join("\n");
      let got: Uint8Array | undefined;
      try {
        got = await this.engine.assemble(program, address);
      } catch (e) {
        if (!(e instanceof KeystoneFailure)) throw e;
      }
      const tableAt = got === undefined ? -1 : got.length - 4 * count;
      if (got === undefined || tableAt < 0 || (total !== undefined && tableAt !== total)) {
        complete = false;
        break;
      }
      total = tableAt;
      pieces.push(got.subarray(0, tableAt));
      const view = new DataView(got.buffer, got.byteOffset + tableAt, 4 * count);
      for (let k = 0; k < count; k++) offsets.push(view.getUint32(4 * k, true));
    }
    if (!complete || offsets.length !== n + 1 || offsets[n] !== total || offsets[0] !== 0) {
      // Keystone failed, or stopped short (it silently ignores the rest of the input after some lines).
      throw await this.locate(stmts, model, windows, address);
    }

    const placed: Placed[] = [];
    const labels = new Map<string, number>();
    let at = 0;
    for (const [i, s] of stmts.entries()) {
      const size = modelSize(s, address + BigInt(at));
      const next = offsets[i + 1] ?? -1;
      if (next - at !== size) {
        throw new InputError(
          "ASM_DROPPED",
          `Cannot assemble ${formatOrigin(s.origin)}: "${s.source}" emitted ${next - at} bytes, expected ${size}`,
          `${s.origin.file}:${s.origin.line}`,
          "Keystone mis-assembled this statement without an error; rewrite it (see toolchain/asm/source.ts for the supported subset)",
        );
      }
      if (s.kind === "label") labels.set(s.name, at);
      placed.push({ statement: s, offset: at, size });
      at = next;
    }
    const bytes = new Uint8Array(total ?? 0);
    for (const [w, [a, b]] of windows.entries()) bytes.set(pieces[w]!.subarray(offsets[a], offsets[b]), offsets[a]);
    return { bytes, address, statements: placed, labels };
  }

  /**
   * Finds the first statement whose prefix fails (a Keystone error, or fewer
   * or more bytes than the model) and reports it with its file and line. The
   * windows are tried in order, each with the statements before it standing
   * in at their modelled size; inside the first one that fails, prefixes are
   * bisected.
   */
  private async locate(stmts: readonly Statement[], model: readonly number[], windows: readonly (readonly [number, number])[], address: bigint): Promise<InputError> {
    const tryPrefix = async (a: number, k: number): Promise<string | undefined> => {
      // Later labels and symbols stay defined so forward references still resolve.
      const later = stmts.slice(k).filter((s) => s.kind === "label" || s.kind === "symbol");
      const text = [...stand(stmts, model, 0, a), ...stmts.slice(a, k).map((s) => s.text), ...later.map((s) => s.text)].join("\n");
      let expected = 0;
      for (const s of stmts.slice(0, k)) expected += modelSize(s, address + BigInt(expected));
      try {
        const got = await this.engine.assemble(text, address);
        return got.length === expected ? undefined : `Keystone emitted ${got.length} bytes up to here, the model expects ${expected}`;
      } catch (e) {
        if (e instanceof KeystoneFailure) return e.message;
        throw e;
      }
    };
    const first = stmts[0]?.origin;
    for (const [a, b] of windows) {
      let failure = await tryPrefix(a, b);
      if (failure === undefined) continue;
      let lo = a;
      let hi = b;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        const f = await tryPrefix(a, mid);
        if (f === undefined) lo = mid;
        else [hi, failure] = [mid, f];
      }
      const s = stmts[hi - 1];
      if (s === undefined) return new InputError("ASM_ERROR", `Cannot assemble: ${failure}`);
      const dropped = failure.startsWith("Keystone emitted");
      return new InputError(
        dropped ? "ASM_DROPPED" : "ASM_ERROR",
        `Cannot assemble ${formatOrigin(s.origin)}: "${s.source}": ${failure}`,
        `${s.origin.file}:${s.origin.line}`,
        dropped ? "Keystone dropped this statement without an error; rewrite it" : undefined,
      );
    }
    return new InputError("ASM_ERROR", `Cannot assemble ${first?.file ?? "<input>"}: Keystone lost the statement table`, first?.file);
  }
}

/**
 * Statement offsets (bytes from the start) if every statement has its
 * modelled size; one entry more than statements, the last is the total.
 */
function modelOffsets(stmts: readonly Statement[], address: bigint): number[] {
  const at = [0];
  let pos = 0;
  for (const s of stmts) {
    pos += modelSize(s, address + BigInt(pos));
    at.push(pos);
  }
  return at;
}

/**
 * Statements `from`..`to` (exclusive) as stand-ins that Keystone places at
 * their modelled sizes with little text: labels, symbols and alignment as
 * written, every run of instructions and data in between as one `.space`.
 */
function stand(stmts: readonly Statement[], model: readonly number[], from: number, to: number): string[] {
  const out: string[] = [];
  let run = 0;
  for (let i = from; i < to; i++) {
    const s = stmts[i]!;
    if (s.kind === "insn" || s.kind === "data") {
      run += model[i + 1]! - model[i]!;
      continue;
    }
    if (run > 0) out.push(`.space ${run}`);
    run = 0;
    out.push(s.text);
  }
  if (run > 0) out.push(`.space ${run}`);
  return out;
}

/**
 * Splits the statements into windows [a, b) whose Keystone call (the window in
 * full with its marks and table, the rest as stand-ins) stays under
 * KEYSTONE_TEXT_LIMIT bytes of text.
 * @throws InputError `ASM_ERROR` when the stand-ins alone leave no room.
 */
function tableWindows(stmts: readonly Statement[], model: readonly number[], mark: (i: number) => string, start: string): [number, number][] {
  const n = stmts.length;
  const bytes = (t: string): number => Buffer.byteLength(t) + 1;
  // Stand-ins for the whole program bound those of any call: leaving a window
  // out can split one `.space` run in two, which the slack covers.
  const frame = bytes(`${start}:`) + stand(stmts, model, 0, n).reduce((sum, t) => sum + bytes(t), 0) + 2 * TEXT_SLACK;
  const cost = (i: number): number => bytes(`${mark(i)}:`) + bytes(stmts[i]?.text ?? "") + bytes(`.word ${mark(i)} - ${start}`);
  const windows: [number, number][] = [];
  let a = 0;
  do {
    let used = frame + cost(n);
    let b = a;
    while (b < n && used + cost(b) <= KEYSTONE_TEXT_LIMIT) used += cost(b++);
    if (b === a && a < n) {
      const o = stmts[a]!.origin;
      throw new InputError(
        "ASM_ERROR",
        `Cannot assemble ${o.file}: its labels, symbols and alignments alone make ${frame} bytes of text, and Keystone takes at most ${KEYSTONE_TEXT_LIMIT} per call`,
        o.file,
        "Split the program into smaller ones",
      );
    }
    windows.push([a, b]);
    a = b;
  } while (a < n);
  return windows;
}

/** Room kept for the lines a window adds or splits (`.space` runs, the last mark). */
const TEXT_SLACK = 64;

/** Bytes a statement must emit when it starts at absolute address `at`. */
function modelSize(s: Statement, at: bigint): number {
  switch (s.kind) {
    case "label":
    case "symbol":
      return 0;
    case "insn":
      return 4;
    case "data":
      return s.size;
    case "align": {
      const a = BigInt(s.align);
      return Number((a - (at % a)) % a);
    }
  }
}

let shared: Promise<Assembler> | undefined;

/** The process-wide assembler, loaded on first use. */
export function getAssembler(): Promise<Assembler> {
  shared ??= Assembler.load();
  return shared;
}

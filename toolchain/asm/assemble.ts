import { InputError } from "../bytes/index.js";
import { KeystoneEngine, KeystoneFailure } from "./_keystone.js";
import { formatOrigin, parseSource, RESERVED_PREFIX, sourceLines } from "./source.js";
import type { SourceLine, Statement } from "./source.js";

/**
 * Keystone you can trust: every assembly is checked statement by statement.
 *
 * The program is given to Keystone with a hidden label before each statement
 * and, after the last one, a table of `.word label - start` entries (in
 * windows of statements, one call each, for large programs). The table
 * tells where Keystone placed every statement; each statement's size must
 * then equal the model from `source.ts` (4 bytes per instruction, counted
 * data, alignment padding). A statement that Keystone dropped or mis-sized is
 * reported with its file and line, and the table is cut off the result.
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
   *   (Keystone refused a statement), `ASM_DROPPED` (a statement emitted the
   *   wrong number of bytes); `where` is `file:line`.
   */
  async assemble(source: string | readonly SourceLine[], options: AssembleOptions = {}): Promise<Assembly> {
    const address = options.address ?? 0n;
    const lines = typeof source === "string" ? sourceLines(source, options.file ?? "<input>") : source;
    const stmts = parseSource(lines);
    const n = stmts.length;
    const mark = (i: number): string => `${RESERVED_PREFIX}s${i}`;
    const start = `${RESERVED_PREFIX}start`;

    // The table is built in windows of statements, one Keystone call each:
    // keystone-wasm runs out of memory (a trap) on a table of ~1,800
    // `label - label` entries. The marks emit nothing, so every call must
    // give the same bytes before its table.
    let out: Uint8Array | undefined;
    const offsets: number[] = [];
    for (let a = 0; a <= n; a += TABLE_WINDOW) {
      const b = Math.min(a + TABLE_WINDOW, n + 1);
      const body = stmts.map((s, i) => (i >= a && i < b ? `${mark(i)}:\n${s.text}` : s.text));
      const table = Array.from({ length: b - a }, (_, k) => `.word ${mark(a + k)} - ${start}`);
      const program = [`${start}:`, ...body, ...(b > n ? [`${mark(n)}:`] : []), ...table].join("\n");
      let got: Uint8Array | undefined;
      try {
        got = await this.engine.assemble(program, address);
      } catch (e) {
        if (!(e instanceof KeystoneFailure)) throw e;
      }
      const tableAt = got === undefined ? -1 : got.length - 4 * (b - a);
      if (got === undefined || tableAt < 0 || (out !== undefined && !sameBytes(out, got.subarray(0, tableAt)))) {
        out = undefined;
        break;
      }
      out ??= got.slice(0, tableAt);
      const view = new DataView(got.buffer, got.byteOffset + tableAt, 4 * (b - a));
      for (let k = 0; k < b - a; k++) offsets.push(view.getUint32(4 * k, true));
    }
    if (out === undefined || offsets.length !== n + 1 || offsets[n] !== out.length || offsets[0] !== 0) {
      // Keystone failed, or stopped short (it silently ignores the rest of the input after some lines).
      throw await this.locate(stmts, address);
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
    return { bytes: out, address, statements: placed, labels };
  }

  /**
   * Finds the first statement whose prefix fails (a Keystone error, or fewer
   * or more bytes than the model) and reports it with its file and line.
   */
  private async locate(stmts: readonly Statement[], address: bigint): Promise<InputError> {
    const tryPrefix = async (k: number): Promise<string | undefined> => {
      // Later labels and symbols stay defined so forward references still resolve.
      const later = stmts.slice(k).filter((s) => s.kind === "label" || s.kind === "symbol");
      let expected = 0;
      for (const s of stmts.slice(0, k)) expected += modelSize(s, address + BigInt(expected));
      try {
        const got = await this.engine.assemble([...stmts.slice(0, k), ...later].map((s) => s.text).join("\n"), address);
        return got.length === expected ? undefined : `Keystone emitted ${got.length} bytes up to here, the model expects ${expected}`;
      } catch (e) {
        if (e instanceof KeystoneFailure) return e.message;
        throw e;
      }
    };
    let lo = 0;
    let hi = stmts.length;
    let failure = await tryPrefix(hi);
    const first = stmts[0]?.origin;
    if (failure === undefined) {
      return new InputError("ASM_ERROR", `Cannot assemble ${first?.file ?? "<input>"}: Keystone lost the statement table`, first?.file);
    }
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      const f = await tryPrefix(mid);
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
}

/** Statements per statement-table window (see `assemble`). */
const TABLE_WINDOW = 800;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

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

import { InputError } from "../bytes/index.js";

/**
 * The CLI's one way to finish a command: render a report as text or JSON,
 * map input errors to exit 1 and usage errors to exit 2. The library never
 * prints; only this file and the command modules write to stdout/stderr.
 */

/** Thrown by command modules for a wrong combination of options (exit 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface JsonFlag {
  json?: boolean | undefined;
}

/** Prints `data` as sorted-key JSON, or `text(data)` for people. */
export function report<T>(argv: JsonFlag, data: T, text: (d: T) => string): void {
  if (argv.json) process.stdout.write(stableJson(data) + "\n");
  else {
    const t = text(data);
    if (t !== "") process.stdout.write(t.endsWith("\n") ? t : t + "\n");
  }
}

/** JSON with object keys sorted, bigints as `0x…` strings and bytes as hex. */
export function stableJson(value: unknown, indent = 2): string {
  return JSON.stringify(normalize(value), null, indent);
}

function normalize(v: unknown): unknown {
  if (typeof v === "bigint") return "0x" + v.toString(16);
  if (v instanceof Uint8Array) return Buffer.from(v).toString("hex");
  if (Array.isArray(v)) return v.map(normalize);
  if (v instanceof InputError) return v.toJSON();
  if (v !== null && typeof v === "object") {
    if (typeof (v as { toJSON?: unknown }).toJSON === "function") return normalize((v as { toJSON(): unknown }).toJSON());
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}

/**
 * Runs a command body; turns `InputError` into exit 1 (printed as text, or as
 * `{"error": …}` JSON with --json) and `UsageError` into exit 2.
 */
export async function run(argv: JsonFlag, body: () => void | Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof InputError) {
      if (argv.json) process.stdout.write(stableJson({ error: e }) + "\n");
      else process.stderr.write(`purgatory: ${e.message}\n`);
      process.exitCode = 1;
    } else if (e instanceof UsageError) {
      process.stderr.write(`purgatory: ${e.message}\n`);
      process.exitCode = 2;
    } else throw e;
  }
}

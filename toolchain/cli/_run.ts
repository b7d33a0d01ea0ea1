import { InputError, stableJson } from "../bytes/index.js";

export { stableJson };

/**
 * The CLI's one way to finish a command: render a report as text or JSON,
 * map input errors to exit 1 and usage errors to exit 2. The library never
 * prints; only this file and the command modules write to stdout/stderr.
 */

/** Thrown by command modules for a wrong combination of options (exit 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** What `rejectRepeated` reads of the yargs instance (yargs 17 passes it to middleware; @types/yargs omits it). */
interface ParsedOptions {
  getOptions(): { readonly array: readonly string[] };
}

/**
 * yargs middleware: an option given twice is a usage error. yargs 17 turns
 * `--kernel K --kernel K` into an array, which every handler would otherwise
 * have to expect (a path that is an Array reached node:fs). Options declared
 * `array: true` take several values and pass.
 * @throws UsageError naming the option as it was spelled.
 */
export function rejectRepeated(argv: Record<string, unknown>, y: ParsedOptions): void {
  const arrays = y.getOptions().array;
  for (const [key, value] of Object.entries(argv)) {
    if (key === "_" || key === "$0" || !Array.isArray(value) || arrays.includes(key)) continue;
    const name = key.length === 1 ? `-${key}` : `--${key}`;
    throw new UsageError(`${name} is given ${value.length} times (${value.map((v) => JSON.stringify(v)).join(", ")}); give it once.`);
  }
}

/**
 * Parses an option's value with a library parser: whatever input error the
 * parser throws becomes `BAD_OPTION` at the option (exit 2), since the value
 * came from the command line, not from a file.
 */
export function optionValue<T>(option: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof InputError && e.code !== "BAD_OPTION") throw new InputError("BAD_OPTION", e.what, option, e.hint);
    throw e;
  }
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

/**
 * Runs a command body; turns `InputError` into exit 1 (printed as text, or as
 * `{"error": …}` JSON with --json), except `BAD_OPTION` (an option's value:
 * a usage error), and `UsageError`, into exit 2.
 */
export async function run(argv: JsonFlag, body: () => void | Promise<void>): Promise<void> {
  try {
    await body();
  } catch (e) {
    if (e instanceof InputError) {
      if (argv.json) process.stdout.write(stableJson({ error: e }) + "\n");
      else process.stderr.write(`purgatory: ${e.message}\n`);
      process.exitCode = e.code === "BAD_OPTION" ? 2 : 1;
    } else if (e instanceof UsageError) {
      process.stderr.write(`purgatory: ${e.message}\n`);
      process.exitCode = 2;
    } else throw e;
  }
}

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

import type { ErrorCode } from "./codes.js";

/**
 * The project's one error class for bad input.
 *
 * Every parser, checker and planner throws `InputError` when the *input* is
 * wrong (a truncated blob, a value that does not fit, a segment the kernel
 * would refuse). Misuse of an API (a negative length passed by our own code)
 * throws the built-in `TypeError`/`RangeError` instead.
 *
 * `where` is a byte offset into the input (a number) or a path into a
 * structure (`/chosen/linux,elfcorehdr`, `segments[2].mem`). `hint` says what
 * the user can change. The message follows "what could not be done, why, with
 * the value", e.g. `Cannot parse FDT header: totalsize 0x3000 exceeds input
 * length 0x2000`.
 */
export class InputError extends Error {
  override readonly name = "InputError";
  readonly code: ErrorCode;
  readonly where: number | string | undefined;
  readonly hint: string | undefined;
  /** The file the input came from, when the caller knows it (see `inFile`). */
  readonly file: string | undefined;
  /** The message without its place and hint. */
  readonly what: string;

  constructor(code: ErrorCode, message: string, where?: number | string, hint?: string, file?: string) {
    super(formatMessage(message, where, hint, file));
    this.code = code;
    this.what = message;
    this.where = where;
    this.hint = hint;
    this.file = file;
  }

  /** The same error, saying which file the bytes or text came from (the first file named wins). */
  inFile(file: string): InputError {
    return this.file !== undefined ? this : new InputError(this.code, this.what, this.where, this.hint, file);
  }

  /** Plain data for `--json` reports. */
  toJSON(): { code: ErrorCode; message: string; file?: string; where?: number | string; hint?: string } {
    const out: { code: ErrorCode; message: string; file?: string; where?: number | string; hint?: string } = {
      code: this.code,
      message: this.message,
    };
    if (this.file !== undefined) out.file = this.file;
    if (this.where !== undefined) out.where = this.where;
    if (this.hint !== undefined) out.hint = this.hint;
    return out;
  }
}

function formatMessage(message: string, where: number | string | undefined, hint: string | undefined, file: string | undefined): string {
  let text = message;
  const of = file === undefined ? "" : ` of ${file}`;
  if (typeof where === "number") text += ` (at offset 0x${where.toString(16)}${of})`;
  else if (typeof where === "string" && where !== "") text += ` (at ${where}${of})`;
  else if (file !== undefined) text += ` (in ${file})`;
  if (hint !== undefined && hint !== "") text += `. ${hint}`;
  return text;
}

/**
 * Runs `parse` on what was read from `file`; an `InputError` it throws names
 * the file. Anything else passes through.
 */
export function inFile<T>(file: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw e instanceof InputError ? e.inFile(file) : e;
  }
}

/** `inFile` for an asynchronous `parse`. */
export async function inFileAsync<T>(file: string, parse: () => Promise<T>): Promise<T> {
  try {
    return await parse();
  } catch (e) {
    throw e instanceof InputError ? e.inFile(file) : e;
  }
}

/** True when `e` is the project's input error (also across realms, by name). */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}

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
  readonly code: string;
  readonly where: number | string | undefined;
  readonly hint: string | undefined;

  constructor(code: string, message: string, where?: number | string, hint?: string) {
    super(formatMessage(message, where, hint));
    this.code = code;
    this.where = where;
    this.hint = hint;
  }

  /** Plain data for `--json` reports. */
  toJSON(): { code: string; message: string; where?: number | string; hint?: string } {
    const out: { code: string; message: string; where?: number | string; hint?: string } = {
      code: this.code,
      message: this.message,
    };
    if (this.where !== undefined) out.where = this.where;
    if (this.hint !== undefined) out.hint = this.hint;
    return out;
  }
}

function formatMessage(message: string, where: number | string | undefined, hint: string | undefined): string {
  let text = message;
  if (typeof where === "number") text += ` (at offset 0x${where.toString(16)})`;
  else if (typeof where === "string" && where !== "") text += ` (at ${where})`;
  if (hint !== undefined && hint !== "") text += `. ${hint}`;
  return text;
}

/** True when `e` is the project's input error (also across realms, by name). */
export function isInputError(e: unknown): e is InputError {
  return e instanceof InputError;
}

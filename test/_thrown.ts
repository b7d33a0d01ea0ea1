import { InputError } from "../toolchain/bytes/index.js";

/** Runs `f` and returns the InputError it throws; fails on any other outcome. */
export function thrown(f: () => unknown): InputError {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

/** Awaits `f` and returns the InputError it rejects with; fails on any other outcome. */
/** The InputError a promise rejects with; fails on any other outcome. */
export async function rejected(p: Promise<unknown>): Promise<InputError> {
  return thrownAsync(() => p);
}

export async function thrownAsync(f: () => Promise<unknown>): Promise<InputError> {
  try {
    await f();
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("expected an InputError");
}

/** The code of the InputError `f` throws, or "no error"; any other exception fails. */
export function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof InputError) return e.code;
    throw e;
  }
  return "no error";
}

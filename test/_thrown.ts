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

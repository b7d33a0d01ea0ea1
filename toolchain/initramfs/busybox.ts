import { InputError } from "../bytes/index.js";

/**
 * The applets a busybox binary has, read from the binary itself so that it
 * works off-target (running an arm64 busybox on the build host is not an
 * option). busybox keeps their names as one sorted run of NUL-terminated
 * strings (`applet_names[]` in the generated include/applet_tables.h), which
 * starts with the test applets "[" and "[[" (coreutils/test.c) in every
 * build that has a shell.
 */

const START = Uint8Array.of(0x5b, 0x00, 0x5b, 0x5b, 0x00); // "[\0[[\0"

/**
 * @returns the applet names, in the binary's (sorted) order.
 * @throws InputError `BAD_BUSYBOX` when the name table is not found.
 */
export function busyboxApplets(bytes: Uint8Array): string[] {
  const at = indexOf(bytes, START);
  if (at < 0) {
    throw new InputError(
      "BAD_BUSYBOX",
      "Cannot list busybox's applets: its name table (starting with the applets [ and [[) is not in the binary",
      0,
      "Give a busybox with a shell and the test applets (Debian's busybox-static is one).",
    );
  }
  const names: string[] = [];
  let pos = at;
  for (;;) {
    const end = bytes.indexOf(0, pos);
    if (end <= pos) break;
    const name = String.fromCharCode(...bytes.subarray(pos, end));
    // The table ends where the names stop being applet names in order.
    if (!/^[\x21-\x7e]+$/.test(name) || (names.length > 0 && name <= (names.at(-1) as string))) break;
    names.push(name);
    pos = end + 1;
  }
  return names;
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0] as number;
  for (let i = hay.indexOf(first); i >= 0 && i + needle.length <= hay.length; i = hay.indexOf(first, i + 1)) {
    if (needle.every((b, j) => hay[i + j] === b)) return i;
  }
  return -1;
}

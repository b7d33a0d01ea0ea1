import { InputError, hex } from "../bytes/index.js";

/**
 * `crashkernel=` as the kernel reads it: `parse_crashkernel()` in
 * kernel/crash_reserve.c (kernel/crash_core.c before Linux 6.9), with the
 * number syntax of `memparse()` (lib/cmdline.c) and `simple_strtoull()`
 * (lib/vsprintf.c). Every quirk is kept, because a line that looks right but
 * parses differently reserves the wrong amount, or nothing, without a word on
 * the console beyond a pr_warn.
 *
 * Forms (Documentation/admin-guide/kdump/kdump.rst,
 * Documentation/arch/arm64/kdump.rst):
 * - `crashkernel=SIZE[@OFFSET]`
 * - `crashkernel=START-[END]:SIZE[,START-[END]:SIZE...][@OFFSET]`: the first
 *   range holding the system RAM (rounded up to 128 MiB) gives the size
 * - `crashkernel=SIZE,high` with an optional `crashkernel=SIZE,low`, read only
 *   when there is no token of the first two forms
 * - `crashkernel=SIZE,cma` (Linux 6.16), read next to any of them
 */

const U64_MASK = (1n << 64n) - 1n;
/** `roundup(total_mem, SZ_128M)` in parse_crashkernel_mem(). */
const RAM_ROUND = 128n << 20n;
/** include/linux/crash_reserve.h `DEFAULT_CRASH_KERNEL_LOW_SIZE` (arm64 does not override it). */
export const DEFAULT_CRASH_KERNEL_LOW_SIZE = 128n << 20n;

const NAME = "crashkernel=";
/** `suffix_tbl[]`: a token ending in one of these is not the plain form. */
const SUFFIXES = [",high", ",low", ",cma"] as const;

export interface CrashkernelRequest {
  /** "simple": SIZE[@OFFSET]; "range": the range list; "high": SIZE,high (with or without SIZE,low). */
  readonly form: "simple" | "range" | "high";
  /** `crash_size`: bytes to reserve (never 0: the kernel refuses 0). */
  readonly size: bigint;
  /** `crash_base` from `@OFFSET`, or null without one (the kernel treats 0 as "anywhere"). */
  readonly base: bigint | null;
  /** With the "high" form: bytes below the DMA limit (`,low`, or the 128 MiB default); else null. */
  readonly lowSize: bigint | null;
  /** True when `lowSize` is the default because no `,low` token was given. */
  readonly lowDefaulted: boolean;
  /** Bytes of `crashkernel=SIZE,cma`, or null without that token. */
  readonly cmaSize: bigint | null;
  /** Offset in the command line of the token that gave the size (just after `crashkernel=`). */
  readonly at: number;
  /** That token, without `crashkernel=`. */
  readonly token: string;
}

/** The result of `memparse()`: the value (wrapped to 64 bits, as the C code wraps) and where it stopped. */
export interface Memparsed {
  readonly value: bigint;
  /** Index of the first character not consumed; equal to the start when nothing was read. */
  readonly end: number;
}

/**
 * `memparse()` at `at`: `simple_strtoull(s, &end, 0)` (a `0x` prefix followed
 * by a hex digit is hex, a leading `0` is octal, else decimal; no sign, no
 * blanks), then one optional suffix K, M, G, T, P or E in either case, each a
 * further shift by 10. Overflow wraps, as in C. A lone suffix ("M") reads as
 * 0 but still counts as consumed, as in the kernel.
 */
export function memparse(s: string, at: number): Memparsed {
  let i = at;
  let base = 10n;
  if (s[i] === "0") {
    if ((s[i + 1] === "x" || s[i + 1] === "X") && isHexDigit(s[i + 2])) {
      base = 16n;
      i += 2;
    } else base = 8n;
  }
  let value = 0n;
  for (;;) {
    const d = digit(s[i]);
    if (d === null || d >= base) break;
    value = (value * base + d) & U64_MASK;
    i++;
  }
  const shifts: Record<string, bigint> = { k: 10n, m: 20n, g: 30n, t: 40n, p: 50n, e: 60n };
  const shift = shifts[(s[i] ?? "").toLowerCase()];
  if (shift !== undefined) {
    value = (value << shift) & U64_MASK;
    i++;
  }
  return { value, end: i };
}

function isHexDigit(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

function digit(c: string | undefined): bigint | null {
  if (c === undefined) return null;
  if (c >= "0" && c <= "9") return BigInt(c.charCodeAt(0) - 48);
  const l = c.toLowerCase();
  if (l >= "a" && l <= "f") return BigInt(l.charCodeAt(0) - 87);
  return null;
}

/**
 * Reads `crashkernel=` from a command line the way arm64 Linux does at boot
 * (`arch_reserve_crashkernel()` → `parse_crashkernel()`), for a machine whose
 * memblock holds `systemRam` bytes (`memblock_phys_mem_size()`).
 *
 * The last token wins; tokens are found with `strstr`, so `xcrashkernel=`
 * counts too, and a token ends at the next space. Returns null when the line
 * holds no `crashkernel=` at all.
 * @throws InputError `BAD_CRASHKERNEL` (where = offset in `cmdline`) for
 *   every line the kernel refuses (it then reserves nothing): a syntax error,
 *   a size of 0, a size not below the system RAM, a range list none of whose
 *   ranges holds the RAM, `,low` or `,cma` without a main token.
 */
export function parseCrashkernel(cmdline: string, systemRam: bigint): CrashkernelRequest | null {
  if (systemRam < 0n) throw new RangeError(`parseCrashkernel: systemRam ${systemRam} is negative`);
  if (!cmdline.includes(NAME)) return null;
  const fail = (why: string, at: number, hint: string): never => {
    throw new InputError("BAD_CRASHKERNEL", `Cannot reserve crash kernel memory: ${why}`, at, hint);
  };
  // The kernel reads ,cma last and ignores its return value: a malformed
  // ,cma token still yields whatever number memparse() read.
  const cma = lastToken(cmdline, ",cma");
  const cmaSize = cma === null ? null : memparse(cmdline, cma).value;

  let main = lastToken(cmdline, null);
  let request: Omit<CrashkernelRequest, "cmaSize">;
  if (main !== null) {
    const colon = cmdline.indexOf(":", main);
    const space = cmdline.indexOf(" ", main);
    const parsed = colon >= 0 && (space < 0 || colon < space)
      ? parseRanges(cmdline, main, systemRam, fail)
      : parseSimple(cmdline, main, fail);
    request = { ...parsed, lowSize: null, lowDefaulted: false, at: main, token: tokenAt(cmdline, main) };
  } else {
    main = lastToken(cmdline, ",high");
    if (main === null) {
      const stray = lastToken(cmdline, ",low") ?? cma ?? cmdline.indexOf(NAME) + NAME.length;
      return fail(`${JSON.stringify(NAME + tokenAt(cmdline, stray))} needs a crashkernel=SIZE or crashkernel=SIZE,high next to it`, stray,
        "Add crashkernel=SIZE (or SIZE,high): ,low and ,cma only add to it");
    }
    const size = parseSuffixed(cmdline, main, ",high", fail);
    if (size === 0n) fail("crashkernel=0,high reserves nothing", main, "Give the size of the high range, e.g. crashkernel=512M,high");
    const low = lastToken(cmdline, ",low");
    const lowSize = low === null ? DEFAULT_CRASH_KERNEL_LOW_SIZE : parseSuffixed(cmdline, low, ",low", fail);
    request = { form: "high", size, base: null, lowSize, lowDefaulted: low === null, at: main, token: tokenAt(cmdline, main) };
  }
  if (request.size === 0n) {
    fail(request.form === "range" ? "the size resulted in zero bytes" : "crashkernel=0 reserves nothing", request.at, "Give a size above 0, or remove crashkernel=");
  }
  if (request.size >= systemRam) {
    fail(`${hex(request.size)} bytes is not below the system RAM of ${hex(systemRam)} bytes`, request.at, "The crash kernel takes part of RAM; give a smaller size");
  }
  return { ...request, cmaSize };
}

type Fail = (why: string, at: number, hint: string) => never;

/**
 * `get_last_crashkernel()`: the offset just after the last `crashkernel=`
 * whose token ends in `suffix`, or, for `suffix` null, in none of the known
 * suffixes. Found with `strstr`, so the name may sit inside a longer word.
 */
function lastToken(cmdline: string, suffix: string | null): number | null {
  let found: number | null = null;
  for (let p = cmdline.indexOf(NAME); p >= 0; p = cmdline.indexOf(NAME, p + 1)) {
    const space = cmdline.indexOf(" ", p);
    const end = space < 0 ? cmdline.length : space;
    const token = cmdline.slice(p, end);
    if (suffix === null ? !SUFFIXES.some((s) => token.endsWith(s)) : token.endsWith(suffix)) found = p + NAME.length;
  }
  return found;
}

function tokenAt(cmdline: string, at: number): string {
  const space = cmdline.indexOf(" ", at);
  return cmdline.slice(at, space < 0 ? cmdline.length : space);
}

const endsToken = (cmdline: string, at: number): boolean => at >= cmdline.length || cmdline[at] === " ";

/** `parse_crashkernel_simple()`: SIZE, then `@OFFSET` (read without a check, as the kernel does) or the end of the token. */
function parseSimple(cmdline: string, at: number, fail: Fail): { form: "simple"; size: bigint; base: bigint | null } {
  const size = memparse(cmdline, at);
  if (size.end === at) fail("crashkernel: memory value expected", at, "Write a size such as 256M");
  if (cmdline[size.end] === "@") {
    const base = memparse(cmdline, size.end + 1).value;
    return { form: "simple", size: size.value, base: base === 0n ? null : base };
  }
  if (!endsToken(cmdline, size.end)) {
    fail(`crashkernel: unrecognized char: ${cmdline[size.end]}`, size.end, "After the size only @OFFSET may follow (or ,high / ,low as separate tokens)");
  }
  return { form: "simple", size: size.value, base: null };
}

/** `parse_crashkernel_suffix()`: SIZE immediately followed by `suffix` and the end of the token. */
function parseSuffixed(cmdline: string, at: number, suffix: string, fail: Fail): bigint {
  const size = memparse(cmdline, at);
  if (size.end === at) fail("crashkernel: memory value expected", at, `Write a size such as 128M${suffix}`);
  if (!cmdline.startsWith(suffix, size.end) || !endsToken(cmdline, size.end + suffix.length)) {
    fail(`crashkernel: unrecognized char: ${cmdline[size.end] ?? "(end)"}`, size.end, `The ${suffix} form is SIZE${suffix} alone, without @OFFSET or ranges`);
  }
  return size.value;
}

/**
 * `parse_crashkernel_mem()`: `START-[END]:SIZE` entries separated by commas;
 * RAM is rounded up to 128 MiB first; the first entry with
 * START <= RAM < END wins (END absent = no limit); every SIZE read before the
 * match must be below the RAM; what follows the match is not checked; then an
 * optional `@OFFSET` anywhere before the end of the token.
 */
function parseRanges(cmdline: string, at: number, systemRam: bigint, fail: Fail): { form: "range"; size: bigint; base: bigint | null } {
  const totalMem = ((systemRam + RAM_ROUND - 1n) / RAM_ROUND) * RAM_ROUND;
  let cur = at;
  let size = 0n;
  for (;;) {
    const start = memparse(cmdline, cur);
    if (start.end === cur) fail("crashkernel: Memory value expected", cur, "Each entry is START-[END]:SIZE, e.g. 2G-4G:256M");
    cur = start.end;
    if (cmdline[cur] !== "-") fail("crashkernel: '-' expected", cur, "Each entry is START-[END]:SIZE, e.g. 2G-4G:256M");
    cur++;
    let end: bigint | null = null;
    if (cmdline[cur] !== ":") {
      const e = memparse(cmdline, cur);
      if (e.end === cur) fail("crashkernel: Memory value expected", cur, "Write the end of the range, or nothing for no limit (4G-:512M)");
      if (e.value <= start.value) fail(`crashkernel: end <= start (${hex(e.value)} <= ${hex(start.value)})`, cur, "Each range ends above where it starts");
      end = e.value;
      cur = e.end;
    }
    if (cmdline[cur] !== ":") fail("crashkernel: ':' expected", cur, "Each entry is START-[END]:SIZE, e.g. 2G-4G:256M");
    cur++;
    const s = memparse(cmdline, cur);
    if (s.end === cur) fail("crashkernel: Memory value expected", cur, "Give the size to reserve after the colon");
    if (s.value >= totalMem) {
      fail(`crashkernel: invalid size: ${hex(s.value)} bytes is not below the RAM rounded up to 128 MiB (${hex(totalMem)})`, cur,
        "Every size up to the matching range must be below the machine's RAM");
    }
    cur = s.end;
    if (totalMem >= start.value && (end === null || totalMem < end)) {
      size = s.value;
      break;
    }
    const sep = cmdline[cur];
    cur++;
    if (sep !== ",") break;
  }
  if (size === 0n) {
    fail(`no range holds the system RAM of ${hex(systemRam)} bytes (${hex(totalMem)} rounded up to 128 MiB), so the size resulted in zero bytes`, at,
      "Add a range for this machine's RAM, e.g. one ending in an open `START-:SIZE`");
  }
  while (cur < cmdline.length && cmdline[cur] !== " " && cmdline[cur] !== "@") cur++;
  if (cmdline[cur] !== "@") return { form: "range", size, base: null };
  cur++;
  const base = memparse(cmdline, cur);
  if (base.end === cur) fail("crashkernel: Memory value expected after '@'", cur, "Give the offset after @, or drop the @");
  return { form: "range", size, base: base.value === 0n ? null : base.value };
}

import { describe, expect, it } from "vitest";
import { DEFAULT_CRASH_KERNEL_LOW_SIZE, memparse, parseCrashkernel } from "../../toolchain/crashkernel/index.js";
import { thrown } from "../_thrown.js";

const K = 1n << 10n;
const M = 1n << 20n;
const G = 1n << 30n;

describe("memparse reads numbers as lib/cmdline.c memparse() and simple_strtoull(base 0) do", () => {
  it.each([
    // text, value, characters consumed
    ["0", 0n, 1],
    ["4096", 4096n, 4],
    ["512M", 512n * M, 4],
    ["512m", 512n * M, 4],
    ["1G", G, 2],
    ["64K", 64n * K, 3],
    ["2T", 2n << 40n, 2],
    ["1P", 1n << 50n, 2],
    ["1E", 1n << 60n, 2],
    ["0x1000", 4096n, 6],
    ["0X1fM", 31n * M, 5],
    ["010", 8n, 3], // a leading 0 is octal
    ["010M", 8n * M, 4],
    ["08", 0n, 1], // octal stops at 8
    ["0x", 0n, 1], // no hex digit after 0x: octal 0, stops at x
    ["0xg", 0n, 1],
    ["M", 0n, 1], // a lone suffix reads 0 but counts as consumed
    ["", 0n, 0],
    ["-1G", 0n, 0], // no sign
    [" 1G", 0n, 0], // no blanks
    ["12abc", 12n, 2],
    ["256MB", 256n * M, 4], // the B is left for the caller
    ["16E", 0n, 3], // 16 << 60 wraps to 0 in 64 bits
    ["18446744073709551617", 1n, 20], // 2^64 + 1 wraps to 1
  ] as const)("%j = %s, consuming %i", (text, value, end) => {
    expect(memparse(text, 0)).toEqual({ value, end });
  });

  it("starts where it is told", () => {
    expect(memparse("crashkernel=64M", 12)).toEqual({ value: 64n * M, end: 15 });
  });
});

/** Shorthand for the fields a case checks. */
const req = (size: bigint, extra: Partial<{ form: string; base: bigint | null; lowSize: bigint | null; lowDefaulted: boolean; cmaSize: bigint | null; token: string }> = {}) => ({
  form: "simple", base: null, lowSize: null, lowDefaulted: false, cmaSize: null, size, ...extra,
});

describe("parseCrashkernel follows parse_crashkernel() in kernel/crash_reserve.c", () => {
  it("finds nothing where no crashkernel= is", () => {
    expect(parseCrashkernel("", G)).toBeNull();
    expect(parseCrashkernel("root=/dev/vda1 console=ttyAMA0", G)).toBeNull();
  });

  it.each([
    ["crashkernel=256M", G, req(256n * M, { token: "256M" })],
    ["console=ttyAMA0 crashkernel=256M quiet", G, req(256n * M)],
    ["crashkernel=0x10000000", G, req(256n * M)],
    ["crashkernel=010M", G, req(8n * M)], // octal, as the kernel reads it
    ["crashkernel=64M@0x60000000", G, req(64n * M, { base: 0x6000_0000n })],
    ["crashkernel=64M@1536M", 4n * G, req(64n * M, { base: 1536n * M })],
    // parse_crashkernel_simple() reads @OFFSET without a check: junk or nothing is base 0, "anywhere".
    ["crashkernel=64M@", G, req(64n * M)],
    ["crashkernel=64M@junk", G, req(64n * M)],
    // The last plain token wins; strstr() also finds the name inside a longer word.
    ["crashkernel=128M crashkernel=256M", G, req(256n * M)],
    ["xcrashkernel=64M", G, req(64n * M)],
    // A plain token wins over ,high wherever it stands.
    ["crashkernel=128M crashkernel=512M,high", 4n * G, req(128n * M)],
    ["crashkernel=512M,high crashkernel=128M", 4n * G, req(128n * M)],
  ] as const)("%j with RAM %s reads as intended", (line, ram, expected) => {
    expect(parseCrashkernel(line, ram)).toMatchObject(expected);
  });

  it.each([
    // START-[END]:SIZE: the first range holding the RAM (rounded up to 128 MiB) gives the size.
    ["crashkernel=512M-2G:64M,2G-:128M", G, 64n * M, null],
    ["crashkernel=512M-2G:64M,2G-:128M", 4n * G, 128n * M, null],
    ["crashkernel=512M-2G:64M,2G-:128M", 2n * G - 64n * M, 128n * M, null], // 1984 MiB rounds up to 2 GiB
    ["crashkernel=512M-2G:64M,2G-:128M", 2n * G - 128n * M, 64n * M, null],
    ["crashkernel=0-:256M", G, 256n * M, null],
    ["crashkernel=1G-4G:256M@0x80000000", 2n * G, 256n * M, 0x8000_0000n],
    ["crashkernel=0-2G:64M,1G-4G:128M@2G", 3n * G, 128n * M, 2n * G],
    // After the match nothing is checked, not even junk.
    ["crashkernel=0-2G:64M,garbage", G, 64n * M, null],
    ["crashkernel=2G-4G:256M,4G-64G:320M,64G-:576M", 16n * G, 320n * M, null],
  ] as const)("the range form %j with RAM %s gives %s bytes", (line, ram, size, base) => {
    expect(parseCrashkernel(line, ram)).toMatchObject({ form: "range", size, base });
  });

  it("reads SIZE,high with SIZE,low, and the 128 MiB default low when ,low is absent", () => {
    expect(parseCrashkernel("crashkernel=512M,high", 8n * G)).toMatchObject({ form: "high", size: 512n * M, lowSize: DEFAULT_CRASH_KERNEL_LOW_SIZE, lowDefaulted: true });
    expect(DEFAULT_CRASH_KERNEL_LOW_SIZE).toBe(128n * M);
    expect(parseCrashkernel("crashkernel=512M,high crashkernel=64M,low", 8n * G)).toMatchObject({ form: "high", size: 512n * M, lowSize: 64n * M, lowDefaulted: false });
    expect(parseCrashkernel("crashkernel=64M,low crashkernel=1G,high", 8n * G)).toMatchObject({ size: G, lowSize: 64n * M });
    // crashkernel=0,low says: no low range, on purpose (Documentation/arch/arm64/kdump.rst).
    expect(parseCrashkernel("crashkernel=512M,high crashkernel=0,low", 8n * G)).toMatchObject({ lowSize: 0n, lowDefaulted: false });
  });

  it("reads SIZE,cma beside the main token, ignoring a malformed one as the kernel ignores its return value", () => {
    expect(parseCrashkernel("crashkernel=256M crashkernel=64M,cma", 4n * G)).toMatchObject({ size: 256n * M, cmaSize: 64n * M });
    expect(parseCrashkernel("crashkernel=256M crashkernel=64Mx,cma", 4n * G)).toMatchObject({ size: 256n * M, cmaSize: 64n * M });
    expect(parseCrashkernel("crashkernel=256M", 4n * G)?.cmaSize).toBeNull();
  });

  it("records where the token that gave the size starts", () => {
    const line = "quiet crashkernel=1G crashkernel=256M";
    expect(parseCrashkernel(line, 4n * G)).toMatchObject({ at: line.lastIndexOf("=") + 1, token: "256M" });
  });

  it.each([
    // line, RAM, message, offset of the problem
    ["crashkernel=", G, /memory value expected/, 12],
    ["crashkernel=abc", G, /memory value expected/, 12],
    ["crashkernel=256MB", G, /unrecognized char: B/, 16],
    ["crashkernel=08M", G, /unrecognized char: 8/, 13], // octal 0, then an 8
    ["crashkernel=0", G, /crashkernel=0 reserves nothing/, 12],
    ["crashkernel=1G", G, /0x40000000 bytes is not below the system RAM of 0x40000000/, 12],
    ["crashkernel=1G:64M", G, /'-' expected/, 14],
    ["crashkernel=-1G:64M", G, /Memory value expected/, 12],
    ["crashkernel=2G-1G:64M", 4n * G, /end <= start/, 15],
    ["crashkernel=1G-2Gx:64M", 4n * G, /':' expected/, 17],
    ["crashkernel=1G-2G64M", 4n * G, /unrecognized char: -/, 14], // no colon in the token: the simple form
    ["crashkernel=1G-2G:", 4n * G, /Memory value expected/, 18],
    ["crashkernel=512M-:1G", G, /invalid size: 0x40000000 bytes is not below the RAM rounded up to 128 MiB \(0x40000000\)/, 18],
    // Every size read before the match must be below the RAM, even one that does not match.
    ["crashkernel=0-512M:2G,512M-:64M", G, /invalid size/, 19],
    ["crashkernel=2G-:64M", G, /no range holds the system RAM of 0x40000000 bytes/, 12],
    ["crashkernel=0-512M:64M@x", G, /no range holds/, 12],
    ["crashkernel=0-2G:64M@", G, /Memory value expected after '@'/, 21],
    ["crashkernel=0-:2000M", 2000n * M, /not below the system RAM/, 12], // under the rounded 2048 MiB, not under the real RAM
    ["crashkernel=256M,low", 4n * G, /needs a crashkernel=SIZE or crashkernel=SIZE,high/, 12],
    ["crashkernel=64M,cma", 4n * G, /needs a crashkernel=SIZE/, 12],
    ["crashkernel=256M@1G,high", 4n * G, /unrecognized char: @/, 16],
    ["crashkernel=0,high", 4n * G, /reserves nothing/, 12],
    ["crashkernel=512M,high crashkernel=abc,low", 4n * G, /memory value expected/, 34],
    ["crashkernel=8G,high", 4n * G, /not below the system RAM/, 12],
  ] as const)("refuses %j (RAM %s) as the kernel does", (line, ram, message, at) => {
    const e = thrown(() => parseCrashkernel(line, ram));
    expect(e.code).toBe("BAD_CRASHKERNEL");
    expect(e.message).toMatch(message);
    expect(e.where).toBe(at);
    expect(e.hint).toBeTruthy();
  });
});

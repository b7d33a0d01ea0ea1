import { describe, expect, it } from "vitest";
import { reserveCrashKernel, type Range } from "../../toolchain/target/index.js";
import { codeOf as code } from "../_thrown.js";

const MiB = 0x10_0000n;
const GiB = 0x4000_0000n;
const ram = (size: bigint): Range[] => [{ start: GiB, end: GiB + size }];
/** QEMU virt keeps its DTB in the first MiB of RAM. */
const VIRT_DTB_ROM: Range = { start: GiB, end: GiB + MiB };

describe("reserveCrashKernel places crashk_res as arm64 6.1 reserve_crashkernel does", () => {
  const rom = [VIRT_DTB_ROM];
  it.each([
    ["1 GiB, 64M: the top of RAM", ram(GiB), { size: 64n * MiB }, { start: 0x7c00_0000n, end: 0x8000_0000n }],
    ["2 GiB, 256M + 1 byte: page-rounded, 2 MiB-aligned base", ram(2n * GiB), { size: 256n * MiB + 1n }, { start: 0xafe0_0000n, end: 0xbfe0_1000n }],
    ["8 GiB, 256M: below 4 GiB (CRASH_ADDR_LOW_MAX)", ram(8n * GiB), { size: 256n * MiB }, { start: 0xf000_0000n, end: 0x1_0000_0000n }],
    ["SIZE@ADDR: exactly there", ram(GiB), { size: 64n * MiB, base: 0x5000_0000n }, { start: 0x5000_0000n, end: 0x5400_0000n }],
  ] as const)("%s", (_, memory, req, crashKernel) => {
    expect(reserveCrashKernel(memory, rom, req)).toEqual(crashKernel);
  });

  it.each([
    ["a base that is not 2 MiB aligned", ram(GiB), { size: 64n * MiB, base: 0x5010_0000n }, /not 2 MiB aligned/],
    ["a base on a reserved range (QEMU virt's DTB ROM)", ram(GiB), { size: 64n * MiB, base: GiB }, /is not free RAM/],
    ["a base past the end of RAM", ram(GiB), { size: 64n * MiB, base: 0x7e00_0000n }, /is not free RAM/],
    ["more than RAM", ram(GiB), { size: GiB }, /no free/],
    // Measured: Debian's 6.1 kernel, 8 GiB, crashkernel=3584M prints "cannot allocate crashkernel".
    ["8 GiB, 3.5G: no fit below 4 GiB, and 6.1 does not fall back high", ram(8n * GiB), { size: 3584n * MiB }, /below the DMA limit 0x100000000.*does not fall back/],
  ] as const)("refuses %s with NO_FIT", (_, memory, req, message) => {
    expect(() => reserveCrashKernel(memory, rom, req)).toThrow(message);
    expect(code(() => reserveCrashKernel(memory, rom, req))).toBe("NO_FIT");
  });
});

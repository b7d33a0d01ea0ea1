import { beforeAll, describe, expect, it } from "vitest";
import { hex64 } from "../../toolchain/bytes/index.js";
import { build, FLAGS, parseConsole, parseHeader, patch, regionOf } from "../../toolchain/purgatory/index.js";
import { describeRun, runBareMetal, runCounted } from "../../toolchain/qemu/index.js";
import type { BareMetalResult } from "../../toolchain/qemu/index.js";
import { boot, bootRun, dataImages, DTB_AT, hideSha2Shim, KERNEL_AT, PURGATORY_AT, scene, sha256hex, standinReport } from "./_scene.js";
import type { Scene, StandinReport } from "./_scene.js";

// The purgatory's run-time behaviour (purgatory-src/*.S through
// templates/purgatory.S) on an emulated CPU: QEMU virt, cortex-a57, TCG, no
// firmware, CPU 0 started at the purgatory. `virt` starts it at EL1,
// `virt,virtualization=on` at EL2; the stand-in kernel reports the EL it runs at.

const EL1 = "virt" as const;
const EL2 = "virt,virtualization=on" as const;

let s: Scene;
/** What the stand-in kernel sees at each EL when the purgatory changes no system register (flags no_mmu | no_crypto). */
const untouched = new Map<string, StandinReport>();
beforeAll(async () => {
  s = await scene({ policy: "reset" });
  for (const machine of [EL1, EL2]) {
    const r = await boot(s, { machine, blob: patch(s.blob, { flags: FLAGS.no_mmu | FLAGS.no_crypto }) });
    untouched.set(machine, standinReport(r.console)!);
  }
});

// The four paths a CPU with the SHA-256 instructions can take, by flags.
const PATHS = [
  { flags: 0, name: "no flags", line: "with the SHA-256 instructions, caches on" },
  { flags: FLAGS.no_mmu, name: "flag no_mmu", line: "with the SHA-256 instructions, caches off" },
  { flags: FLAGS.no_crypto, name: "flag no_crypto", line: "with scalar SHA-256, caches on" },
  { flags: FLAGS.no_mmu | FLAGS.no_crypto, name: "flags no_mmu, no_crypto", line: "with scalar SHA-256, caches off" },
] as const;
const MATRIX = [EL1, EL2].flatMap((machine) => PATHS.map((p) => ({ machine, ...p, el: machine === EL1 ? 1n : 2n })));

/** Asserts with the console in the message, so a failing run shows what it printed. */
function expectRun(r: BareMetalResult, ok: boolean, what: string): void {
  expect(ok, `${what}\n${describeRun(r)}`).toBe(true);
}

function expectKernelEntered(r: BareMetalResult, el: bigint, line = "with the SHA-256 instructions, caches on"): void {
  const rep = standinReport(r.console);
  expectRun(r, rep !== undefined && !r.timedOut && r.exitCode === 0, "the stand-in kernel must run and power off");
  expect(r.console).toContain(`purgatory: verifying ${s.regions.length} regions ${line}\r\n`);
  expect(r.console).toContain(`purgatory: ok, entering kernel at ${hex64(KERNEL_AT)} with dtb at ${hex64(DTB_AT)}\r\n`);
  expect(rep).toMatchObject({ x0: DTB_AT, x1: 0n, x2: 0n, x3: 0n, el });
  expect(rep!.sctlr & 1n).toBe(0n); // SCTLR.M: MMU off
  expect(rep!.sctlr & 4n).toBe(0n); // SCTLR.C: data cache off
  expect(rep!.daif).toBe(0x3c0n); // D, A, I, F masked
  // SCTLR, TCR, MAIR, TTBR0 and the FP/SIMD trap control as the purgatory found them.
  expect(rep).toEqual({ ...untouched.get(el === 1n ? EL1 : EL2), x0: DTB_AT, x1: 0n, x2: 0n, x3: 0n });
}

describe.each(MATRIX)("purgatory at EL$el, $name: $line", ({ machine, flags, line, el }) => {
  it("verifies every region, says which path it took, and enters the kernel as booting.rst wants it", async () => {
    expectKernelEntered(await boot(s, { machine, blob: patch(s.blob, { flags }) }), el, line);
  }, 60_000);

  it("stops on a flipped byte, names the region and both digests, and resets through PSCI", async () => {
    const i = s.regions.findIndex((x) => x.start === 0x4500_0001n); // the 4 MiB region at an odd address
    const img = s.data.find((d) => d.addr === 0x4500_0001n)!;
    const bytes = img.bytes.slice();
    bytes[3 * 1024 * 1024 + 5]! ^= 0x20;
    const r = await boot(s, { machine, blob: patch(s.blob, { flags }), replace: { addr: img.addr, bytes } });
    expect(r.console).toContain(`purgatory: verifying ${s.regions.length} regions ${line}\r\n`);
    expectMismatch(r, i, bytes);
  }, 60_000);

  it("makes only naturally aligned data accesses, also on regions at odd addresses (counted by a QEMU plugin)", async () => {
    const blob = patch(s.blob, { flags });
    const { result, counts } = await runCounted(bootRun(s, { machine, blob }), PURGATORY_AT, PURGATORY_AT + BigInt(blob.length));
    expectKernelEntered(result, el, line);
    expect(counts.accesses).toBeGreaterThan(100_000n); // the 4 MiB region at an odd address was read
    expect(counts.unaligned).toBe(0n);
  }, 60_000);
});

describe("purgatory at run time (QEMU virt, cortex-a57)", () => {
  it("runs the same bytes at another load address, not page-aligned (position-independent)", async () => {
    expectKernelEntered(await boot(s, { machine: EL1, at: 0x4f00_1230n }), 1n);
  }, 60_000);

  it("takes the scalar SHA-256 on a CPU without the SHA-256 instructions (ID_AA64ISAR0_EL1.SHA2 = 0 under a stand-in hypervisor)", async () => {
    const shim = await hideSha2Shim(PURGATORY_AT);
    expectKernelEntered(await boot(s, { machine: EL2, shim }), 1n, "with scalar SHA-256, caches on");
    const bytes = s.kernel.slice();
    bytes[8]! ^= 0x04;
    const r = await boot(s, { machine: EL2, shim, replace: { addr: KERNEL_AT, bytes } });
    expectMismatch(r, s.regions.findIndex((x) => x.start === KERNEL_AT), bytes);
  }, 60_000);

  it("enters the kernel silently with console none", async () => {
    const r = await boot(s, { machine: EL1, blob: patch(s.blob, { console_kind: "none" }) });
    expectRun(r, standinReport(r.console) !== undefined, "the stand-in kernel must run");
    expect(r.console).not.toContain("purgatory");
  }, 60_000);

  // Every non-empty region (table order: sorted by start), one byte flipped at its first, middle and last byte.
  const lengths = [...dataImages().map((d) => [d.addr, d.bytes.length] as const), [KERNEL_AT, 2] as const] // the stand-in kernel: several bytes
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([, n]) => n);
  const flips = lengths.flatMap((n, region) =>
    n === 0 ? [] : n === 1 ? [[region, "first"] as const] : (["first", "middle", "last"] as const).map((at) => [region, at] as const),
  );

  it.each(flips)("stops on region %i with its %s byte flipped, names it, and resets through PSCI at EL1", async (region, at) => {
    const r0 = s.regions[region]!;
    const img = [...s.data, { addr: KERNEL_AT, bytes: s.kernel }].find((d) => d.addr === r0.start)!;
    const bytes = img.bytes.slice();
    const i = at === "first" ? 0 : at === "middle" ? bytes.length >> 1 : bytes.length - 1;
    bytes[i]! ^= 0x01;
    const r = await boot(s, { machine: EL1, replace: { addr: img.addr, bytes } });
    expectMismatch(r, region, bytes);
  }, 60_000);

  it("resets through PSCI at EL2 too (SMC conduit)", async () => {
    const bytes = s.kernel.slice();
    bytes[100]! ^= 0x80;
    const r = await boot(s, { machine: EL2, replace: { addr: KERNEL_AT, bytes } });
    expectMismatch(r, s.regions.findIndex((x) => x.start === KERNEL_AT), bytes);
  }, 60_000);

  it("spins forever under policy spin: QEMU keeps running and the kernel never starts", async () => {
    const bytes = s.kernel.slice();
    bytes[0]! ^= 0xff;
    const r = await boot(s, { machine: EL1, blob: patch(s.blob, { policy: "spin" }), replace: { addr: KERNEL_AT, bytes }, timeoutMs: 3000 });
    expectRun(r, r.timedOut && r.console.includes("purgatory: halted\r\n"), "the purgatory must halt and stay halted");
    expect(r.console).toContain("sha256 mismatch");
    expect(standinReport(r.console)).toBeUndefined();
  }, 60_000);

  it("refuses a region count larger than the table, without hashing past it", async () => {
    const blob = s.blob.slice();
    const h = parseHeader(blob);
    new DataView(blob.buffer).setUint32(h.region_count_offset, h.region_capacity + 1, true);
    const r = await boot(s, { machine: EL1, blob });
    expectRun(r, !r.timedOut && r.exitCode === 0, "the purgatory must reset");
    expect(r.console).toContain(`purgatory: region count exceeds the region table: ${h.region_capacity + 1}\r\n`);
    expect(standinReport(r.console)).toBeUndefined();
  }, 60_000);
});

// The 8250 driver with shifted (32-bit, stride 4) registers, on the one such
// UART an emulated AArch64 machine has: the Raspberry Pi 3 mini UART (QEMU
// raspi3b, AUX_MU_IO at 0x3f215040, AUX_MU_LSR at +0x14 with THRE in bit 5).
// raspi3b has four cores and no PSCI: CPUs 1-3 start at 0 and wait there,
// and the purgatory (at EL3) runs under policy spin.
describe("purgatory console on an 8250-style UART (QEMU raspi3b mini UART, shift 2)", () => {
  const PARK = new Uint8Array([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]); // wfi; b .-4
  const KERNEL = 0x20_0000n;
  const PURGATORY = 0x10_0000n;

  async function raspi(flip: boolean): Promise<BareMetalResult> {
    const built = await build({ console: parseConsole("8250@0x3f215040,shift=2") });
    const blob = patch(built.blob, { kernel_entry: KERNEL, dtb_addr: 0x30_0000n, regions: [regionOf(KERNEL, PARK)] });
    const loaded = flip ? new Uint8Array([PARK[0]! ^ 1, ...PARK.subarray(1)]) : PARK; // the "kernel" is the same loop
    return runBareMetal({
      machine: "raspi3b",
      cpu: "cortex-a53",
      memory: "1G",
      uart: 1,
      images: [{ addr: 0n, bytes: PARK }, { addr: KERNEL, bytes: loaded }, { addr: PURGATORY, bytes: blob }],
      entry: PURGATORY,
      timeoutMs: 20_000,
      until: (c) => (flip ? /halted\r\n/ : /entering kernel .*\r\n/).test(c), // whole lines: the UART may still be sending
    });
  }

  it("prints the progress lines through the 8250 path", async () => {
    const r = await raspi(false);
    expectRun(r, r.stopped, "the purgatory must reach the kernel jump");
    expect(r.console).toBe(
      "purgatory: caches stay off: not at EL1 or EL2\r\n" + // raspi3b starts at EL3
        "purgatory: verifying 1 regions with the SHA-256 instructions, caches off\r\n" +
        "purgatory: ok, entering kernel at 0x0000000000200000 with dtb at 0x0000000000300000\r\n",
    );
  }, 60_000);

  it("prints a mismatch report through the 8250 path", async () => {
    const r = await raspi(true);
    expectRun(r, r.stopped, "the purgatory must halt");
    expect(r.console).toMatch(/region 0 at 0x0000000000200000, length 0x0000000000000008: sha256 mismatch\r\n {2}expected [0-9a-f]{64}\r\n {2}actual {3}[0-9a-f]{64}\r\npurgatory: halted\r\n$/);
  }, 60_000);
});

/** The mismatch report names the region (table index, start, length) and both digests, then PSCI resets. */
function expectMismatch(r: BareMetalResult, index: number, actual: Uint8Array): void {
  const region = s.regions[index]!;
  expectRun(r, !r.timedOut && r.exitCode === 0 && !r.console.includes("halted"), "the purgatory must reset through PSCI");
  expect(standinReport(r.console)).toBeUndefined();
  expect(r.console).toContain(
    `purgatory: region ${index} at ${hex64(region.start)}, length ${hex64(region.length)}: sha256 mismatch\r\n` +
      `  expected ${Buffer.from(region.sha256).toString("hex")}\r\n` +
      `  actual   ${sha256hex(actual)}\r\n` +
      "purgatory: resetting (PSCI SYSTEM_RESET)\r\n",
  );
}

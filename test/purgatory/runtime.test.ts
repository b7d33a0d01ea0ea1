import { beforeAll, describe, expect, it } from "vitest";
import { hex64 } from "../../toolchain/bytes/index.js";
import { getAssembler } from "../../toolchain/asm/index.js";
import { build, FLAGS, parseConsole, parseHeader, patch, regionOf } from "../../toolchain/purgatory/index.js";
import type { PatchValues } from "../../toolchain/purgatory/index.js";
import { describeRun, runBareMetal, runCounted } from "../../toolchain/qemu/index.js";
import type { BareMetalResult } from "../../toolchain/qemu/index.js";
import { boot, bootRun, dataImages, DTB_AT, hideSha2Shim, KERNEL_AT, prestage, PURGATORY_AT, scene, sha256hex, standinReport } from "./_scene.js";
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
  expect(rep!.vbar).toBe(0n); // QEMU's reset value, which the purgatory replaced with its own vectors while it ran
  // SCTLR, TCR, MAIR, TTBR0, VBAR and the FP/SIMD trap control as the purgatory found them.
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
  it("runs the same bytes at another load address, not page-aligned (position-independent), without its vectors", async () => {
    const r = await boot(s, { machine: EL1, at: 0x4f00_1230n });
    expectKernelEntered(r, 1n);
    expect(r.console).toContain("purgatory: no exception vectors: the load address is not 2 KiB aligned\r\n");
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

// The 8250 driver with shifted 32-bit registers (reg-shift 2, reg-io-width 4),
// on the one such UART an emulated AArch64 machine has: the Raspberry Pi 3
// mini UART (QEMU raspi3b, brcm,bcm2835-aux-uart: AUX_MU_IO at 0x3f215040,
// AUX_MU_LSR at +0x14 with THRE in bit 5). raspi3b has four cores and no
// PSCI: CPUs 1-3 start at 0 and wait there, and the purgatory (at EL3) runs
// under policy spin.
describe("purgatory console on an 8250-style UART (QEMU raspi3b mini UART, shift 2, width 4)", () => {
  const PARK = new Uint8Array([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]); // wfi; b .-4
  const KERNEL = 0x20_0000n;
  const PURGATORY = 0x10_0000n;

  async function raspi(flip: boolean): Promise<BareMetalResult> {
    const built = await build({ console: parseConsole("8250@0x3f215040,shift=2,width=4") });
    const blob = patch(built.blob, { kernel_entry: KERNEL, dtb_addr: 0x30_0000n, regions: [regionOf(KERNEL, PARK)], segment_memsz: built.memsz });
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

/** The scene's blob with `values` patched in and the raw u32/u64 writes `raw` on top (for slot values patch refuses). */
function variantOf(values: PatchValues, raw: (blob: Uint8Array, view: DataView, h: ReturnType<typeof parseHeader>) => void = () => undefined): Uint8Array {
  const blob = patch(s.blob, values);
  raw(blob, new DataView(blob.buffer), parseHeader(blob));
  return blob;
}

/** The scene's kernel with one byte flipped (a mismatch on the kernel's region). */
function flippedKernel(): { addr: bigint; bytes: Uint8Array } {
  const bytes = s.kernel.slice();
  bytes[12]! ^= 0x10;
  return { addr: KERNEL_AT, bytes };
}

const HALTED = (c: string) => c.includes("purgatory: halted\r\n");

describe("VBAR", () => {
  it.each([
    [EL1, 1n],
    [EL2, 2n],
  ] as const)("on %s, the VBAR a previous kernel left is the one the kernel finds (the purgatory points it at its own vectors meanwhile)", async (machine, el) => {
    const theirs = 0x4016_0800n; // 2 KiB aligned, as VBAR must be
    const pre = await prestage("prestage_vbar", PURGATORY_AT, undefined, theirs);
    const r = await boot(s, { machine, prestage: pre });
    const rep = standinReport(r.console);
    expectRun(r, rep !== undefined && r.exitCode === 0, "the stand-in kernel must run and power off");
    expect(rep).toMatchObject({ el, vbar: theirs, x0: DTB_AT });
  }, 60_000);
});

describe("refusing to run unpatched (slot patched)", () => {
  it("refuses a blob no loader patched, says why, and applies the policy instead of jumping to 0", async () => {
    const spin = await boot(s, { machine: EL1, blob: (await build()).blob, until: HALTED, timeoutMs: 20_000 });
    expectRun(spin, spin.stopped, "the purgatory must halt");
    expect(spin.console).toBe(
      "purgatory: refusing to run: not patched by a loader (slot patched, region_count)\r\npurgatory: halted\r\n",
    );
    const reset = await boot(s, { machine: EL1, blob: (await build({ policy: "reset" })).blob });
    expectRun(reset, !reset.timedOut && reset.exitCode === 0, "the purgatory must reset");
    expect(reset.console).toMatch(/^purgatory: refusing to run: .*\r\npurgatory: resetting \(PSCI SYSTEM_RESET\)\r\n$/);
  }, 60_000);

  it("refuses a patched blob whose patched slot was cleared behind patch's back", async () => {
    const blob = variantOf({}, (_, v, h) => v.setBigUint64(h.patched_offset, 0n, true));
    const r = await boot(s, { machine: EL1, blob });
    expectRun(r, r.exitCode === 0 && r.console.startsWith("purgatory: refusing to run"), "the purgatory must refuse, and reset (the scene's policy)");
    expect(standinReport(r.console)).toBeUndefined();
  }, 60_000);
});

// The exception vectors (purgatory-src/vectors.S): a forced abort is reported
// with its exception class, ESR, FAR and ELR, then the policy applies.
// QEMU virt answers an access to an address with nothing behind it with a
// synchronous external abort (EC 0x25 at the same EL, DFSC 0x10).
describe.each([
  [EL1, 1],
  [EL2, 2],
] as const)("the purgatory's exception vectors on %s", (machine, el) => {
  const PAST_RAM = 0x7000_0000n; // virt's 512 MiB of RAM end at 0x60000000

  it("reports an abort on a region past RAM (read with the caches on) and resets", async () => {
    const regions = [...s.regions, regionOf(PAST_RAM, new Uint8Array(64))];
    const r = await boot(s, { machine, blob: variantOf({ regions }) });
    expectRun(r, !r.timedOut && r.exitCode === 0, "the purgatory must reset");
    expect(r.console).toContain(`regions with the SHA-256 instructions, caches on\r\n`);
    const m = new RegExp(
      `purgatory: synchronous exception at EL${el}: EC 0x25, ESR 0x([0-9a-f]{16}), FAR 0x0*${PAST_RAM.toString(16)}, ELR 0x([0-9a-f]{16}) \\(purgatory\\+0x([0-9a-f]+)\\)\\r\\n` +
        "purgatory: resetting \\(PSCI SYSTEM_RESET\\)\\r\\n$",
    ).exec(r.console);
    expectRun(r, m !== null, "the exception report");
    expect(BigInt(`0x${m![1]}`) & 0x3fn).toBe(0x10n); // DFSC: synchronous external abort
    const offset = Number(`0x${m![3]}`);
    expect(BigInt(`0x${m![2]}`)).toBe(PURGATORY_AT + BigInt(offset));
    const labels = s.built.assembly.labels;
    expect(offset).toBeGreaterThanOrEqual(labels.get("sha256_ce")!); // a load of the hashing routine
    expect(offset).toBeLessThan(labels.get("purgatory_mmu_build")!);
    expect(standinReport(r.console)).toBeUndefined();
  }, 60_000);

  it("survives a console that faults: the report faults too, the console is dropped, and the policy still resets", async () => {
    const blob = variantOf({ console_kind: "pl011", console_base: PAST_RAM });
    const r = await boot(s, { machine, blob, extraArgs: ["-d", "int"] });
    expectRun(r, !r.timedOut && r.exitCode === 0 && r.console === "", "the purgatory must reset, silently");
    const aborts = [...r.stderr.matchAll(/Taking exception 4 \[Data Abort\][^\n]*\n\.\.\.from EL(\d) to EL(\d)\n\.\.\.with ESR [^\n]*\n\.\.\.with FAR (\w+)/g)];
    expect(aborts.map((a) => [a[1], a[2], a[3]]), r.stderr.slice(0, 3000)).toEqual([
      [String(el), String(el), "0x70000018"], // UARTFR, first character of the first line
      [String(el), String(el), "0x70000018"], // the same, in the exception report
    ]);
    expect(r.stderr).toContain("...handled as PSCI call");
  }, 60_000);
});

describe("SError", () => {
  it("takes a virtual SError pending for EL1 once it unmasks SError to hash, reports it and resets over the slot's conduit", async () => {
    // prestage_serror leaves EL2 with HCR_EL2.AMO and VSE set; the purgatory runs at EL1 and resets over SMC (QEMU's PSCI with virtualization=on).
    const pre = await prestage("prestage_serror", PURGATORY_AT);
    const r = await boot(s, { machine: EL2, prestage: pre, blob: variantOf({ psci: "smc" }) });
    expectRun(r, !r.timedOut && r.exitCode === 0, "the purgatory must reset");
    expect(r.console).toMatch(
      /purgatory: verifying \d+ regions with the SHA-256 instructions, caches on\r\npurgatory: SError exception at EL1: EC 0x2f, ESR 0x[0-9a-f]{16}, FAR 0x[0-9a-f]{16}, ELR 0x[0-9a-f]{16} \(purgatory\+0x[0-9a-f]+\)\r\npurgatory: resetting \(PSCI SYSTEM_RESET\)\r\n$/,
    );
  }, 60_000);
});

// PSCI SYSTEM_RESET through the conduit in slot psci. QEMU virt answers HVC
// without virtualization (EL1, no EL2 or EL3 below it) and SMC with it (EL2).
describe("the PSCI conduit comes from slot psci", () => {
  it.each([
    ["hvc at EL1", EL1, "hvc"],
    ["smc at EL2", EL2, "smc"],
    ["auto (HVC) at EL1", EL1, "auto"],
    ["auto (SMC) at EL2", EL2, "auto"],
  ] as const)("resets with %s", async (_, machine, psci) => {
    const r = await boot(s, { machine, blob: variantOf({ psci }), replace: flippedKernel() });
    expectMismatch(r, s.regions.findIndex((x) => x.start === KERNEL_AT), flippedKernel().bytes);
  }, 60_000);

  it("reports the exception of an SMC that nothing answers (EL1 with no EL2 or EL3: undefined), and halts", async () => {
    const r = await boot(s, { machine: EL1, blob: variantOf({ psci: "smc" }), replace: flippedKernel(), until: HALTED, timeoutMs: 20_000 });
    expectRun(r, r.stopped, "the purgatory must halt");
    expect(r.console).toMatch(
      /purgatory: resetting \(PSCI SYSTEM_RESET\)\r\npurgatory: synchronous exception at EL1: EC 0x00, .*\(purgatory\+0x[0-9a-f]+\)\r\npurgatory: halted\r\n$/,
    );
  }, 60_000);

  it.each([
    ["hvc at EL2 (it would trap to EL2 itself)", EL2, 1],
    ["none (written behind patch's back: patch refuses reset without PSCI)", EL1, 0],
  ] as const)("says it cannot reset with %s, and halts", async (_, machine, conduit) => {
    const blob = variantOf({}, (_b, v, h) => v.setUint32(h.psci_offset, conduit, true));
    const r = await boot(s, { machine, blob, replace: flippedKernel(), until: HALTED, timeoutMs: 20_000 });
    expectRun(r, r.stopped, "the purgatory must halt");
    expect(r.console).toContain("sha256 mismatch");
    expect(r.console).toMatch(/purgatory: cannot reset: no PSCI conduit that leaves this exception level \(slot psci\)\r\npurgatory: halted\r\n$/);
  }, 60_000);
});

describe("with no console", () => {
  it("spins silently on a mismatch under policy spin (QEMU keeps running)", async () => {
    const r = await boot(s, { machine: EL1, blob: variantOf({ console_kind: "none", policy: "spin" }), replace: flippedKernel(), timeoutMs: 4000 });
    expectRun(r, r.timedOut && r.console === "", "the purgatory must spin, silently");
  }, 60_000);

  it("resets silently on a mismatch under policy reset (QEMU exits through PSCI)", async () => {
    const r = await boot(s, { machine: EL1, blob: variantOf({ console_kind: "none" }), replace: flippedKernel() });
    expectRun(r, !r.timedOut && r.exitCode === 0 && r.console === "", "the purgatory must reset, silently");
  }, 60_000);
});

// Every wait on a UART status bit is bounded: a UART that never gets ready
// (here: RAM made to look like one, its status bits stuck) costs one bounded
// delay, then the purgatory stops writing to it and carries on.
describe("a UART that never gets ready", () => {
  const FAKE = 0x5000_0000n;
  it.each([
    ["pl011 (UARTFR.TXFF stuck at 1)", "pl011", 0xff],
    ["8250 (LSR.THRE stuck at 0)", "8250", 0x00],
    ["cadence (SR.TXFULL stuck at 1)", "cadence", 0xff],
  ] as const)("%s: costs a bounded wait, then the purgatory enters the kernel without its messages", async (_, kind, fill) => {
    const blob = variantOf({ console_kind: kind, console_base: FAKE });
    const run = bootRun(s, { machine: EL1, blob });
    const { result, counts } = await runCounted({ ...run, images: [...run.images, { addr: FAKE, bytes: new Uint8Array(0x100).fill(fill) }] }, PURGATORY_AT, PURGATORY_AT + BigInt(blob.length));
    expectRun(result, standinReport(result.console) !== undefined && !result.console.includes("purgatory"), "the stand-in kernel must run, the purgatory stay silent");
    // One character's worth of polling (16384 polls) and no more: hashing the scene takes millions of instructions more than that.
    const quiet = await runCounted(bootRun(s, { machine: EL1, blob: variantOf({ console_kind: "none" }) }), PURGATORY_AT, PURGATORY_AT + BigInt(blob.length));
    const extra = counts.icount - quiet.counts.icount;
    expect(extra).toBeGreaterThan(16_384n * 3n);
    expect(extra).toBeLessThan(16_384n * 8n);
  }, 120_000);
});

// Cadence: QEMU xlnx-zcu102 (Cortex-A53, RAM at 0, UART0 = cdns,uart-r1p12 at
// 0xff000000). Without secure=on or virtualization=on it starts the CPU at
// EL1 and answers PSCI over SMC from EL1 (no EL2 or EL3 is emulated, so an
// HVC there is undefined). prestage_cadence enables the UART's transmitter
// as firmware would. The "kernel" is PSCI SYSTEM_OFF over SMC.
describe("purgatory console on a Cadence UART, PSCI over SMC at EL1 (QEMU xlnx-zcu102)", () => {
  const KERNEL = 0x20_0000n;
  const PURGATORY = 0x10_0000n;
  const PRESTAGE = 0x8_0000n;

  async function zcu102(flip: boolean, psci: "smc" | "auto"): Promise<BareMetalResult> {
    const off = (await (await getAssembler()).assemble("movz w0, #0x8400, lsl #16\nmovk w0, #0x0008\nsmc #0\nb .")).bytes;
    const built = await build({ console: parseConsole("cadence@0xff000000"), policy: "reset", psci });
    const blob = patch(built.blob, { kernel_entry: KERNEL, dtb_addr: 0x30_0000n, regions: [regionOf(KERNEL, off)], segment_memsz: built.memsz });
    const pre = await prestage("prestage_cadence", PURGATORY, PRESTAGE);
    const loaded = flip ? new Uint8Array([off[0]! ^ 1, ...off.subarray(1)]) : off;
    return runBareMetal({
      machine: "xlnx-zcu102",
      cpu: "cortex-a53",
      memory: "512M",
      images: [{ addr: KERNEL, bytes: loaded }, { addr: PURGATORY, bytes: blob }, pre.image],
      entry: pre.entry,
      timeoutMs: 30_000,
      extraArgs: ["-smp", "1"],
      ...(flip && psci === "auto" ? { until: HALTED } : {}),
    });
  }

  it("prints the progress lines through the Cadence driver and enters the kernel, which powers off over SMC", async () => {
    const r = await zcu102(false, "smc");
    expectRun(r, !r.timedOut && r.exitCode === 0, "the kernel must power the machine off");
    expect(r.console).toBe(
      "purgatory: verifying 1 regions with the SHA-256 instructions, caches on\r\n" +
        "purgatory: ok, entering kernel at 0x0000000000200000 with dtb at 0x0000000000300000\r\n",
    );
  }, 60_000);

  it("reports a mismatch through the Cadence driver and resets over SMC from EL1, as slot psci says", async () => {
    const r = await zcu102(true, "smc");
    expectRun(r, !r.timedOut && r.exitCode === 0, "the purgatory must reset");
    expect(r.console).toMatch(/region 0 at 0x0000000000200000, length 0x0000000000000010: sha256 mismatch\r\n.*\r\n.*\r\npurgatory: resetting \(PSCI SYSTEM_RESET\)\r\n$/);
  }, 60_000);

  it("with psci auto would use HVC at EL1: undefined on this board, reported, and the purgatory halts", async () => {
    const r = await zcu102(true, "auto");
    expectRun(r, r.stopped, "the purgatory must halt");
    expect(r.console).toMatch(/purgatory: resetting \(PSCI SYSTEM_RESET\)\r\npurgatory: synchronous exception at EL1: EC 0x00, .*\r\npurgatory: halted\r\n$/);
  }, 60_000);
});

// A real 16550 with byte registers (reg-shift 0, reg-io-width 1): QEMU's
// pci-serial on virt, enumerated by prestage_pci_16550, its registers in the
// PCI I/O window at 0x3eff1000. The stand-in kernel prints on the PL011,
// which is not connected here; it powers off.
describe("purgatory console on a 16550 with byte registers (QEMU virt, pci-serial)", () => {
  it("prints the progress lines through the 8250 driver", async () => {
    const pre = await prestage("prestage_pci_16550", PURGATORY_AT);
    const blob = variantOf({ console_kind: "8250", console_base: 0x3eff_1000n, console_shift: 0, console_width: 1 });
    const r = await runBareMetal({ ...bootRun(s, { machine: EL1, blob, prestage: pre }), uart: 1, extraArgs: ["-device", "pci-serial,chardev=serial1,addr=01.0"] });
    expectRun(r, !r.timedOut && r.exitCode === 0, "the stand-in kernel must power off");
    expect(r.console).toBe(
      `purgatory: verifying ${s.regions.length} regions with the SHA-256 instructions, caches on\r\n` +
        `purgatory: ok, entering kernel at ${hex64(KERNEL_AT)} with dtb at ${hex64(DTB_AT)}\r\n`,
    );
  }, 60_000);
});

// VHE: QEMU starts EL2 with HCR_EL2.E2H = 0; prestage_vhe sets E2H (and TGE,
// RW), as a kernel that runs its host at EL2 leaves them when it kexecs. The
// CPU is `max` (FEAT_VHE). The fast path then runs in the EL2&0 regime.
describe("purgatory at EL2 with HCR_EL2.E2H = 1 (VHE, QEMU -cpu max)", () => {
  const E2H = 1n << 34n;
  const TGE = 1n << 27n;
  let untouchedVhe: StandinReport;
  beforeAll(async () => {
    const pre = await prestage("prestage_vhe", PURGATORY_AT);
    const r = await boot(s, { machine: EL2, cpu: "max", prestage: pre, blob: variantOf({ flags: FLAGS.no_mmu | FLAGS.no_crypto }) });
    untouchedVhe = standinReport(r.console)!;
  }, 60_000);

  it("hashes with the SHA-256 instructions and the caches on, and enters the kernel with every register as found", async () => {
    const pre = await prestage("prestage_vhe", PURGATORY_AT);
    const r = await boot(s, { machine: EL2, cpu: "max", prestage: pre });
    const rep = standinReport(r.console);
    expectRun(r, rep !== undefined && !r.timedOut && r.exitCode === 0, "the stand-in kernel must run and power off");
    expect(r.console).toContain(`purgatory: verifying ${s.regions.length} regions with the SHA-256 instructions, caches on\r\n`);
    expect(rep!.el).toBe(2n);
    expect(rep!.hcr & (E2H | TGE)).toBe(E2H | TGE); // still VHE: the purgatory ran with E2H = 1
    expect(rep!.sctlr & 5n).toBe(0n); // M and C off
    expect(rep!.vbar).toBe(0n);
    expect(untouchedVhe.hcr & E2H).toBe(E2H);
    expect(rep).toEqual({ ...untouchedVhe, x0: DTB_AT, x1: 0n, x2: 0n, x3: 0n });
  }, 60_000);

  it("still stops on a mismatch and resets (SMC at EL2)", async () => {
    const pre = await prestage("prestage_vhe", PURGATORY_AT);
    const r = await boot(s, { machine: EL2, cpu: "max", prestage: pre, replace: flippedKernel() });
    expectMismatch(r, s.regions.findIndex((x) => x.start === KERNEL_AT), flippedKernel().bytes);
  }, 60_000);
});

import { beforeAll, describe, expect, it } from "vitest";
import { getAssembler } from "../../toolchain/asm/index.js";
import { build, patch, regionOf } from "../../toolchain/purgatory/index.js";
import type { Build, Region } from "../../toolchain/purgatory/index.js";
import { describeRun, runBareMetal } from "../../toolchain/qemu/index.js";
import type { BareMetalResult, Image } from "../../toolchain/qemu/index.js";
import { boot, DTB_AT, KERNEL_AT, prestage, PURGATORY_AT, scene, standinReport } from "./_scene.js";
import type { Scene } from "./_scene.js";

// purgatory-src/mmu.S on QEMU virt (cortex-a57): the identity map it builds,
// read back from guest memory after the purgatory has entered the kernel and
// walked here independently (Arm ARM D8, 4 KiB granule, 48-bit addresses);
// proof that hashing goes through it; and the fallbacks to caches off.

const EL1 = "virt" as const;
const EL2 = "virt,virtualization=on" as const;
const PAGE = 4096n;
const PARK = new Uint8Array([0x7f, 0x20, 0x03, 0xd5, 0xff, 0xff, 0xff, 0x17]); // wfi; b .-4

let s: Scene;
beforeAll(async () => {
  s = await scene({ policy: "reset" });
});

/** One translation: the leaf's level, its output address for `va`, and its attributes. */
interface Leaf {
  readonly level: number;
  readonly pa: bigint;
  readonly attrIndx: number;
  readonly sh: number;
  readonly ap: number;
  readonly af: boolean;
  /** Execute-never for the purgatory's EL: PXN (bit 53) at EL1, XN (bit 54) at EL2. */
  readonly xn: boolean;
  readonly uxn: boolean;
}

/** Walks the tables in `pool` (guest memory from `poolAt`) from the level-0 table at `ttbr0`; undefined when `va` is not mapped. */
function walk(pool: Uint8Array, poolAt: bigint, ttbr0: bigint, va: bigint, el: 1 | 2): Leaf | undefined {
  const view = new DataView(pool.buffer, pool.byteOffset, pool.byteLength);
  let table = ttbr0;
  for (let level = 0; level <= 3; level++) {
    const shift = 39n - 9n * BigInt(level);
    const at = table + ((va >> shift) & 511n) * 8n - poolAt;
    expect(at >= 0n && at + 8n <= BigInt(pool.length), `table at ${table.toString(16)} lies outside the pool`).toBe(true);
    const d = view.getBigUint64(Number(at), true);
    if ((d & 1n) === 0n) return undefined;
    const isTable = (d & 3n) === 3n && level < 3;
    if (isTable) {
      table = d & 0xffff_ffff_f000n;
      continue;
    }
    expect(level === 3 ? (d & 3n) === 3n : level >= 1, `level ${level} descriptor ${d.toString(16)}`).toBe(true);
    const size = 1n << shift;
    const base = d & 0xffff_ffff_f000n & ~(size - 1n);
    return {
      level,
      pa: base + (va & (size - 1n)),
      attrIndx: Number((d >> 2n) & 7n),
      sh: Number((d >> 8n) & 3n),
      ap: Number((d >> 6n) & 3n),
      af: ((d >> 10n) & 1n) === 1n,
      xn: ((d >> (el === 1 ? 53n : 54n)) & 1n) === 1n,
      uxn: ((d >> 54n) & 1n) === 1n,
    };
  }
  return undefined;
}

const pagesOf = (start: bigint, length: bigint): [bigint, bigint] => [start & ~(PAGE - 1n), (start + length + PAGE - 1n) & ~(PAGE - 1n)];

// At EL2 with HCR_EL2.E2H = 1 (VHE: QEMU -cpu max, HCR_EL2.E2H set by
// fixtures/prestage.S) the map is built in the EL2&0 regime's layout, the
// EL1 one: AP[2:1] = 00 and PXN (bit 53) as execute-never, as at EL1.
describe.each([
  ["virt (EL1)", EL1, 1, undefined],
  ["virt,virtualization=on (EL2)", EL2, 2, undefined],
  ["virt,virtualization=on -cpu max, HCR_EL2.E2H = 1 (EL2 with VHE)", EL2, 1, "max"],
] as const)("the identity map on %s (read back from guest memory and walked here)", (_name, machine, el, cpu) => {
  let b: Build;
  let pool: Uint8Array;
  let poolAt: bigint;
  let r: BareMetalResult;
  beforeAll(async () => {
    b = s.built;
    poolAt = PURGATORY_AT + BigInt(b.blob.length);
    const size = Number(b.memsz) - b.blob.length;
    // The kernel is a wfi loop here, so QEMU is still running when the memory is read.
    const blob = patch(s.blob, { kernel_entry: KERNEL_AT, regions: [...s.data.map((d) => regionOf(d.addr, d.bytes)), regionOf(KERNEL_AT, PARK)] });
    const pre = cpu === undefined ? undefined : await prestage("prestage_vhe", PURGATORY_AT);
    const images = [{ addr: KERNEL_AT, bytes: PARK }, ...s.data, { addr: PURGATORY_AT, bytes: blob }, ...(pre ? [pre.image] : [])];
    r = await runBareMetal({
      machine, images, entry: pre?.entry ?? PURGATORY_AT, timeoutMs: 30_000, ...(cpu ? { cpu } : {}),
      until: (c) => c.includes("entering kernel"), dump: [{ addr: poolAt, size }],
    });
    pool = r.dumps?.[0] ?? new Uint8Array(0);
  }, 60_000);

  const regions = (): Region[] => [...s.data.map((d) => regionOf(d.addr, d.bytes)), regionOf(KERNEL_AT, PARK)];
  const ttbr0 = (): bigint => poolAt; // the level-0 table is the pool's first page

  it("was read back after the purgatory verified every region with the caches on", () => {
    expect(r.console, describeRun(r)).toContain("regions with the SHA-256 instructions, caches on\r\n");
    expect(pool.length).toBe(Number(b.memsz) - b.blob.length);
  });

  it("maps every page of every region to itself: Normal write-back (Attr1), inner shareable, accessed, read/write, execute-never", () => {
    for (const g of regions().filter((x) => x.length > 0n)) {
      const [lo, hi] = pagesOf(g.start, g.length);
      for (let va = lo; va < hi; va += PAGE) {
        const leaf = walk(pool, poolAt, ttbr0(), va, el);
        expect(leaf, `region page ${va.toString(16)}`).toMatchObject({ pa: va, attrIndx: 1, sh: 3, ap: el === 1 ? 0 : 1, af: true, xn: true });
        if (el === 1) expect(leaf!.uxn).toBe(true);
      }
    }
  });

  it("maps the purgatory's memory (blob and pool) to itself, Normal and executable", () => {
    for (let va = PURGATORY_AT; va < PURGATORY_AT + b.memsz; va += PAGE) {
      expect(walk(pool, poolAt, ttbr0(), va, el), `purgatory page ${va.toString(16)}`).toMatchObject({ pa: va, attrIndx: 1, ap: el === 1 ? 0 : 1, af: true, xn: false });
    }
  });

  it("uses 2 MiB blocks inside a region and pages only at its ragged ends", () => {
    // The 4 MiB + 13 bytes at 0x45000001 take the pages 0x45000000..0x45401000: two whole 2 MiB blocks and one page.
    expect(walk(pool, poolAt, ttbr0(), 0x4500_0000n, el)?.level).toBe(2);
    expect(walk(pool, poolAt, ttbr0(), 0x4520_0000n, el)?.level).toBe(2);
    expect(walk(pool, poolAt, ttbr0(), 0x4540_0000n, el)?.level).toBe(3);
    expect(walk(pool, poolAt, ttbr0(), DTB_AT, el)?.level).toBe(3); // 3,000 bytes
  });

  it("leaves everything else in the span Device-nGnRnE and execute-never: the neighbours of each range, the UART, the rest of RAM", () => {
    const normal = [...regions().filter((x) => x.length > 0n).map((g) => pagesOf(g.start, g.length)), [PURGATORY_AT, PURGATORY_AT + b.memsz] as [bigint, bigint]];
    const inNormal = (va: bigint): boolean => normal.some(([lo, hi]) => va >= lo && va < hi);
    const probes = [0x0900_0000n, 0x4000_0000n, 0x5fff_f000n, 0x8000_0000n, ...normal.flatMap(([lo, hi]) => [lo - PAGE, hi])];
    for (let va = 0x4000_0000n; va < 0x6000_0000n; va += 0x7_3000n) probes.push(va); // every ~460 KiB of RAM
    for (const va of probes.filter((x) => !inNormal(x))) {
      expect(walk(pool, poolAt, ttbr0(), va, el), `page ${va.toString(16)}`).toMatchObject({ pa: va, attrIndx: 0, af: true, xn: true });
    }
  });

  it("maps nothing outside the 512 GiB spans it touches", () => {
    expect(walk(pool, poolAt, ttbr0(), 1n << 39n, el)).toBeUndefined();
    expect(walk(pool, poolAt, ttbr0(), 0xffff_ffff_f000n, el)).toBeUndefined();
  });
});

/** The default purgatory (policy reset) with the first source line of `file` that contains `find` replaced (tests only). */
async function variant(file: string, find: string, replacement: string): Promise<{ bytes: Uint8Array; memsz: bigint }> {
  const b = await build({ policy: "reset" });
  const i = b.source.findIndex((l) => l.file === file && l.text.includes(find));
  expect(i, `${file} has no line with ${find}`).toBeGreaterThanOrEqual(0);
  const lines = b.source.map((l, j) => (j === i ? { ...l, text: replacement } : l));
  return { bytes: (await (await getAssembler()).assemble(lines)).bytes, memsz: b.memsz };
}

describe("hashing through the map", () => {
  it.each([EL1, EL2])("faults on the first read of a region on %s when mmu.S is edited to map regions without the access flag", async (machine) => {
    // Region leaves become 0x300: inner shareable, AttrIndx 0, AF clear, so any access through them faults (Arm ARM D8.5, Access flag fault).
    const edited = await variant("purgatory-src/mmu.S", "mov\tx2, #0x704", "\tmov\tx2, #0x300");
    const blob = patch(edited.bytes, { kernel_entry: KERNEL_AT, dtb_addr: DTB_AT, regions: s.regions, segment_memsz: edited.memsz });
    const r = await boot(s, { machine, blob, extraArgs: ["-d", "int"] });
    expect(r.console).toContain("caches on\r\n");
    expect(standinReport(r.console), describeRun(r)).toBeUndefined();
    const first = /Taking exception 4 \[Data Abort\][^\n]*\n\.\.\.from EL(\d) to EL(\d)\n\.\.\.with ESR (\w+)\/(\w+)\n\.\.\.with FAR (\w+)/.exec(r.stderr);
    expect(first, r.stderr.slice(0, 2000)).not.toBeNull();
    const el = machine === EL1 ? "1" : "2";
    const far = `0x${s.regions[0]!.start.toString(16)}`;
    expect([first![1], first![2], first![5]]).toEqual([el, el, far]);
    expect(Number(first![4]) & 0x3c).toBe(0x08); // DFSC 0b0010xx: Access flag fault
    // The purgatory's vectors report the same fault, with the caches off again, and reset.
    expect(r.console).toMatch(new RegExp(`purgatory: synchronous exception at EL${el}: EC 0x25, ESR 0x0*${first![4]!.replace(/^0x/, "")}, FAR 0x0*${far.slice(2)}, `));
    expect(r.console).toContain("purgatory: resetting (PSCI SYSTEM_RESET)\r\n");
    expect(r.exitCode).toBe(0);
  }, 60_000);
});

describe("empty regions", () => {
  it.each([EL1, EL2])("hashes an empty region at an odd, unmapped address without touching memory, on %s", async (machine) => {
    const empty = regionOf(0x80_0000_0003n, new Uint8Array(0)); // 512 GiB + 3: no table maps it
    for (const flags of [0, 1]) {
      const blob = patch(s.blob, { kernel_entry: KERNEL_AT, dtb_addr: DTB_AT, regions: [...s.regions, empty], flags });
      const r = await boot(s, { machine, blob });
      expect(r.console, describeRun(r)).toContain(`purgatory: verifying ${s.regions.length + 1} regions with the SHA-256 instructions`);
      expect(standinReport(r.console)).toMatchObject({ x0: DTB_AT });
    }
  }, 60_000);
});

describe("falling back to caches off", () => {
  async function run(blob: Uint8Array, data: readonly Image[] = s.data): Promise<BareMetalResult> {
    const images = [{ addr: KERNEL_AT, bytes: s.kernel }, ...data, { addr: PURGATORY_AT, bytes: blob }];
    return runBareMetal({ machine: EL1, images, entry: PURGATORY_AT, timeoutMs: 30_000 });
  }

  it.each([0, 3])("says the page-table pool is too small (%i tables), hashes with the caches off, and enters the kernel", async (pageTables) => {
    const b = await build({ policy: "reset", pageTables });
    expect(b.memsz).toBe(BigInt(b.blob.length + pageTables * 4096));
    const r = await run(patch(b.blob, { kernel_entry: KERNEL_AT, dtb_addr: DTB_AT, regions: s.regions, segment_memsz: b.memsz }));
    expect(r.console, describeRun(r)).toContain(
      "purgatory: caches stay off: the page-table pool is too small (build with more page tables)\r\n" +
        `purgatory: verifying ${s.regions.length} regions with the SHA-256 instructions, caches off\r\n`,
    );
    expect(standinReport(r.console)).toMatchObject({ x0: DTB_AT, el: 1n });
  }, 60_000);

  it("refuses to build tables over a region that lies in the purgatory's memory, and still verifies it", async () => {
    const b = await build({ policy: "reset" });
    const inPool = { addr: PURGATORY_AT + BigInt(b.blob.length) + 0x3000n, bytes: new Uint8Array(5000).fill(0x5a) };
    const data = [...s.data, inPool];
    const regions = [...s.regions, regionOf(inPool.addr, inPool.bytes)];
    const r = await run(patch(b.blob, { kernel_entry: KERNEL_AT, dtb_addr: DTB_AT, regions, segment_memsz: b.memsz }), data);
    expect(r.console, describeRun(r)).toContain("purgatory: caches stay off: a region overlaps the purgatory's memory");
    expect(r.console).toContain(`purgatory: verifying ${regions.length} regions with the SHA-256 instructions, caches off\r\n`);
    expect(standinReport(r.console)).toMatchObject({ x0: DTB_AT, el: 1n });
  }, 60_000);

  it.each([
    ["not given (0)", () => 0n],
    ["a page short of mem_size", (memsz: bigint) => memsz - 4096n],
  ])("keeps the caches off when the segment's memsz is %s: its page tables would lie outside the segment", async (_, segmentMemsz) => {
    const r = await run(patch(s.blob, { segment_memsz: segmentMemsz(s.built.memsz) }));
    expect(r.console, describeRun(r)).toContain(
      "purgatory: caches stay off: the segment's memsz (slot segment_memsz) is smaller than mem_size\r\n" +
        `purgatory: verifying ${s.regions.length} regions with the SHA-256 instructions, caches off\r\n`,
    );
    expect(standinReport(r.console)).toMatchObject({ x0: DTB_AT, el: 1n });
  }, 60_000);
});

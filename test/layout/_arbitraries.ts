import fc from "fast-check";
import type { LayoutInput } from "../../toolchain/layout/index.js";
import type { PageSize, Range, Target } from "../../toolchain/target/types.js";
import { target } from "./_fixture.js";

/** Random arm64 targets and segment sizes for the layout properties. */

const MiB = 0x10_0000n;
const GiB = 0x4000_0000n;
const pageArb = fc.constantFrom<PageSize>(4096, 16384, 65536);

/** A random arm64 target: 1-3 RAM ranges from 0x40000000, reserved holes, crash ranges inside RAM. */
export const targetArb = pageArb.chain((pageSize) => {
  const page = BigInt(pageSize);
  const pages = (lo: bigint, hi: bigint) => fc.bigInt(lo / page, hi / page).map((n) => n * page);
  return fc
    .record({
      ram: fc.array(fc.tuple(pages(0n, 2n * GiB), pages(32n * MiB, 8n * GiB)), { minLength: 1, maxLength: 3 }),
      reserved: fc.array(fc.tuple(fc.nat(2), fc.double({ min: 0, max: 1, noNaN: true }), pages(page, 64n * MiB)), { maxLength: 4 }),
      crash: fc.tuple(fc.nat(2), fc.double({ min: 0, max: 1, noNaN: true }), pages(16n * MiB, 1n * GiB)),
      low: fc.option(fc.tuple(fc.nat(2), fc.double({ min: 0, max: 1, noNaN: true }), pages(16n * MiB, 256n * MiB))),
    })
    .map(({ ram, reserved, crash, low }): Target => {
      const memory: Range[] = [];
      let at = GiB;
      for (const [gap, size] of ram) {
        memory.push({ start: at + gap, end: at + gap + size });
        at += gap + size;
      }
      const inside = ([which, frac, size]: [number, number, bigint]): Range => {
        const m = memory[which % memory.length]!;
        const len = size < m.end - m.start ? size : m.end - m.start;
        const room = (m.end - m.start - len) / page;
        const start = m.start + BigInt(Math.floor(Number(room) * frac)) * page;
        return { start, end: start + len };
      };
      return target({
        pageSize,
        memory,
        reserved: reserved.map(inside).sort((a, b) => (a.start < b.start ? -1 : 1)),
        crashKernel: inside(crash),
        crashKernelLow: low === null ? null : inside(low),
      });
    });
});

const sizeArb = (lo: bigint, hi: bigint) => fc.bigInt(lo, hi);

export const inputArb: fc.Arbitrary<LayoutInput> = fc
  .record({
    target: targetArb,
    mode: fc.constantFrom<"crash" | "reboot">("crash", "reboot"),
    imageSize: sizeArb(1n, 64n * MiB),
    fill: fc.double({ min: 0.01, max: 1, noNaN: true }),
    oldTextOffset: fc.boolean(),
    initrd: fc.option(sizeArb(1n, 256n * MiB)),
    dtb: sizeArb(1n, 2n * MiB),
    elfcorehdr: fc.option(sizeArb(1n, 64n * 1024n)),
    purgatory: sizeArb(1n, 0x4000n),
    extra: fc.option(sizeArb(0n, 0x4000n)),
    alignShift: fc.option(fc.integer({ min: 0, max: 21 })),
  })
  .map((r) => {
    const bufsz = BigInt(Math.max(1, Math.floor(Number(r.imageSize) * r.fill)));
    return {
      mode: r.mode,
      target: r.target,
      kernel: { bufsz, textOffset: r.oldTextOffset ? 0x8_0000n : 0n, imageSize: r.imageSize },
      dtb: { bufsz: r.dtb },
      purgatory: {
        bufsz: r.purgatory,
        ...(r.extra !== null ? { memsz: r.purgatory + r.extra } : {}),
        ...(r.alignShift !== null ? { align: 1n << BigInt(r.alignShift) } : {}),
      },
      ...(r.initrd !== null ? { initrd: { bufsz: r.initrd } } : {}),
      ...(r.elfcorehdr !== null && r.mode === "crash" ? { elfcorehdr: { bufsz: r.elfcorehdr } } : {}),
    };
  });


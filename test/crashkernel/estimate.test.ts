import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";
import {
  CALIBRATED, captureOptions, estimateCrashkernel, measureInitramfs, parseCrashkernel,
} from "../../toolchain/crashkernel/index.js";
import type { CaptureKernel, Estimate, EstimateInput, InitramfsMeasure, Sizing, TermKey } from "../../toolchain/crashkernel/index.js";
import { alignUp, buildElfcorehdr, parseTarget, validateTarget } from "../../toolchain/target/index.js";
import type { PageSize, Range, Target } from "../../toolchain/target/index.js";
import { captureCpio } from "./_initramfs.js";

const K = 1n << 10n;
const M = 1n << 20n;
const G = 1n << 30n;
const FIXTURE = parseTarget(readFileSync(join(import.meta.dirname, "../target/fixtures/qemu-virt-6.1/target.json"), "utf8"));

/** A machine like QEMU virt: RAM from 1 GiB up, nothing reserved, no vmcoreinfo. */
function machine(o: { ram?: bigint; memory?: Range[]; page?: PageSize; reserved?: Range[]; crash?: Range | null; low?: Range | null; cmdline?: string } = {}): Target {
  const t: Target = {
    version: 2,
    pageSize: o.page ?? 4096,
    memory: o.memory ?? [{ start: G, end: G + (o.ram ?? 2n * G) }],
    reserved: o.reserved ?? [],
    crashKernel: o.crash ?? null,
    crashKernelLow: o.low ?? null,
    cpuNotes: [],
    vmcoreinfo: null,
    kernelCode: null,
    kernelData: null,
    console: null,
    psci: null,
    cpuEnableMethod: {},
    commandLine: o.cmdline ?? "console=ttyAMA0",
    dtb: null,
  };
  validateTarget(t);
  return t;
}

const KERNEL: CaptureKernel = { imageSize: 30n * M, textOffset: 0n, pageSize: 4096, release: "6.1.0-test" };

/** An initramfs of `files` regular files of `size` bytes each, compressed to a third, in one gzip part. */
function initrd(files: number, size: number): InitramfsMeasure {
  const round = (p: number) => files * Math.ceil(size / p) * p;
  const cpio = files * (size + 120);
  return {
    fileBytes: Math.ceil(cpio / 3), parts: [{ offset: 0, format: "gzip", size: Math.ceil(cpio / 3), cpioBytes: cpio, decompressorBytes: 128 << 10 }],
    cpioBytes: cpio, entries: files, files, directories: 0, symlinks: 0, others: 0, dataBytes: files * size,
    tmpfsBytes: { 4096: round(4096), 16384: round(16384), 65536: round(65536) }, decompressorBytes: 128 << 10,
  };
}

function estimate(over: Partial<EstimateInput> = {}): Estimate {
  return estimateCrashkernel({
    target: machine(), cpus: 4, commandLine: "console=ttyAMA0 nr_cpus=1 cma=0", kernel: KERNEL, initramfs: initrd(50, 100_000), calibration: null, ...over,
  });
}

const term = (s: Sizing, key: TermKey): bigint => s.terms.find((t) => t.key === key)?.bytes ?? 0n;
const sum = (s: Sizing): bigint => s.terms.reduce((n, t) => n + t.bytes, 0n);

describe("estimateCrashkernel adds up named terms", () => {
  it("lists terms that add up to each size exactly, the minimum in MiB and the recommended in 8 MiB", () => {
    for (const e of [estimate(), estimate({ commandLine: "" }), estimate({ target: FIXTURE, cpus: 2 })]) {
      expect(sum(e.minimum)).toBe(e.minimum.bytes);
      expect(sum(e.recommended)).toBe(e.recommended.bytes);
      expect(e.minimum.bytes % M).toBe(0n);
      expect(e.recommended.bytes % (8n * M)).toBe(0n);
      expect(e.recommended.bytes).toBeGreaterThan(e.minimum.bytes);
      for (const t of [...e.minimum.terms, ...e.recommended.terms]) {
        expect(t.bytes, t.key).toBeGreaterThanOrEqual(0n);
        expect(t.why.length, t.key).toBeGreaterThan(5);
      }
    }
  });

  it("counts the kernel by image_size, page-aligned, plus text_offset (not the file)", () => {
    const e = estimate({ kernel: { ...KERNEL, imageSize: 30n * M + 1n, textOffset: 0x80000n } });
    expect(term(e.minimum, "kernel")).toBe(30n * M + 4096n + 0x80000n);
  });

  it("counts the DTB with room for /chosen, and the elfcorehdr toolchain/elf builds (twice: the segment and /proc/vmcore's copy)", () => {
    const e = estimateCrashkernel({ target: FIXTURE, cpus: 2, commandLine: "nr_cpus=1", kernel: KERNEL, initramfs: null, calibration: null });
    const dtb = alignUp(BigInt(FIXTURE.dtb!.length) + 4096n, 4096n);
    const header = BigInt(buildElfcorehdr(FIXTURE).bytes.length);
    const elfcorehdr = (term(e.minimum, "bootData") - dtb) / 2n;
    expect(elfcorehdr).toBeGreaterThanOrEqual(header);
    expect(elfcorehdr % 1024n).toBe(0n);
  });

  it("counts the DTB as the bundle writes it, serialized afresh without the free space QEMU leaves in its 1 MiB blob", () => {
    const padded = { ...FIXTURE, dtb: serializeFdt(parseFdt(FIXTURE.dtb!), { totalSize: 1 << 20 }) };
    const at = (t: typeof FIXTURE) => term(estimateCrashkernel({ target: t, cpus: 2, commandLine: "nr_cpus=1", kernel: KERNEL, initramfs: null, calibration: null }).minimum, "bootData");
    expect(padded.dtb.length).toBe(1 << 20);
    expect(at(padded)).toBe(at(FIXTURE));
  });

  it("grows the collector term with the crashed machine's RAM, up to makedumpfile's 2 x 4 MiB of bitmaps", () => {
    const run = (ram: bigint) => term(estimate({ target: machine({ ram }) }).minimum, "phase");
    // 2 bits per page of the crashed machine (max_mapnr counts from PFN 0), 4 KiB pages.
    const bitmaps = (ram: bigint) => {
      const each = (((G + ram) / 4096n) * 2n + 7n) / 8n;
      return 2n * (each < 4n * M ? each : 4n * M);
    };
    expect(run(4n * G) - run(G)).toBe(bitmaps(4n * G) - bitmaps(G));
    expect(run(32n * G)).toBeGreaterThan(run(4n * G));
    expect(run(256n * G)).toBe(run(1024n * G)); // saturated
    expect(run(1024n * G) - run(G)).toBe(8n * M - bitmaps(G));
  });

  it("grows the per-CPU term with CPUs unless nr_cpus= caps them", () => {
    const perCpu = BigInt(CALIBRATED.perCpu.defaults[4096]);
    expect(term(estimate({ cpus: 8, commandLine: "cma=0" }).minimum, "perCpu")).toBe(8n * perCpu);
    expect(term(estimate({ cpus: 16, commandLine: "cma=0" }).minimum, "perCpu")).toBe(16n * perCpu);
    expect(term(estimate({ cpus: 16, commandLine: "cma=0 nr_cpus=1" }).minimum, "perCpu")).toBe(perCpu);
    expect(term(estimate({ cpus: 16, commandLine: "cma=0 nr_cpus=4" }).minimum, "perCpu")).toBe(4n * perCpu);
    expect(term(estimate({ cpus: 2, commandLine: "cma=0 nr_cpus=4" }).minimum, "perCpu")).toBe(2n * perCpu);
    const e = estimate({ cpus: 16, commandLine: "cma=0 maxcpus=1" });
    expect(term(e.minimum, "perCpu")).toBe(16n * perCpu);
    expect(e.notes.join("\n")).toMatch(/maxcpus= only limits the CPUs brought online/);
  });

  it("grows the tmpfs and boot terms with the initramfs", () => {
    const small = estimate({ initramfs: initrd(50, 100_000) });
    const big = estimate({ initramfs: initrd(500, 100_000) });
    const inode = BigInt(CALIBRATED.tmpfsInode.defaults[4096]);
    expect(term(small.minimum, "tmpfs")).toBe(50n * (102_400n + inode));
    expect(term(big.minimum, "tmpfs")).toBe(500n * (102_400n + inode));
    expect(big.minimum.bytes).toBeGreaterThan(small.minimum.bytes);
    // The boot phase (initramfs file + decompressor) outweighs the run phase for the big one.
    expect(big.minimum.terms.find((t) => t.key === "phase")?.label).toMatch(/boot peak/);
    expect(term(big.minimum, "phase")).toBe(BigInt(Math.ceil(Math.ceil(500 * 100_120 / 3) / 4096) * 4096) + 128n * K);
    const none = estimate({ initramfs: null });
    expect(term(none.minimum, "tmpfs")).toBe(0n);
    expect(none.notes.join("\n")).toMatch(/no initramfs/);
  });

  it("with 64 KiB pages rounds every file to 64 KiB and needs fewer struct pages per section", () => {
    const k64: CaptureKernel = { ...KERNEL, pageSize: 65536 };
    const files = initrd(100, 5000);
    const e4 = estimate({ initramfs: files });
    const e64 = estimate({ target: machine({ page: 65536 }), kernel: k64, initramfs: files });
    expect(e64.capture.pageSize).toBe(65536);
    expect(term(e64.minimum, "tmpfs") - term(e4.minimum, "tmpfs")).toBe(100n * (65536n - 8192n));
    // One 512 MiB section holds 8192 pages of 64 bytes: 512 KiB; a 128 MiB section of 4 KiB pages 2 MiB.
    expect(term(e64.minimum, "memmap") % (512n * K)).toBe(0n);
    expect(term(e4.minimum, "memmap") % (2n * M)).toBe(0n);
    expect(term(e64.minimum, "memmap")).toBeLessThan(term(e4.minimum, "memmap"));
    expect(term(e64.minimum, "pageTables")).toBeLessThan(term(e4.minimum, "pageTables"));
    expect(term(e64.minimum, "kernelRuntime")).toBe(BigInt(CALIBRATED.kernelRuntime.defaults[65536]));
  });

  it("applies the rootfs rule only to a tmpfs rootfs: its files may fill half of the RAM left after early allocations", () => {
    const huge = initrd(300, 1 << 20); // 300 MiB of files
    const tmpfs = estimate({ initramfs: huge, commandLine: "cma=0 nr_cpus=1 rdinit=/init" });
    expect(tmpfs.capture.rootfs).toBe("tmpfs");
    const rule = tmpfs.minimum.terms.find((t) => t.key === "tmpfsRule");
    expect(rule?.why).toMatch(/tmpfs may fill 50% of RAM/);
    // RAM - early >= 2 x files, where early is what memblock holds when rootfs is mounted.
    const t = (k: TermKey) => term(tmpfs.minimum, k);
    const early = t("kernel") + t("memmap") + t("pageTables") + t("hashes") + BigInt(Math.ceil(huge.fileBytes / 4096) * 4096) + 4096n + 1024n; // + DTB (4 KiB extra) + elfcorehdr
    expect(tmpfs.minimum.bytes - early).toBeGreaterThanOrEqual(2n * 300n * M);
    const ramfs = estimate({ initramfs: huge, commandLine: "cma=0 nr_cpus=1 root=/dev/vda1" });
    expect(ramfs.capture.rootfs).toBe("ramfs");
    expect(term(ramfs.minimum, "tmpfsRule")).toBe(0n);
    expect(ramfs.minimum.bytes).toBeLessThan(tmpfs.minimum.bytes);
    const ninety = estimate({ initramfs: huge, commandLine: "cma=0 nr_cpus=1 initramfs_options=size=90%" });
    expect(ninety.minimum.bytes).toBeLessThan(tmpfs.minimum.bytes);
    expect(ninety.minimum.bytes).toBeGreaterThan(ramfs.minimum.bytes);
    expect(estimate({ initramfs: huge, commandLine: "cma=0 initramfs_options=size=100M" }).notes.join("\n")).toMatch(/unpacking fails whatever the reservation/);
  });

  it("counts a CMA area as held when rootfs is mounted: it becomes RAM only at core_initcall (measured: 232 MiB, not 168, for 46 MiB of files)", () => {
    const big = initrd(40, 1 << 20); // 40 MiB of files
    const without = estimate({ initramfs: big, commandLine: "cma=0 nr_cpus=1" });
    const withCma = estimate({ initramfs: big, commandLine: "cma=64M nr_cpus=1" });
    // The rule binds in both; the CMA area adds its whole size to what is held early.
    expect(term(withCma.minimum, "tmpfsRule")).toBeGreaterThan(0n);
    expect(withCma.minimum.bytes - without.minimum.bytes).toBeGreaterThanOrEqual(64n * M);
    // ... and what grows with the reservation (struct pages, page tables, hashes: well under 1/16 of it).
    expect(withCma.minimum.bytes - without.minimum.bytes).toBeLessThan(64n * M + (64n * M) / 16n);
  });

  it("counts the CMA area the capture kernel reserves, beyond what the unpacked initramfs fills at boot (not user space: it comes later), unless cma=0", () => {
    const movable = (e: Estimate) => term(e.minimum, "tmpfs") - 50n * BigInt(CALIBRATED.tmpfsInode.defaults[4096]);
    const withCma = estimate({ commandLine: "nr_cpus=1" });
    expect(term(withCma.minimum, "cma")).toBe(64n * M - movable(withCma));
    expect(withCma.notes.join("\n")).toMatch(/CMA area unless its command line says cma=0/);
    expect(estimate({ commandLine: "nr_cpus=1 cma=0" }).minimum.terms.some((t) => t.key === "cma")).toBe(false);
    expect(term(estimate({ commandLine: "nr_cpus=1 cma=4M" }).minimum, "cma")).toBe(0n);
  });

  it("adds a margin of 10% to the recommended size only, and no room for dirty page cache (real crashes needed none)", () => {
    const e = estimate();
    expect(term(e.minimum, "margin")).toBe(0n);
    const before = sum(e.recommended) - term(e.recommended, "margin") - term(e.recommended, "rounding");
    expect(term(e.recommended, "margin")).toBe((before * 10n) / 100n);
    expect(e.recommended.terms.map((t) => t.key)).not.toContain("writeback");
    // The recommended size is the minimum's terms at that size, 10% more, rounded up to 8 MiB.
    expect(e.recommended.bytes).toBeLessThan(e.minimum.bytes + e.minimum.bytes / 10n + 8n * M + 2n * M);
    expect(e.constants.find((c) => c.name === "marginPercent")).toMatchObject({ value: 10n, kind: "measured" });
  });

  it("takes sizeof(struct page) and SECTION_SIZE_BITS from the target's vmcoreinfo", () => {
    const custom = FIXTURE.vmcoreinfo!.text!.replace("SIZE(page)=64", "SIZE(page)=128");
    const e = estimateCrashkernel({ target: { ...FIXTURE, vmcoreinfo: { ...FIXTURE.vmcoreinfo!, text: custom } }, cpus: 2, commandLine: "nr_cpus=1", kernel: KERNEL, initramfs: null, calibration: null });
    const base = estimateCrashkernel({ target: FIXTURE, cpus: 2, commandLine: "nr_cpus=1", kernel: KERNEL, initramfs: null, calibration: null });
    expect(e.constants.find((c) => c.name === "structPage")).toMatchObject({ value: 128n, kind: "derived" });
    expect(term(e.minimum, "memmap")).toBeGreaterThan(term(base.minimum, "memmap"));
    expect(estimate().notes.join("\n")).toMatch(/sizeof\(struct page\) 64 and SECTION_SIZE_BITS 27 assumed/);
  });

  it("uses a calibration's constants and says so", () => {
    const calibration = { measuredOn: { kernelRelease: "6.1.0-other", pageSize: 4096 as const }, constants: { kernelRuntime: 10 << 20 } };
    const e = estimate({ calibration });
    expect(term(e.minimum, "kernelRuntime")).toBe(10n * M);
    expect(e.minimum.terms.find((t) => t.key === "kernelRuntime")?.why).toBe("calibrated");
    expect(e.constants.find((c) => c.name === "kernelRuntime")).toMatchObject({ kind: "calibration", value: 10n * M });
    expect(e.constants.find((c) => c.name === "perCpu")).toMatchObject({ kind: "guess" });
    expect(e.notes.join("\n")).toMatch(/measured on 6.1.0-other, the capture kernel is 6.1.0-test/);
    expect(e.minimum.bytes).toBeLessThan(estimate().minimum.bytes);
  });

  it("refuses a CPU count that is not a positive integer and a DMA width out of range", () => {
    expect(() => estimate({ cpus: 0 })).toThrow(RangeError);
    expect(() => estimate({ dmaBits: 12 })).toThrow(RangeError);
  });
});

describe("the crashkernel= it advises parses back to the size", () => {
  it("writes crashkernel=SIZE when the reservation fits below the DMA limit", () => {
    const e = estimate();
    expect(e.syntax.form).toBe("plain");
    expect(e.syntax.dmaLimit).toBe(3n * G); // RAM ends at 3 GiB, below 4 GiB
    expect(parseCrashkernel(e.syntax.recommended, 2n * G)).toMatchObject({ form: "simple", size: e.recommended.bytes });
    expect(parseCrashkernel(e.syntax.minimum, 2n * G)).toMatchObject({ form: "simple", size: e.minimum.bytes });
  });

  it("splits into ,high and ,low where little RAM lies below 4 GiB, and counts the swiotlb the low range holds", () => {
    // 256 MiB below 4 GiB (QEMU's 64M CMA default on the running kernel takes part of it), 8 GiB above.
    const target = machine({ memory: [{ start: 0xf000_0000n, end: 0x1_0000_0000n }, { start: 0x8_8000_0000n, end: 0xa_8000_0000n }] });
    const e = estimate({ target, commandLine: "nr_cpus=1" });
    expect(e.syntax.form).toBe("split");
    expect(e.syntax.dmaLimit).toBe(1n << 32n);
    expect(term(e.minimum, "swiotlb")).toBe(64n * M);
    const ram = 256n * M + 8n * G;
    expect(parseCrashkernel(e.syntax.recommended, ram)).toMatchObject({ form: "high", size: e.recommended.bytes - 128n * M, lowSize: 128n * M });
    expect(parseCrashkernel(e.syntax.minimum, ram)).toMatchObject({ form: "high", size: e.minimum.bytes - 128n * M, lowSize: 128n * M });
    // Linux 6.2+ may take the plain form low (then no swiotlb is needed) or high plus 128 MiB low: it covers both.
    const alternative = parseCrashkernel(e.syntax.alternative!, ram)!;
    expect(alternative.form).toBe("simple");
    expect(alternative.size).toBeGreaterThanOrEqual(e.recommended.bytes - 128n * M);
    // The capture kernel's CMA area also goes below the DMA limit, beside the swiotlb: 64 + 64 MiB fill the low range.
    expect(e.notes.join("\n")).toMatch(/128 MiB low range must hold the capture kernel's 64 MiB swiotlb and its 64 MiB CMA area/);
    expect(estimate({ target, commandLine: "nr_cpus=1 cma=0" }).notes.join("\n")).not.toMatch(/low range must hold/);
    expect(e.syntax.why).toMatch(/does not fit in the .* left below the DMA limit 0x100000000/);
    // swiotlb=noforce (kdump-utils' arm64 default) drops it.
    expect(term(estimate({ target, commandLine: "nr_cpus=1 swiotlb=noforce" }).minimum, "swiotlb")).toBe(0n);
    expect(term(estimate({ target, commandLine: "nr_cpus=1 swiotlb=65536" }).minimum, "swiotlb")).toBe(128n * M);
  });

  it("follows a narrower DMA zone (--dma-bits 30, as on a Raspberry Pi 4)", () => {
    const target = machine({ memory: [{ start: 0n, end: 4n * G }] });
    expect(estimate({ target }).syntax.dmaLimit).toBe(4n * G);
    const pi = estimate({ target, dmaBits: 30 });
    expect(pi.syntax.dmaLimit).toBe(G);
    expect(pi.syntax.form).toBe("plain");
    expect(pi.syntax.lowFree).toBe(G);
  });

  it("treats all RAM as low when it starts above 4 GiB (max_zone_phys)", () => {
    const e = estimate({ target: machine({ memory: [{ start: 0x8_0000_0000n, end: 0x9_0000_0000n }] }) });
    expect(e.syntax.form).toBe("plain");
    expect(e.syntax.dmaLimit).toBe(0x9_0000_0000n);
    expect(e.syntax.why).toMatch(/all RAM lies below the DMA limit/);
  });
});

describe("the check of the reservation the target already has", () => {
  it("says a 256 MiB reservation is enough on the captured QEMU virt 6.1 target, and reads its crashkernel=256M", async () => {
    const initramfs = await measureInitramfs(captureCpio());
    const e = estimateCrashkernel({ target: FIXTURE, cpus: 2, commandLine: "console=ttyAMA0 nr_cpus=1 reset_devices rdinit=/init cma=0", kernel: KERNEL, initramfs, calibration: null });
    const r = e.reservation!;
    expect(r.reserved).toBe(256n * M);
    expect(r.verdict).toBe("enough");
    expect(r.missing).toBe(0n);
    expect(r.message).toBe(`your 256 MiB reservation is enough (minimum ${e.minimum.bytes / M} MiB, recommended ${e.recommended.bytes / M} MiB)`);
    expect(r.commandLine).toEqual({ request: expect.objectContaining({ form: "simple", size: 256n * M, token: "256M" }), error: null });
  });

  it("says by how much a small reservation is short, and when the segments alone do not fit", () => {
    const crash = { start: 0x7d00_0000n, end: 0x8000_0000n }; // 48 MiB
    const target = machine({ ram: G, crash, cmdline: "crashkernel=48M" });
    const e = estimate({ target });
    const r = e.reservation!;
    expect(r.verdict).toBe("short");
    expect(r.missing).toBe(r.minimum - 48n * M);
    expect(r.message).toMatch(new RegExp(`^your 48 MiB reservation is short by ${(r.minimum - 48n * M) / M} MiB of the minimum ${r.minimum / M} MiB`));
    const big = estimate({ target, kernel: { ...KERNEL, imageSize: 80n * M } });
    expect(big.reservation!.message).toMatch(/the kexec segments alone \(.*\) do not fit in crashk_res \(48 MiB\)/);
  });

  it("says when a reservation covers the minimum but not the recommended size", () => {
    const base = estimate();
    const size = base.minimum.bytes + 2n * M;
    const target = machine({ crash: { start: 2n * G, end: 2n * G + size } });
    const r = estimate({ target }).reservation!;
    expect(r.verdict).toBe("below-recommended");
    expect(r.missing).toBe(r.recommended - size);
  });

  it("reports a running kernel's crashkernel= the kernel would refuse", () => {
    const target = machine({ crash: { start: 2n * G, end: 2n * G + 256n * M }, cmdline: "crashkernel=256MB" });
    expect(estimate({ target }).reservation!.commandLine).toEqual({ request: null, error: expect.stringMatching(/unrecognized char: B/) });
  });

  it("sizes a split reservation with its swiotlb, and flags a high one without a low range", () => {
    const memory = [{ start: 0xf000_0000n, end: 0x1_0000_0000n }, { start: 0x8_8000_0000n, end: 0xa_8000_0000n }];
    const split = estimate({ target: machine({ memory, crash: { start: 0x9_0000_0000n, end: 0x9_2000_0000n }, low: { start: 0xf800_0000n, end: 0x1_0000_0000n } }) });
    expect(split.reservation!.reserved).toBe(512n * M + 128n * M);
    expect(split.reservation!.message).toMatch(/\(512 MiB high \+ 128 MiB low\)/);
    const highOnly = estimate({ target: machine({ memory, crash: { start: 0x9_0000_0000n, end: 0x9_2000_0000n } }) });
    expect(highOnly.reservation!.message).toMatch(/above the DMA limit 0x100000000 with no low range/);
  });
});

describe("the range form for a fleet", () => {
  it("gives every machine a size that covers its own estimate, and parses back for each", () => {
    const fleet = [2n * G, 4n * G, 16n * G, 64n * G];
    const e = estimate({ fleet });
    const f = e.fleet!;
    expect(f.dropped).toEqual([]);
    expect(f.entries.map((x) => [x.start, x.end])).toEqual([[2n * G, 4n * G], [4n * G, 16n * G], [16n * G, 64n * G], [64n * G, null]]);
    for (const x of f.entries) {
      // The estimate for the largest machine the entry covers never exceeds the entry.
      const own = estimate({ target: machine({ ram: x.end ?? 1024n * G }) }).recommended.bytes;
      expect(x.size, String(x.start)).toBeGreaterThanOrEqual(own);
      for (const ram of [x.start, x.start - 64n * M, (x.end ?? 4n * x.start) - 128n * M]) {
        expect(parseCrashkernel(f.syntax!, ram), `${f.syntax} at ${ram}`).toMatchObject({ form: "range", size: x.size });
      }
    }
    // Sizes never shrink as machines grow, and the open end holds makedumpfile's largest bitmaps.
    for (let i = 1; i < f.entries.length; i++) expect(f.entries[i]!.size).toBeGreaterThanOrEqual(f.entries[i - 1]!.size);
    expect(f.syntax).toMatch(/^crashkernel=2G-/);
    expect(e.notes.join("\n")).toMatch(/Linux 6.1 reserves nothing/);
  });

  it("drops machines too small to hold their reservation, and lets the next entry start above them", () => {
    const e = estimate({ fleet: [48n * M, 64n * M, 8n * G] });
    const f = e.fleet!;
    expect(f.dropped.map((d) => d.ram)).toEqual([48n * M, 64n * M]);
    expect(e.recommended.bytes).toBeGreaterThan(64n * M); // so a 64 MiB machine cannot give it
    expect(f.dropped[0]!.why).toMatch(/the kernel would refuse the parameter there/);
    expect(f.entries).toHaveLength(1);
    expect(f.syntax).toBe(`crashkernel=8G-:${f.entries[0]!.size / M}M`);
    expect(() => parseCrashkernel(f.syntax!, 4n * G)).toThrow(/no range holds/);
    expect(estimate({ fleet: [32n * M] }).fleet).toMatchObject({ entries: [], syntax: null });
  });
});

describe("captureOptions reads what the capture command line changes", () => {
  it.each([
    ["", { nrCpus: null, maxCpus: null, rootfs: "tmpfs", tmpfsLimit: { percent: 50n }, cma: null, swiotlbOff: false, swiotlbBytes: null }],
    ["nr_cpus=2 nr_cpus=1 maxcpus=4", { nrCpus: 1, maxCpus: 4 }],
    ["root=/dev/vda1", { rootfs: "ramfs" }],
    ["rootfstype=ramfs", { rootfs: "ramfs" }],
    ["rootfstype=tmpfs", { rootfs: "tmpfs" }],
    ["initramfs_options=size=90%", { tmpfsLimit: { percent: 90n } }],
    ["initramfs_options=nr_inodes=0,size=512M", { tmpfsLimit: { bytes: 512n * M } }],
    ["cma=0", { cma: 0n }],
    ["cma=32M@0-4G", { cma: 32n * M }],
    ["swiotlb=noforce", { swiotlbOff: true, swiotlbBytes: null }],
    ["swiotlb=1000,force", { swiotlbOff: false, swiotlbBytes: 1024n * 2048n }], // rounded up to IO_TLB_SEGSIZE slabs
  ] as const)("%j", (line, expected) => {
    expect(captureOptions(line)).toMatchObject(expected);
  });
});

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MAP_COLUMNS, MAP_KINDS, memoryMap, planLayout, renderMapSvg, renderMapText, type MapInput } from "../../toolchain/layout/index.js";
import { countColor, decodePng } from "../_png.js";
import { FIXTURES, expectGolden, fixtureInput } from "./_fixture.js";

const PL011 = { name: "pl011", window: { start: 0x900_0000n, end: 0x900_1000n } };
const scratch = mkdtempSync(join(tmpdir(), "map-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A layout fixture's plan, with the pool of the real purgatory (toolchain/purgatory: 128 KiB of page tables past the blob). */
function input(name: string): MapInput {
  const i = fixtureInput(`${FIXTURES}${name}/`);
  return { load: planLayout({ ...i, purgatory: { ...i.purgatory, memsz: 0x2_1000n } }), facts: i.target, console: PL011 };
}

describe("memoryMap", () => {
  it.each(["virt-1g-crash", "virt-1g-reboot", "virt-6g-crash-low-high"])("%s: draws the text and SVG of its golden files", (name) => {
    const m = memoryMap(input(name));
    expectGolden(`${FIXTURES}${name}/map.txt`, renderMapText(m));
    expectGolden(`${FIXTURES}${name}/map.svg`, renderMapSvg(m));
  });

  it("shows every segment with its role, the purgatory's pool past its blob, the console, the crash and reserved ranges", () => {
    const i = input("virt-1g-crash");
    const m = memoryMap(i);
    const purgatory = i.load.segments.find((s) => s.role === "purgatory")!;
    const kinds = m.ranges.map((r) => r.kind);
    for (const k of ["ram", "reserved", "crash", "kernel", "initrd", "dtb", "elfcorehdr", "purgatory", "pool", "console"] as const) expect(kinds).toContain(k);
    const blob = m.ranges.find((r) => r.kind === "purgatory")!;
    const pool = m.ranges.find((r) => r.kind === "pool")!;
    expect(blob.start).toBe(purgatory.mem);
    expect(blob.end).toBe((purgatory.mem + purgatory.bufsz + 0xfffn) & ~0xfffn);
    expect(pool.end).toBe(purgatory.mem + purgatory.memsz);
    expect(m.ranges.find((r) => r.kind === "console")).toMatchObject({ start: 0x900_0000n, end: 0x900_1000n });
    // Every segment sits in the crash range, and the list nests it there.
    const crashRow = m.rows.findIndex((r) => r.range?.kind === "crash");
    expect(m.rows.filter((r) => r.range?.kind === "kernel").map((r) => r.depth)).toEqual([m.rows[crashRow]!.depth + 1]);
  });

  it("gives a range smaller than a column one column of its own, and zooms into the crash range", () => {
    const m = memoryMap(input("virt-1g-crash"));
    expect(m.bars.map((b) => b.marks.length)).toEqual([MAP_COLUMNS, MAP_COLUMNS]);
    const [ram, zoom] = m.bars;
    expect(ram!.marks).toContain("reserved");
    expect(zoom!.title).toMatch(/^crash kernel range/);
    // The 1 MiB reserved range and the one-page purgatory blob are far below a column (16 MiB, 4 MiB) and still show.
    expect(ram!.columns).toBe(0x100_0000);
    for (const k of ["kernel", "initrd", "elfcorehdr"] as const) expect(zoom!.marks).toContain(k);
  });

  it("maps a bare segment list without RAM facts over the segments' own span", () => {
    const i = input("virt-1g-reboot");
    const m = memoryMap({ load: i.load, facts: {} });
    expect(m.bars.map((b) => b.title)).toEqual(["the segments (the load states no RAM)"]);
    expect(renderMapText(m)).toContain("legend: . free RAM");
  });
});

describe("renderMapSvg in a browser", () => {
  it("renders in headless Chromium to a picture with the legend's colours, not a blank page", () => {
    const m = memoryMap(input("virt-1g-crash"));
    const svg = renderMapSvg(m);
    const file = join(scratch, "map.svg");
    writeFileSync(file, svg);
    const [, w, h] = /width="(\d+)" height="(\d+)"/.exec(svg)!;
    const png = join(scratch, "map.png");
    try {
      execFileSync("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--force-color-profile=srgb",
        `--screenshot=${png}`, `--window-size=${w},${h}`, `file://${file}`], { stdio: "pipe", timeout: 120_000 });
    } catch (e) {
      throw new Error(`headless Chromium failed (npm run provision installs Debian's chromium): ${(e as Error).message}`);
    }
    const image = decodePng(readFileSync(png));
    expect([image.width, image.height]).toEqual([Number(w), Number(h)]);
    const total = image.width * image.height;
    const background = countColor(image, 0xffffff);
    expect(total - background).toBeGreaterThan(total * 0.05);
    for (const k of ["ram", "crash", "kernel", "initrd"] as const) {
      expect(countColor(image, parseInt(MAP_KINDS[k].color.slice(1), 16)), k).toBeGreaterThan(200);
    }
  }, 180_000);
});

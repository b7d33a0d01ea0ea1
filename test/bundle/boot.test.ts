import { describe, expect, it } from "vitest";
import { bootMoved, encodeBootFile, formatMoved, parseBootFile, type BootFacts } from "../../toolchain/bundle/boot.js";
import { isInputError } from "../../toolchain/bytes/index.js";

const facts: BootFacts = {
  bootId: "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
  vmcoreinfo: 0x4fe0b000n,
  crashNotes: [{ cpu: 0, address: 0x7fbd0000n }, { cpu: 1, address: 0x7fbe0000n }],
  kernelCode: 0x40210000n,
};

describe("boot.txt", () => {
  it("is written one fact a line, addresses as 0x + 16 digits, and read back unchanged", () => {
    const text = encodeBootFile(facts);
    expect(text).toBe(
      "purgatory-boot 1\nboot_id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\nvmcoreinfo 0x000000004fe0b000\n" +
        "crash_notes 0 0x000000007fbd0000\ncrash_notes 1 0x000000007fbe0000\nkernel_code 0x0000000040210000\n",
    );
    expect(parseBootFile(text)).toEqual(facts);
  });

  it.each([
    ["another magic", "purgatory-boot 2\nboot_id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\n", 1],
    ["an unknown key", "purgatory-boot 1\nboot_id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\nkaslr 1\n", 3],
    ["a short address", "purgatory-boot 1\nboot_id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\nvmcoreinfo 0x4fe0b000\n", 3],
    ["CPUs out of order", "purgatory-boot 1\nboot_id 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\ncrash_notes 1 0x000000007fbe0000\ncrash_notes 0 0x000000007fbd0000\n", 4],
    ["no boot_id", "purgatory-boot 1\nvmcoreinfo 0x000000004fe0b000\n", 3],
  ])("refuses %s with BAD_BOOT_FILE and the line", (_, text, line) => {
    let e: unknown;
    try {
      parseBootFile(text);
    } catch (x) {
      e = x;
    }
    expect(isInputError(e) && e.code).toBe("BAD_BOOT_FILE");
    expect((e as Error).message).toContain(`line ${line} `);
  });

  it("names every fact that moved between two boots, and nothing for the same boot", () => {
    expect(bootMoved(facts, facts)).toEqual([]);
    const next: BootFacts = { ...facts, bootId: "11111111-2222-3333-4444-555555555555", vmcoreinfo: 0x4fe0c000n, crashNotes: [{ cpu: 0, address: 0x7fbd0000n }, { cpu: 1, address: 0x7fbf0000n }] };
    const moved = bootMoved(facts, next);
    expect(moved.map((m) => m.what)).toEqual(["boot_id", "vmcoreinfo", "crash_notes 1"]);
    expect(formatMoved(moved)).toContain("vmcoreinfo 0x4fe0b000 → 0x4fe0c000");
    expect(bootMoved(facts, { ...facts, crashNotes: [{ cpu: 0, address: 0x7fbd0000n }] }).map((m) => m.what)).toEqual(["cpus"]);
  });
});

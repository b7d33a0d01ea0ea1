import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { build, flagNames, parseHeader, patch, PATCHED_VALUE, readSlots, regionOf } from "../../toolchain/purgatory/index.js";
import type { PatchValues, Region } from "../../toolchain/purgatory/index.js";
import { sha256hex } from "./_scene.js";

let blob: Uint8Array;
beforeAll(async () => {
  blob = (await build()).blob;
});

const region = (start: bigint, length: bigint, fill = 0): Region => ({ start, length, sha256: new Uint8Array(32).fill(fill) });

function refusal(values: PatchValues | Record<string, unknown>, on: Uint8Array = blob): InputError {
  try {
    patch(on, values as PatchValues);
  } catch (e) {
    if (e instanceof InputError) return e;
    throw e;
  }
  throw new Error("no error");
}

describe("readSlots", () => {
  it("reads the initial slots of a default build", () => {
    expect(readSlots(blob)).toEqual({
      kernel_entry: 0n, dtb_addr: 0n, console_kind: "pl011", console_base: 0x9000000n, console_shift: 0, console_width: 4, policy: "spin", psci: "auto",
      flags: 0, segment_memsz: 0n, regions: [], patched: false,
    });
  });

  it("refuses a slot value outside its range, with the slot's offset", () => {
    const h = parseHeader(blob);
    const b = blob.slice();
    new DataView(b.buffer).setUint32(h.console_kind_offset, 7, true);
    expect(() => readSlots(b)).toThrow(expect.objectContaining({ code: "BAD_SLOT", where: h.console_kind_offset }));
    const c = blob.slice();
    new DataView(c.buffer).setUint32(h.region_count_offset, 17, true);
    expect(() => readSlots(c)).toThrow(expect.objectContaining({ code: "BAD_SLOT", where: h.region_count_offset }));
    for (const [at, value] of [[h.console_width_offset, 2], [h.console_shift_offset, 4], [h.psci_offset, 4]] as const) {
      const d = blob.slice();
      new DataView(d.buffer).setUint32(at, value, true);
      expect(() => readSlots(d)).toThrow(expect.objectContaining({ code: "BAD_SLOT", where: at }));
    }
    const e = blob.slice();
    new DataView(e.buffer).setBigUint64(h.patched_offset, PATCHED_VALUE + 1n, true);
    expect(() => readSlots(e)).toThrow(expect.objectContaining({ code: "BAD_SLOT", where: h.patched_offset }));
  });
});

describe("patch", () => {
  it("writes every slot and reads back the same values, leaving the input untouched", () => {
    const before = blob.slice();
    const values = {
      kernel_entry: 0x4020_0000n, dtb_addr: 0xffff_ffff_ffff_fff8n, console_kind: "8250", console_base: 0x1c2_8000n, console_shift: 2, console_width: 4,
      policy: "reset", psci: "smc", flags: 0, segment_memsz: 0x3_0000n, regions: [region(0x4020_0000n, 123n, 1)],
    } as const;
    expect(readSlots(patch(blob, values))).toEqual({ ...values, patched: true });
    expect(blob).toEqual(before);
  });

  it("marks the blob patched when it is given its load, and only then", () => {
    const configured = patch(blob, { console_kind: "cadence", console_base: 0xff00_0000n, psci: "smc", policy: "reset" });
    expect(readSlots(configured)).toMatchObject({ console_kind: "cadence", console_shift: 0, console_width: 4, patched: false });
    const loaded = patch(configured, { kernel_entry: 0x20_0000n, regions: [region(0x20_0000n, 8n)] });
    expect(readSlots(loaded).patched).toBe(true);
    const h = parseHeader(loaded);
    expect(new DataView(loaded.buffer).getBigUint64(h.patched_offset, true)).toBe(PATCHED_VALUE);
    expect(Buffer.from(loaded.subarray(h.patched_offset, h.patched_offset + 8)).toString("latin1")).toBe("PATCHED!");
    expect(readSlots(patch(loaded, { policy: "spin", flags: 1 })).patched).toBe(true); // a later configuration keeps it
    // RAM at 0 (xlnx-zcu102): a kernel verified at 0 is entered at 0.
    expect(readSlots(patch(configured, { kernel_entry: 0n, regions: [region(0n, 0x1000n)] })).kernel_entry).toBe(0n);
  });

  it("gives a console kind patched alone its shift and width: fixed for PL011, Cadence and none, the defaults for 8250", () => {
    const wide = patch(blob, { console_kind: "8250", console_base: 0x1000n, console_shift: 3, console_width: 4 });
    expect(readSlots(patch(wide, { console_kind: "pl011" }))).toMatchObject({ console_kind: "pl011", console_shift: 0, console_width: 4 });
    expect(readSlots(patch(wide, { console_kind: "none" }))).toMatchObject({ console_kind: "none", console_shift: 0, console_width: 1 });
    expect(readSlots(patch(blob, { console_kind: "8250" }))).toMatchObject({ console_kind: "8250", console_shift: 0, console_width: 1 });
    expect(readSlots(patch(wide, { console_width: 1 }))).toMatchObject({ console_kind: "8250", console_shift: 3, console_width: 1 });
  });

  it.each([
    [1, ["no_mmu"]],
    [2, ["no_crypto"]],
    [3, ["no_mmu", "no_crypto"]],
  ] as const)("sets flags %i, which flagNames reads as %j", (flags, names) => {
    const out = patch(blob, { flags });
    expect(readSlots(out).flags).toBe(flags);
    expect(flagNames(readSlots(out).flags)).toEqual(names);
    expect(readSlots(patch(out, { flags: 0 })).flags).toBe(0);
  });

  it("changes only what it is given", () => {
    const once = patch(blob, { kernel_entry: 0x1000n, regions: [region(0x2000n, 1n)] });
    expect(readSlots(patch(once, { policy: "reset" }))).toMatchObject({ kernel_entry: 0x1000n, policy: "reset", regions: [region(0x2000n, 1n)] });
  });

  it("sorts regions by start address, then length, and zeroes the unused entries", () => {
    const three = patch(blob, { kernel_entry: 0x1000n, regions: [region(0x3000n, 1n, 3), region(0x1000n, 0n, 1), region(0x1000n, 16n, 2)] });
    expect(readSlots(three).regions.map((r) => [r.start, r.length, r.sha256[0]])).toEqual([[0x1000n, 0n, 1], [0x1000n, 16n, 2], [0x3000n, 1n, 3]]);
    const one = patch(three, { regions: [region(0x5000n, 8n, 9)] });
    const h = parseHeader(one);
    expect(one.subarray(h.regions_offset + 48, h.regions_offset + 16 * 48).every((b) => b === 0)).toBe(true);
  });

  it("accepts any set of disjoint regions up to the capacity and keeps them sorted (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ gap: fc.bigInt({ min: 0n, max: 1n << 40n }), length: fc.bigInt({ min: 0n, max: 1n << 32n }), fill: fc.nat(255) }), { maxLength: 16 }),
        fc.nat(),
        (parts, seed) => {
          let at = 0n;
          const sorted = parts.map((p) => {
            at += p.gap;
            const r = region(at, p.length, p.fill);
            at += p.length;
            return r;
          });
          const shuffled = [...sorted].sort((a, b) => (((Number(a.start % 97n) + seed) % 7) - ((Number(b.start % 97n) + seed) % 7)));
          expect(readSlots(patch(blob, { kernel_entry: 0x1000n, regions: [...shuffled, region(at + 1n, 0n)] })).regions).toEqual([...sorted, region(at + 1n, 0n)]);
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });

  it.each([
    ["a slot that does not exist", { kernel: 1n }, "NOT_FOUND", "kernel"],
    ["region_count (written by regions)", { region_count: 1 }, "NOT_FOUND", "region_count"],
    ["a misaligned kernel entry", { kernel_entry: 0x1002n }, "MISALIGNED", "kernel_entry"],
    ["a DTB address that is not 8-byte aligned", { dtb_addr: 0x1004n }, "MISALIGNED", "dtb_addr"],
    ["a negative address", { kernel_entry: -4n }, "BAD_VALUE", "kernel_entry"],
    ["an address past 64 bits", { dtb_addr: 1n << 64n }, "BAD_VALUE", "dtb_addr"],
    ["a number where a bigint belongs", { dtb_addr: 8 }, "BAD_VALUE", "dtb_addr"],
    ["a reserved flag bit", { flags: 4 }, "BAD_VALUE", "flags"],
    ["a negative flags value", { flags: -1 }, "BAD_VALUE", "flags"],
    ["an unknown policy", { policy: "explode" }, "BAD_VALUE", "policy"],
    ["an unknown console kind", { console_kind: "vga" }, "BAD_CONSOLE", "console"],
    ["a shift on a PL011", { console_shift: 2 }, "BAD_CONSOLE", "console"],
    ["a width other than 4 on a PL011", { console_width: 1 }, "BAD_CONSOLE", "console"],
    ["a misaligned PL011 base", { console_base: 0x9000001n }, "MISALIGNED", "console"],
    ["a misaligned Cadence base", { console_kind: "cadence", console_base: 0xff00_0002n }, "MISALIGNED", "console"],
    ["32-bit 8250 registers 2 bytes apart", { console_kind: "8250", console_shift: 1, console_width: 4 }, "BAD_CONSOLE", "console"],
    ["an 8250 width of 2", { console_kind: "8250", console_width: 2 }, "BAD_CONSOLE", "console"],
    ["an 8250 shift of 4", { console_kind: "8250", console_shift: 4 }, "BAD_CONSOLE", "console"],
    ["a misaligned 8250 with 32-bit registers", { console_kind: "8250", console_base: 0x1002n, console_shift: 2, console_width: 4 }, "MISALIGNED", "console"],
    ["an unknown PSCI conduit", { psci: "svc" }, "BAD_VALUE", "psci"],
    ["policy reset with psci none", { policy: "reset", psci: "none" }, "NO_PSCI", "psci"],
    ["psci none on a blob set to reset", { psci: "none" }, "NO_PSCI", "psci", "reset"],
    ["a segment memsz that is not whole pages", { segment_memsz: 0x24001n }, "MISALIGNED", "segment_memsz"],
    ["a segment memsz smaller than the blob", { segment_memsz: 0x1000n }, "BAD_VALUE", "segment_memsz"],
    ["a negative segment memsz", { segment_memsz: -4096n }, "BAD_VALUE", "segment_memsz"],
    ["the patched slot (patch writes it)", { patched: true }, "NOT_FOUND", "patched"],
    ["a load with kernel_entry 0", { kernel_entry: 0n, regions: [region(0x1000n, 1n)] }, "NO_KERNEL_ENTRY", "kernel_entry"],
    ["a load with regions but no kernel_entry", { regions: [region(0x1000n, 1n)] }, "NO_KERNEL_ENTRY", "kernel_entry"],
    ["a load with kernel_entry 0 and an empty region at 0", { kernel_entry: 0n, regions: [region(0n, 0n)] }, "NO_KERNEL_ENTRY", "kernel_entry"],
    ["a load with no region", { kernel_entry: 0x1000n, regions: [] }, "NO_REGIONS", "regions"],
    ["a kernel_entry and no region", { kernel_entry: 0x1000n }, "NO_REGIONS", "regions"],
    ["17 regions in a table of 16", { kernel_entry: 4n, regions: Array.from({ length: 17 }, (_, i) => region(BigInt(i) * 16n, 1n)) }, "TOO_MANY_REGIONS", "regions"],
    ["overlapping regions", { kernel_entry: 4n, regions: [region(0x1000n, 0x100n), region(0x10ffn, 1n)] }, "OVERLAP", "regions"],
    ["a region past the address space", { kernel_entry: 4n, regions: [region((1n << 64n) - 1n, 2n)] }, "BAD_VALUE", "regions[0]"],
    ["a short digest", { kernel_entry: 4n, regions: [{ start: 0n, length: 1n, sha256: new Uint8Array(31) }] }, "BAD_VALUE", "regions[0].sha256"],
  ] as [string, Record<string, unknown>, string, string, "reset"?][])("refuses %s", (_what, values, code, where, policy) => {
    const e = refusal(values, policy === undefined ? blob : patch(blob, { policy }));
    expect(e.code).toBe(code);
    expect(e.where).toBe(where);
  });

  it("allows a byte-aligned 8250 base with byte registers, at any shift", () => {
    expect(readSlots(patch(blob, { console_kind: "8250", console_base: 0x3f8n + 1n })).console_base).toBe(0x3f9n);
    expect(readSlots(patch(blob, { console_kind: "8250", console_base: 0x3f9n, console_shift: 2 })).console_shift).toBe(2);
  });

  it("takes segment_memsz 0 (not given) or whole pages from the blob size up, smaller than mem_size too (the purgatory then keeps the caches off)", () => {
    const h = parseHeader(blob);
    for (const m of [0n, BigInt(h.blob_size), BigInt(h.mem_size), 1n << 40n]) expect(readSlots(patch(blob, { segment_memsz: m })).segment_memsz).toBe(m);
  });

  it("refuses a blob that is not a purgatory", () => {
    expect(refusal({ policy: "spin" }, new Uint8Array(0x100)).code).toBe("BAD_MAGIC");
  });
});

describe("regionOf", () => {
  it("takes the bytes' length and SHA-256 (the segment's bufsz and sha256sum)", () => {
    const bytes = new Uint8Array([1, 2, 3]);
    const r = regionOf(0x4000n, bytes);
    expect(r.start).toBe(0x4000n);
    expect(r.length).toBe(3n);
    expect(Buffer.from(r.sha256).toString("hex")).toBe(sha256hex(bytes));
  });
});

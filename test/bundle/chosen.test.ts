import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { composeCommandLine, editChosen, expandSeed } from "../../toolchain/bundle/index.js";
import { parseFdt, serializeFdt } from "../../toolchain/fdt/index.js";

const dir = mkdtempSync(join(tmpdir(), "chosen-"));

/** Compiles dts source with dtc (the oracle) and returns the blob. */
function dtb(source: string): Uint8Array {
  const src = join(dir, `in-${Math.random().toString(36).slice(2)}.dts`);
  writeFileSync(src, source);
  return new Uint8Array(execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", src]));
}

/** Reads a property back with fdtget. */
function fdtget(blob: Uint8Array, node: string, prop: string, type = "x"): string {
  const f = join(dir, `out-${Math.random().toString(36).slice(2)}.dtb`);
  writeFileSync(f, blob);
  return execFileSync("fdtget", ["-t", type, f, node, prop], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();
}

function dtcWarnings(blob: Uint8Array): string {
  const f = join(dir, `w-${Math.random().toString(36).slice(2)}.dtb`);
  writeFileSync(f, blob);
  return execFileSync("dtc", ["-I", "dtb", "-O", "dts", "-o", "/dev/null", f], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

const BASE = `/dts-v1/;
/memreserve/ 0x48000000 0x200000;
/memreserve/ 0x4f000000 0x1000;
/ {
  #address-cells = <2>; #size-cells = <2>;
  compatible = "linux,dummy-virt";
  memory@40000000 { device_type = "memory"; reg = <0 0x40000000 0 0x40000000>; };
  chosen {
    bootargs = "old crashkernel=256M";
    linux,initrd-start = <0x48000000>; linux,initrd-end = <0x48200000>;
    linux,elfcorehdr = <0 0x7000000 0 0x400>;
    kaslr-seed = <0 0>;
  };
};`;

describe("editChosen", () => {
  const base = dtb(BASE);

  it("reboot: sets initrd, bootargs, seeds, removes stale capture properties and reservations (read back with fdtget)", () => {
    const r = editChosen(parseFdt(base), {
      mode: "reboot", commandLine: "console=ttyAMA0 quiet", initrd: { address: 0x41000000n, size: 0x12345n },
      elfcorehdr: null, usableMemory: [], seed: new Uint8Array([1, 2, 3]),
    }, 0x1000);
    const out = serializeFdt(r.tree);
    expect(fdtget(out, "/chosen", "linux,initrd-start")).toBe("0 41000000");
    expect(fdtget(out, "/chosen", "linux,initrd-end")).toBe("0 41012345");
    expect(fdtget(out, "/chosen", "bootargs", "s")).toBe("console=ttyAMA0 quiet");
    expect(() => fdtget(out, "/chosen", "linux,elfcorehdr")).toThrow();
    expect(fdtget(out, "/chosen", "rng-seed", "bx").split(" ")).toHaveLength(128);
    expect(fdtget(out, "/chosen", "linux,booted-from-kexec")).toBe("");
    const seeds = expandSeed(new Uint8Array([1, 2, 3]));
    expect(BigInt("0x" + fdtget(out, "/chosen", "kaslr-seed").split(" ").map((w) => w.padStart(8, "0")).join(""))).toBe(seeds.kaslr);
    // the old initrd's reservation (matched by its address and size) and the old DTB's (matched by totalsize) go
    expect(r.reservations.removed).toEqual([{ address: 0x48000000n, size: 0x200000n }, { address: 0x4f000000n, size: 0x1000n }]);
    expect(parseFdt(out).reservations).toEqual([{ address: 0x41000000n, size: 0x12345n }]);
    expect(dtcWarnings(out)).toBe("");
  });

  it("crash: writes elfcorehdr and usable ranges in root cells, high range first", () => {
    const r = editChosen(parseFdt(base), {
      mode: "crash", commandLine: "x", initrd: null, elfcorehdr: { address: 0x7fbf0000n, size: 0x400n },
      usableMemory: [{ address: 0x19fe00000n, size: 0x20000000n }, { address: 0xb8000000n, size: 0x8000000n }], seed: new Uint8Array(0),
    }, 0x1000);
    const out = serializeFdt(r.tree);
    expect(fdtget(out, "/chosen", "linux,elfcorehdr")).toBe("0 7fbf0000 0 400");
    expect(fdtget(out, "/chosen", "linux,usable-memory-range")).toBe("1 9fe00000 0 20000000 0 b8000000 0 8000000");
    expect(() => fdtget(out, "/chosen", "linux,initrd-start")).toThrow();
    expect(parseFdt(out).reservations).toEqual([{ address: 0x7fbf0000n, size: 0x400n }]);
    expect(dtcWarnings(out)).toBe("");
  });

  it("refuses a crash range that one-cell addresses cannot hold, naming the property and the fix", () => {
    const oneCell = dtb(`/dts-v1/; / { #address-cells = <1>; #size-cells = <1>; chosen { }; };`);
    try {
      editChosen(parseFdt(oneCell), {
        mode: "crash", commandLine: "", initrd: null, elfcorehdr: { address: 0x7fbf0000n, size: 0x400n },
        usableMemory: [{ address: 0x19fe00000n, size: 0x20000000n }], seed: new Uint8Array(0),
      }, 0x1000);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).where).toBe("/chosen/linux,usable-memory-range");
      expect((e as InputError).message).toMatch(/#address-cells/);
    }
  });

  it("deletes bootargs for an empty command line, as the kernel's kexec_file does", () => {
    const r = editChosen(parseFdt(base), { mode: "reboot", commandLine: "", initrd: null, elfcorehdr: null, usableMemory: [], seed: new Uint8Array(0) }, 0);
    expect(() => fdtget(serializeFdt(r.tree), "/chosen", "bootargs")).toThrow();
    expect(r.written.bootargs).toBeNull();
  });

  it("refuses a command line over COMMAND_LINE_SIZE", () => {
    expect(() => editChosen(parseFdt(base), { mode: "reboot", commandLine: "x".repeat(2048), initrd: null, elfcorehdr: null, usableMemory: [], seed: new Uint8Array(0) }, 0))
      .toThrow(/COMMAND_LINE_SIZE/);
    expect(() => editChosen(parseFdt(base), { mode: "reboot", commandLine: "x".repeat(2048), initrd: null, elfcorehdr: null, usableMemory: [], seed: new Uint8Array(0) }, 0))
      .toThrow(expect.objectContaining({ code: "CMDLINE_TOO_LONG" }) as Error);
  });
});

describe("expandSeed", () => {
  it("is deterministic and separates seeds", () => {
    const a = expandSeed(new Uint8Array([0]));
    expect(expandSeed(new Uint8Array([0]))).toEqual(a);
    expect(expandSeed(new Uint8Array([1])).kaslr).not.toBe(a.kaslr);
    expect(a.rng).toHaveLength(128);
    expect(new Set(a.rng).size).toBeGreaterThan(64);
  });
});

describe("composeCommandLine", () => {
  const running = "BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 crashkernel=256M  console=ttyAMA0";
  it.each([
    [{ mode: "crash" as const, reuse: running, append: "nr_cpus=1" }, "root=/dev/vda1 console=ttyAMA0 nr_cpus=1"],
    [{ mode: "reboot" as const, reuse: running }, "root=/dev/vda1 crashkernel=256M console=ttyAMA0"],
    [{ mode: "reboot" as const, commandLine: "a b" }, "a b"],
    [{ mode: "reboot" as const, append: " c " }, "c"],
    [{ mode: "reboot" as const }, ""],
  ])("%o gives %j", (o, want) => {
    expect(composeCommandLine(o)).toBe(want);
  });
  it("refuses --command-line with --reuse-cmdline", () => {
    expect(() => composeCommandLine({ mode: "reboot", commandLine: "a", reuse: "b" })).toThrow(InputError);
    expect(() => composeCommandLine({ mode: "reboot", commandLine: "a", reuse: "b" })).toThrow(expect.objectContaining({ code: "CMDLINE_CONFLICT" }) as Error);
  });
  it("refuses --command-line with --append: the usage shows them as alternatives", () => {
    expect(() => composeCommandLine({ mode: "crash", commandLine: "a", append: "b" })).toThrow(expect.objectContaining({ code: "CMDLINE_CONFLICT", where: "--append" }) as Error);
  });
});

import { describe, expect, it } from "vitest";
import { captureSource, readKcoreVmcoreinfo } from "../../toolchain/target/index.js";
import { fakeKcore } from "./_fake-root.js";
import { thrown } from "../_thrown.js";

const TEXT = "OSRELEASE=6.1.0-18-arm64\nPAGESIZE=4096\n";
const source = (kcore: Uint8Array) => captureSource(new Map([["proc/kcore", kcore]]), "test");
const read = (kcore: Uint8Array) => readKcoreVmcoreinfo(source(kcore), kcore.subarray(0, 64));


describe("readKcoreVmcoreinfo", () => {
  it("finds the VMCOREINFO note among the kcore notes", () => {
    expect(read(fakeKcore(TEXT))).toBe(TEXT);
  });

  it("returns null for a kcore without one (kernels before 4.19)", () => {
    const k = fakeKcore(TEXT);
    const at = k.length - Math.ceil(TEXT.length / 4) * 4 - 12 - 12 + 12; // the VMCOREINFO name
    k.set(new TextEncoder().encode("VMCOREINFX"), at);
    expect(read(k)).toBeNull();
  });

  it("refuses a core file of another machine", () => {
    expect(thrown(() => read(fakeKcore(TEXT, 62)))).toMatchObject({ code: "NOT_ARM64", where: "proc/kcore" });
  });

  it("reports a capture that cut the notes short", () => {
    const k = fakeKcore(TEXT);
    expect(thrown(() => read(k.subarray(0, k.length - 10)))).toMatchObject({ code: "TRUNCATED", where: "proc/kcore" });
    expect(thrown(() => read(k.subarray(0, 100)))).toMatchObject({ code: "TRUNCATED", where: 64 + 36 });
  });

  it("refuses an absurd note segment size instead of reading it", () => {
    const k = fakeKcore(TEXT);
    new DataView(k.buffer).setBigUint64(64 + 32, 1n << 40n, true);
    expect(thrown(() => read(k))).toMatchObject({ code: "BAD_KCORE" });
  });
});

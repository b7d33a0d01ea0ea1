import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { getProperty, parseFdt, serializeFdt, setProperty } from "../../toolchain/fdt/index.js";
import { QEMU_VIRT, VIRT_DTB_ROM, XLNX_ZCU102, bootedTarget, captureMachine } from "../../toolchain/qemu/index.js";
import { virtTarget } from "../bundle/_inputs.js";

/** A description as collect-target.sh gives it from a booted virt: QEMU's seeds in /chosen, the boot's id, no DTB ROM reserved. */
function booted() {
  const t = virtTarget();
  let tree = parseFdt(t.dtb!);
  tree = setProperty(tree, "/chosen", "kaslr-seed", new Uint8Array(8).fill(0x11));
  tree = setProperty(tree, "/chosen", "rng-seed", new Uint8Array(32).fill(0x22));
  return { ...t, reserved: [{ start: 0x4800_0000n, end: 0x4810_0000n }], dtb: serializeFdt(tree), bootId: "0f0e0d0c-0b0a-4908-8706-050403020100" };
}

describe("bootedTarget", () => {
  it("reserves virt's DTB ROM for `boot`, drops QEMU's seeds and the ended boot's id", () => {
    const t = bootedTarget(QEMU_VIRT, booted());
    expect(t.reserved).toEqual([VIRT_DTB_ROM, { start: 0x4800_0000n, end: 0x4810_0000n }]);
    const chosen = parseFdt(t.dtb!);
    expect([getProperty(chosen, "/chosen", "kaslr-seed"), getProperty(chosen, "/chosen", "rng-seed")]).toEqual([undefined, undefined]);
    expect(t).not.toHaveProperty("bootId");
  });

  it("reserves nothing more on a machine without a DTB ROM", () => {
    expect(bootedTarget(XLNX_ZCU102, booted()).reserved).toEqual([{ start: 0x4800_0000n, end: 0x4810_0000n }]);
  });
});

describe("captureMachine", () => {
  const base = {
    el2: false, memory: 0x4000_0000n, smp: 1, kernel: new Uint8Array(0), collectScript: "", crashkernel: null, timeoutMs: 1000,
    qemu: "/nonexistent/qemu-system-aarch64",
  };

  it("refuses a busybox the guest cannot run before it starts QEMU, at --busybox", async () => {
    const text = new TextEncoder().encode("#!/bin/sh\n");
    await expect(captureMachine(QEMU_VIRT, { ...base, busybox: text })).rejects.toMatchObject({ code: "BAD_VALUE", where: "--busybox" });
    // The host's own busybox (Debian's, a provisioned host package): an ELF, but not for arm64.
    const host = readFileSync("/bin/busybox");
    const e = await captureMachine(QEMU_VIRT, { ...base, busybox: host }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "BAD_VALUE", where: "--busybox", message: expect.stringMatching(/EM_AARCH64|dynamically linked/) });
  });

  it("says QEMU is missing when the binary cannot be started", async () => {
    const busybox = readFileSync(loadAssets().busybox.binary.path);
    const e = await captureMachine(QEMU_VIRT, { ...base, busybox }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: "QEMU_MISSING", message: expect.stringContaining("/nonexistent/qemu-system-aarch64") });
  });
});

import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { calibrateCrashkernel } from "../../toolchain/calibrate/index.js";
import { DEFAULT_CONFIG, buildCpio, serializeConfig } from "../../toolchain/initramfs/index.js";
import { makeImage } from "../image/_make.js";
import { thrownAsync } from "../_thrown.js";

// What the calibration refuses before it starts QEMU: a capture initramfs
// whose dump target the probes cannot give it. test/cycle/calibrate.test.ts
// runs real probes.
const kernel = makeImage({ fileSize: 0x4000, imageSize: 30n << 20n });
const initramfs = (conf: string | null) =>
  new Uint8Array(gzipSync(buildCpio([
    { path: "/bin/busybox", mode: 0o755, data: "busybox" },
    ...(conf === null ? [] : [{ path: "/etc/purgatory/capture.conf", data: conf }]),
  ])));
const conf = (dumpTo: string, fsType: string) =>
  serializeConfig({ ...DEFAULT_CONFIG, dumpTo, fsType }, { modules: [], libraryPath: ["/lib"], path: ["/bin"] });

const refusal = (initrd: Uint8Array) =>
  thrownAsync(() => calibrateCrashkernel({ kernel, initrd, loader: new Uint8Array(8), memory: 1n << 30n, smp: 2, append: "nr_cpus=1", workDir: "/nonexistent", clock: () => 0 }));

describe("calibrateCrashkernel refuses, before any probe", () => {
  it("an initramfs without the configuration of `purgatory initramfs` (NO_CAPTURE_CONFIG): nothing says where the dump goes", async () => {
    const e = await refusal(initramfs(null));
    expect(e.code).toBe("NO_CAPTURE_CONFIG");
    expect(e.where).toBe("/etc/purgatory/capture.conf");
    expect(e.hint).toMatch(/purgatory initramfs/);
  });

  it("a dump target other than the probe's one virtio disk, or a file system it cannot make (BAD_VALUE)", async () => {
    const sda = await refusal(initramfs(conf("/dev/sda1", "ext4")));
    expect(sda.code).toBe("BAD_VALUE");
    expect(sda.where).toBe("/etc/purgatory/capture.conf: dump_to");
    expect(sda.message).toMatch(/saves to \/dev\/sda1/);
    const xfs = await refusal(initramfs(conf("LABEL=crash", "xfs")));
    expect(xfs.code).toBe("BAD_VALUE");
    expect(xfs.where).toBe("/etc/purgatory/capture.conf: fs_type");
  });
});

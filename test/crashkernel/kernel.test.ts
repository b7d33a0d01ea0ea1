import { describe, expect, it } from "vitest";
import { bannerRelease, captureKernel } from "../../toolchain/crashkernel/index.js";
import { loadKernelImage } from "../../toolchain/image/index.js";
import { makeImage } from "../image/_make.js";

const M = 1n << 20n;
const text = (s: string) => new TextEncoder().encode(s);
const withBanner = (banner: string): Uint8Array => {
  const b = makeImage({ fileSize: 0x4000, imageSize: 24n * M, textOffset: 0n });
  b.set(text(banner), 0x2000);
  return b;
};

describe("captureKernel reads what the estimate needs from an unwrapped kernel", () => {
  it("takes image_size, text_offset and the page-size flag from the header, not the file size", async () => {
    const k = captureKernel(await loadKernelImage(withBanner("Linux version 6.1.0-56-cloud-arm64 (debian-kernel@lists.debian.org) #1 SMP\n")));
    expect(k).toEqual({ imageSize: 24n * M, textOffset: 0n, pageSize: 4096, release: "6.1.0-56-cloud-arm64" });
  });
});

describe("bannerRelease finds uname -r in linux_banner", () => {
  it.each([
    ["Linux version 6.12.9+rpt-rpi-2712 (serge@raspberrypi.com) (gcc)", "6.12.9+rpt-rpi-2712"],
    ["\0\0Linux version 5.10.0 #1", "5.10.0"],
  ])("%j -> %s", (banner, release) => expect(bannerRelease(text(banner))).toBe(release));

  it.each([
    ["no banner", "Linux kernel"],
    ["a banner cut at the end", "Linux version 6.1.0"],
    ["an empty release", "Linux version  (x)"],
    ["a control character in the release", "Linux version 6.1\n.0 (x)"],
    ["a release longer than __NEW_UTS_LEN", `Linux version ${"x".repeat(70)} (x)`],
  ])("gives null for %s", (_, bytes) => expect(bannerRelease(text(bytes))).toBeNull());
});

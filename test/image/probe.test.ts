import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { identify } from "../../toolchain/image/probe.js";
import { makeImage, makeUImage, makeUki, makeVmlinux, makeZboot } from "./_make.js";

const at = (offset: number, bytes: number[], size = 0x400): Uint8Array => {
  const b = new Uint8Array(size);
  b.set(bytes, offset);
  return b;
};

function refusal(b: Uint8Array): InputError {
  try {
    identify(b);
  } catch (e) {
    if (e instanceof InputError) return e;
  }
  throw new Error("identify accepted the input");
}

describe("identify names each format by its magic", () => {
  it("recognises every format the loader unwraps", () => {
    const img = makeImage();
    expect(identify(img)).toBe("Image");
    expect(identify(makeImage({ efiStub: true }))).toBe("Image"); // "MZ" too, but the Image magic wins
    expect(identify(makeZboot(new Uint8Array(8), "gzip"))).toBe("zboot");
    expect(identify(makeUki(img))).toBe("pe");
    expect(identify(makeVmlinux(img))).toBe("vmlinux");
    expect(identify(makeUImage(img))).toBe("uImage");
    expect(identify(new Uint8Array(gzipSync(img)))).toBe("gzip");
    expect(identify(at(0, [0x28, 0xb5, 0x2f, 0xfd]))).toBe("zstd");
    expect(identify(at(0, [0x5e, 0x2a, 0x4d, 0x18]))).toBe("zstd"); // skippable frame
    expect(identify(at(0, [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))).toBe("xz");
  });

  it("names what it recognises but does not load, with a hint", () => {
    const cases: [Uint8Array, RegExp][] = [
      [at(0, [0x42, 0x5a, 0x68, 0x39]), /bzip2 data/],
      [at(0, [0x02, 0x21, 0x4c, 0x18]), /lz4 data \(legacy frame/],
      [at(0, [0x04, 0x22, 0x4d, 0x18]), /lz4 data, which/],
      [at(0, [0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]), /lzo data/],
      [at(0, [0x5d, 0x00, 0x00, 0x00, 0x04]), /lzma data .*unlzma/],
      [at(0, [0xd0, 0x0d, 0xfe, 0xed]), /device tree or U-Boot FIT image.*dumpimage/],
      [at(0, [0x30, 0x37, 0x30, 0x37, 0x30, 0x31]), /cpio archive/],
      [at(0x24, [0x18, 0x28, 0x6f, 0x01]), /32-bit ARM zImage, which is not supported \(at offset 0x24\)/],
      [at(0x202, [0x48, 0x64, 0x72, 0x53]), /x86 bzImage, which is not supported \(at offset 0x202\)/],
    ];
    for (const [bytes, message] of cases) {
      const e = refusal(bytes);
      expect([e.code, e.message]).toEqual(["UNSUPPORTED_FORMAT", expect.stringMatching(message)]);
    }
  });

  it("describes an unknown file by its first bytes and what it is not", () => {
    const e = refusal(at(0, [0xde, 0xad, 0xbe, 0xef], 0x100));
    expect(e.code).toBe("UNKNOWN_FORMAT");
    expect(e.message).toMatch(/0x100 bytes starting de ad be ef 00 00 00 00 match none of arm64 Image/);
    expect(refusal(new Uint8Array(0)).message).toMatch(/starting \(empty\).*too short to be a kernel/);
  });
});

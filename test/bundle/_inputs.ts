import { readFileSync } from "node:fs";
import { parseTarget, type Target } from "../../toolchain/target/index.js";

/** Small deterministic inputs for bundle tests: a synthetic arm64 Image and initrd, and fixture targets. */

const root = new URL("../..", import.meta.url).pathname;

/** A raw arm64 Image: valid header (4K pages, LE, text_offset 0), `size` bytes, image_size `imageSize`. */
export function syntheticImage(size = 0x30000, imageSize = 0x80000n): Uint8Array {
  const b = new Uint8Array(size);
  for (let i = 64; i < size; i++) b[i] = (i * 131) & 0xff;
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x14000010, true); // b +0x40, as code0 of a real Image
  v.setBigUint64(8, 0n, true); // text_offset
  v.setBigUint64(16, imageSize, true);
  v.setBigUint64(24, 0b1010n, true); // LE, 4K pages, anywhere
  v.setUint32(56, 0x644d5241, true); // "ARM\x64"
  return b;
}

export function syntheticInitrd(size = 0x12345): Uint8Array {
  return Uint8Array.from({ length: size }, (_, i) => (i * 7 + 3) & 0xff);
}

/** The QEMU virt 6.1 target captured by the target tests (crashkernel=256M, vmcoreinfo). */
export function virtTarget(): Target {
  return parseTarget(readFileSync(`${root}/test/target/fixtures/qemu-virt-6.1/target.json`, "utf8"));
}

/** A layout fixture target by name (test/layout/fixtures/NAME/target.json). */
export function layoutTarget(name: string): Target {
  return parseTarget(readFileSync(`${root}/test/layout/fixtures/${name}/target.json`, "utf8"));
}

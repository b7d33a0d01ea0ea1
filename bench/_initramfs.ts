import { gzipSync } from "node:zlib";
import { buildCpio } from "../toolchain/initramfs/index.js";

/**
 * A gzip-compressed newc initramfs of about `mib` MiB, as the benches' initrd:
 * files cut from the arm64 Image (real code and data, which gzip -6 shrinks
 * about 2.7 times, much as it does a Debian initramfs of modules and
 * programs), so that the initrd check really inflates and walks it.
 * Deterministic for a given Image.
 */
export function gzipInitramfs(image: Uint8Array, mib: number): Uint8Array {
  const want = mib * 2.7 * 1048576;
  const entries: { path: string; data: Uint8Array; mode: number }[] = [];
  let total = 0;
  for (let i = 0; total < want; i++) {
    const len = Math.min(256 * 1024 + ((i * 104729) % (3 * 1048576)), Math.ceil(want - total));
    const at = (i * 7919 * 4096) % (image.length - len);
    entries.push({ path: `lib/modules/m${i}.ko`, data: image.subarray(at, at + len), mode: 0o644 });
    total += len;
  }
  return new Uint8Array(gzipSync(buildCpio(entries), { level: 6 }));
}

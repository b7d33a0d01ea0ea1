import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { checkInitrd, withFileSource } from "../toolchain/initrd/index.js";
import { loadAssets } from "../scripts/assets.js";
import { gzipInitramfs } from "./_initramfs.js";

/**
 * The cost of `purgatory bundle`'s initrd check (toolchain/initrd) on a gzip
 * initramfs of about 10 and 100 MiB: checkInitrd on the file (inflate to the
 * end, walk the cpio, check CRC32 and size), against `sha256sum` and
 * `gzip -t` on the same file.
 *
 *   npx tsc -p tsconfig.json && node dist/bench/initrd-check.js [RUNS]
 *
 * Prints the median wall time of RUNS (default 5) of each, and MB/s of
 * inflated data for the check.
 */

const runs = Number(process.argv[2] ?? 5);
const MiB = 1048576;
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const time = (f: () => void): number => {
  const t = process.hrtime.bigint();
  f();
  return Number(process.hrtime.bigint() - t) / 1e9;
};

const dir = mkdtempSync(join(tmpdir(), "bench-initrd-"));
try {
  const image = new Uint8Array(readFileSync(loadAssets().kernel.image.path));
  console.log(`bench/initrd-check: ${runs} runs, ${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  const head = ["initrd", "MiB", "inflated MiB", "check s", "MB/s", "sha256sum s", "gzip -t s"];
  const rows: string[][] = [];
  for (const mib of [10, 100]) {
    const path = join(dir, `initrd-${mib}.cpio.gz`);
    const gz = gzipInitramfs(image, mib);
    writeFileSync(path, gz);
    const check: number[] = [];
    let inflated = 0;
    for (let i = 0; i < runs; i++) {
      const t = process.hrtime.bigint();
      const r = await withFileSource(path, checkInitrd);
      check.push(Number(process.hrtime.bigint() - t) / 1e9);
      inflated = r.parts.reduce((n, p) => n + (p.decompressedSize ?? 0), 0);
    }
    const sha = Array.from({ length: runs }, () => time(() => spawnSync("sha256sum", [path])));
    const gzipT = Array.from({ length: runs }, () => time(() => spawnSync("gzip", ["-t", path])));
    const c = median(check);
    rows.push([`${mib} MiB class`, (gz.length / MiB).toFixed(1), (inflated / MiB).toFixed(0), c.toFixed(3), (inflated / 1e6 / c).toFixed(0), median(sha).toFixed(3), median(gzipT).toFixed(3)]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const r of [head, ...rows]) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
  console.log(`load average now ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

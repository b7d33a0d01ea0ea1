import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadAssets } from "../scripts/assets.js";
import { busyboxInitramfs } from "../toolchain/initramfs/index.js";
import { readBundle } from "../toolchain/bundle/index.js";
import { bootBundle, dumpVirtDtb, virtTarget } from "../toolchain/qemu/index.js";
import { writeHandBundle } from "../test/qemu/_bundle.js";

/**
 * Emulated kexec boot times (`bootBundle`, QEMU TCG, cortex-a57): the Debian
 * cloud kernel entered through the test trampoline bundle
 * (test/qemu/_bundle.ts), at EL1 and EL2, with 1 and 4 CPUs. Prints, per
 * machine, the median of RUNS boots: seconds from starting QEMU to the
 * kernel's "Run /init as init process" line, and to the /init marker line
 * (when QEMU is stopped).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/qemu-boot.js [RUNS]
 *
 * The machine is shared (TCG runs one host thread per guest CPU), so figures
 * from a loaded host are slower.
 */

const runs = Number(process.argv[2] ?? 3);
const GiB = 0x4000_0000n;
const assets = loadAssets();
const kernel = new Uint8Array(readFileSync(assets.kernel.image.path));
const initrd = busyboxInitramfs({
  busybox: readFileSync(assets.busybox.binary.path),
  applets: ["sh", "echo", "poweroff"],
  init: "#!/bin/sh\necho bench-marker-reached\npoweroff -f\n",
});
const work = mkdtempSync(join(tmpdir(), "bench-qemu-boot-"));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

try {
  console.log(`emulated kexec boot, ${runs} runs each, median seconds (kernel ${assets.kernel.release})`);
  console.log("machine          to init   to marker");
  for (const el2 of [false, true]) {
    for (const smp of [1, 4]) {
      const dir = join(work, `el${el2 ? 2 : 1}-${smp}`);
      const target = virtTarget({ dtb: await dumpVirtDtb({ el2, memory: GiB, smp }), memory: GiB, crashKernel: null });
      writeHandBundle(dir, { target, kernel, initrd, bootargs: "console=ttyAMA0 panic=-1" });
      const bundle = await readBundle(dir);
      const toInit: number[] = [];
      const toMarker: number[] = [];
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        let console = "";
        let init = NaN;
        const r = await bootBundle(bundle, { el2, smp, timeoutMs: 120_000, expect: /^bench-marker-reached$/ }, (t) => {
          console += t;
          if (Number.isNaN(init) && console.includes("Run /init as init process")) init = performance.now() - start;
        });
        if (r.outcome !== "success") throw new Error(`boot failed: ${r.outcome}: ${r.reason}`);
        toInit.push(init / 1000);
        toMarker.push((performance.now() - start) / 1000);
      }
      console.log(`EL${el2 ? 2 : 1}, ${smp} CPU${smp === 1 ? " " : "s"}     ${median(toInit).toFixed(2).padStart(7)}   ${median(toMarker).toFixed(2).padStart(9)}`);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

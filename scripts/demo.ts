/**
 * The main job on the built-in example (`npm start`): bundle the provisioned
 * Debian arm64 kernel with a small busybox initramfs for an emulated QEMU
 * `virt` machine, verify the bundle, and boot it through the purgatory the way
 * the kernel's kexec path would hand over. Run after `scripts/provision.sh`
 * and `tsc` (npm start does both).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { hex } from "../toolchain/bytes/index.js";
import { buildBundle, describeBundle, readBundle, verifyBundle, writeDirAtomic } from "../toolchain/bundle/index.js";
import { bootBundle, dumpVirtDtb, virtTarget } from "../toolchain/qemu/index.js";
import { serializeTarget } from "../toolchain/target/index.js";
import { loadAssets } from "./assets.js";
import { busyboxInitramfs } from "../toolchain/initramfs/index.js";

const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
echo
echo "demo: the kexec'd kernel reached userspace"
echo "demo: command line: $(cat /proc/cmdline)"
echo "demo: /chosen holds: $(ls /proc/device-tree/chosen | tr '\\n' ' ')"
echo "demo: linux,booted-from-kexec is $( [ -e /proc/device-tree/chosen/linux,booted-from-kexec ] && echo set || echo missing )"
poweroff -f
`;

const MEMORY = 1n << 30n;
const SMP = 2;

async function main(): Promise<number> {
  const step = (s: string) => process.stdout.write(`\n== ${s}\n`);
  const assets = loadAssets();
  const out = join(process.env.PURGATORY_CACHE ?? join(homedir(), ".cache", "purgatory"), "demo");
  await mkdir(out, { recursive: true });

  step(`target: QEMU virt, cortex-a57, ${SMP} CPUs, ${MEMORY >> 20n} MiB (purgatory target qemu-virt)`);
  const target = virtTarget({ dtb: await dumpVirtDtb({ el2: false, memory: MEMORY, smp: SMP }), memory: MEMORY, crashKernel: null });
  await writeFile(join(out, "target.json"), serializeTarget(target));
  process.stdout.write(`RAM ${hex(target.memory[0]!.start)}..${hex(target.memory[0]!.end)}, base DTB ${target.dtb?.length} bytes\n`);

  step(`initramfs: busybox ${assets.busybox.version} with a /init that reports what it was handed`);
  const initrd = busyboxInitramfs({
    busybox: new Uint8Array(await readFile(assets.busybox.binary.path)),
    applets: ["sh", "mount", "cat", "echo", "ls", "tr", "poweroff"],
    init: INIT,
  });
  process.stdout.write(`${initrd.length} bytes\n`);

  step(`bundle: Debian ${assets.kernel.release} (${assets.kernel.version}), reboot mode (purgatory bundle)`);
  const bundle = await buildBundle({
    mode: "reboot",
    kernel: new Uint8Array(await readFile(assets.kernel.vmlinuz.path)),
    initrd,
    dtb: null,
    target,
    commandLine: "console=ttyAMA0 rdinit=/init panic=-1 demo=purgatory",
    seed: new TextEncoder().encode("npm start"),
  });
  const dir = join(out, "bundle");
  await writeDirAtomic(dir, bundle.files);
  process.stdout.write(describeBundle(bundle, dir) + "\n");

  step("verify: digests, layout rules, purgatory slots, /chosen (purgatory verify)");
  const v = await verifyBundle(dir);
  process.stdout.write(v.ok ? `${v.checks.length} checks passed\n` : `FAILED: ${v.firstFailure!.check}: ${v.firstFailure!.detail}\n`);
  if (!v.ok) return 1;

  step("boot: QEMU places each segment and starts the CPU at the purgatory, at EL1 (purgatory boot --qemu)");
  // Show the purgatory's progress lines, the kernel banner and userspace, not the whole boot log.
  let partial = "";
  const show = (line: string) => {
    if (/purgatory:|Linux version|^demo:|Run \/init/.test(line)) process.stdout.write(line + "\n");
  };
  const r = await bootBundle(await readBundle(dir), { timeoutMs: 120_000, expect: /demo: linux,booted-from-kexec is set/ }, (t) => {
    const lines = (partial + t).split("\n");
    partial = lines.pop()!;
    for (const line of lines) show(line.replace(/\r$/, ""));
  });
  show(partial.replace(/\r$/, ""));
  process.stdout.write(`\noutcome: ${r.outcome} (${r.reason})\n`);
  if (r.outcome !== "success") {
    process.stdout.write(r.consoleTail + "\n");
    return 1;
  }

  step("done");
  process.stdout.write(
    [
      `The bundle is in ${dir}: one file per segment, manifest.json and segments.bin.`,
      "On real arm64 hardware:",
      "  1. On the target, as root: `purgatory describe -o target.json` (or, without Node,",
      "     `sh examples/collect-target.sh > capture.txt` and `purgatory describe --from capture.txt` anywhere).",
      "  2. `purgatory bundle --mode crash|reboot --kernel K --initrd I -t target.json --reuse-cmdline -o DIR`",
      "     (check it with `purgatory verify DIR` and `purgatory explain DIR`). For a crash bundle, I can be",
      "     `purgatory initramfs -o capture.cpio.gz --root / --modules ...`: it saves the dump to disk",
      "     (docs/capture-initramfs.md).",
      "  3. Build the loader (`bash scripts/build-loader.sh`), copy it and DIR to the target, run `loader DIR`;",
      "     then `loader --exec` reboots into a reboot bundle, and a crash bundle runs on the next panic.",
    ].join("\n") + "\n",
  );
  return 0;
}

process.exitCode = await main();

import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { CommandModule } from "yargs";
import { loadAssets } from "../../scripts/assets.js";
import bootCommand from "../../toolchain/cli/boot.js";
import bundleCommand from "../../toolchain/cli/bundle.js";
import { busyboxInitramfs } from "../../toolchain/initramfs/index.js";
import targetCommand from "../../toolchain/cli/target.js";
import verifyCommand from "../../toolchain/cli/verify.js";
import { VIRT_DTB_ROM, dtbMachine } from "../../toolchain/qemu/index.js";
import { parseTarget, parseVmcoreinfo } from "../../toolchain/target/index.js";
import { runCommand } from "./_purgatory-cli.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-target-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (args: string[]) => runCommand(targetCommand as CommandModule<object, never>, ["target", ...args]);

describe("purgatory target qemu-virt", () => {
  it("writes target.json for the machine QEMU builds and summarises it", async () => {
    const out = join(dir, "virt.json");
    const r = await cli(["qemu-virt", "-m", "1G", "--smp", "2", "-o", out]);
    expect(r, r.err).toMatchObject({ code: 0, err: "" });
    const t = parseTarget(readFileSync(out, "utf8"));
    expect(t.memory).toEqual([{ start: 0x4000_0000n, end: 0x8000_0000n }]);
    expect(dtbMachine(t.dtb!)).toMatchObject({ psciMethod: "hvc", cpus: 2 });
    expect(r.out).toContain(`wrote ${out}\n`);
    expect(r.out).toMatch(/machine +qemu-virt: -M virt -cpu cortex-a57 -m 1024M -smp 2 \(QEMU emulator version \d/);
    expect(r.out).toContain("CPUs         2, starting at EL1, PSCI over HVC");
    expect(r.out).toContain("reserved     0x40000000-0x40100000 (1 MiB) (QEMU's own DTB)");
    expect(r.out).toContain("console      pl011 at 0x9000000 (/pl011@9000000, arm,pl011, shift 0, width 2)");
    expect(t.console?.family).toBe("pl011");
    expect([t.psci, t.cpuEnableMethod]).toEqual(["hvc", { "/cpus/cpu@0": "psci", "/cpus/cpu@1": "psci" }]);
    expect(r.out).toContain("crash kernel none");
    expect(r.out).toContain("note: no CPU crash notes or vmcoreinfo (no kernel has run): use it for reboot bundles");
  });

  it("is reproducible: the same options give the same bytes, printed without -o; qemu-virt is the default machine", async () => {
    const a = await cli(["--smp", "2"]);
    const b = await cli(["qemu-virt", "--smp", "2"]);
    expect(a.code).toBe(0);
    expect(a.out).toBe(b.out);
    expect(parseTarget(a.out).commandLine).toBe("console=ttyAMA0");
  });

  it("makes an EL2 machine (PSCI over SMC) with a crash range, and reports it as JSON", async () => {
    const out = join(dir, "el2.json");
    const r = await cli(["qemu-virt", "--el2", "-m", "2G", "--smp", "4", "--crashkernel", "256M", "-o", out, "--json"]);
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out);
    expect(s).toMatchObject({
      el: 2,
      psciMethod: "smc",
      cpus: 4,
      qemuArgs: ["-M", "virt,virtualization=on", "-cpu", "cortex-a57", "-m", "2048M", "-smp", "4"],
      memory: [{ start: "0x40000000", end: "0xc0000000" }],
      crashKernel: { start: "0xb0000000", end: "0xc0000000" },
      crashKernelLow: null,
    });
    expect(s.notes[1]).toMatch(/a booted kernel puts it lower/);
    expect(parseTarget(readFileSync(out, "utf8")).crashKernel).toEqual({ start: 0xb000_0000n, end: 0xc000_0000n });
  });

  it("refuses bad option values with exit 2, other failures with exit 1, and writes nothing", async () => {
    const out = join(dir, "bad.json");
    const cases: [string[], string, number][] = [
      [["-m", "512"], "BAD_OPTION", 2],
      [["-m", "lots"], "BAD_OPTION", 2],
      [["--smp", "9"], "BAD_OPTION", 2],
      [["--smp", "0"], "BAD_OPTION", 2],
      [["--crashkernel", "64M@0x40000000"], "NO_FIT", 1],
      [["--qemu-binary", join(dir, "no-qemu")], "QEMU_MISSING", 1],
      [["--dtb", join(dir, "x.dtb")], "", 2],
    ];
    for (const [args, code, exit] of cases) {
      const r = await cli(["qemu-virt", ...args, "-o", out, "--json"]);
      expect(r.code, args.join(" ")).toBe(exit);
      if (code !== "") expect(JSON.parse(r.out).error.code, args.join(" ")).toBe(code);
    }
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith("."))).toEqual([]);
  });
});

describe("purgatory target xlnx-zcu102", () => {
  const board = loadAssets().genericKernel.zcu102Dtb.path;

  it("describes the board DTB as QEMU hands it to a kernel there: RAM at 0, nothing reserved, its Cadence console, PSCI over SMC", async () => {
    const out = join(dir, "zcu102.json");
    const r = await cli(["xlnx-zcu102", "--dtb", board, "-m", "1G", "--crashkernel", "256M", "-o", out]);
    expect(r, r.err).toMatchObject({ code: 0, err: "" });
    const t = parseTarget(readFileSync(out, "utf8"));
    expect(t.memory).toEqual([{ start: 0n, end: 0x4000_0000n }]);
    expect(t.reserved).toEqual([]);
    expect(t.crashKernel).toEqual({ start: 0x3000_0000n, end: 0x4000_0000n });
    expect(t.commandLine).toBe("earlycon console=ttyPS0");
    expect(t.console).toEqual({ family: "cadence", compatible: "xlnx,zynqmp-uart", path: "/axi/serial@ff000000", base: 0xff00_0000n, shift: 0, width: 4 });
    expect([t.psci, Object.values(t.cpuEnableMethod)]).toEqual(["smc", ["psci", "psci", "psci", "psci"]]);
    // QEMU set /memory to the RAM it has, and disabled the firmware nodes no PMU firmware serves.
    expect(dtbMachine(t.dtb!)).toMatchObject({ psciMethod: "smc", cpus: 4, memory: [{ address: 0n, size: 0x4000_0000n }], compatible: expect.arrayContaining(["xlnx,zynqmp-zcu102"]) });
    expect(r.out).toMatch(/machine +xlnx-zcu102: -M xlnx-zcu102 -m 1024M -smp 4 -dtb .*zynqmp-zcu102-rev1\.0\.dtb \(QEMU emulator version/);
    expect(r.out).toContain("CPUs         4, starting at EL1, PSCI over SMC");
    expect(r.out).toContain("reserved     none");
    expect(r.out).toContain("console      cadence at 0xff000000 (/axi/serial@ff000000, xlnx,zynqmp-uart, shift 0, width 4)");
  });

  it("needs the board's DTB, and takes at most 4 CPUs and 2 GiB", async () => {
    const cases: [string[], string][] = [[[], "--dtb"], [["--dtb", board, "--smp", "5"], "--smp"], [["--dtb", board, "-m", "4G"], "-m"]];
    for (const [args, where] of cases) {
      const r = await cli(["xlnx-zcu102", ...args, "--json"]);
      expect(r.code, args.join(" ")).toBe(2);
      expect(JSON.parse(r.out).error, args.join(" ")).toMatchObject({ code: "BAD_OPTION", where });
    }
    // Its ttyPS0 never opens under QEMU's -kernel boot, so a booted description cannot be sent out.
    const booted = await runCommand(targetCommand as CommandModule<object, never>, ["target", "xlnx-zcu102", "--dtb", board, "--kernel", "Image"]);
    expect([booted.code, booted.err]).toEqual([2, expect.stringContaining("--kernel describes a booted qemu-virt only")]);
  });
});

describe("purgatory target qemu-virt --kernel: the kdump flow with no hardware", () => {
  it("boots the kernel once and describes the running machine; bundle --mode crash, verify and boot then work on it", async () => {
    const assets = loadAssets();
    const out = join(dir, "kdump-target.json");
    const t = await cli(["qemu-virt", "--crashkernel", "256M", "--kernel", assets.kernel.image.path, "-o", out, "--json"]);
    expect(t.code, t.err + t.out).toBe(0);
    const target = parseTarget(readFileSync(out, "utf8"));
    // What only a running kernel has: vmcoreinfo with its text, the CPU's crash notes, the reservation it made.
    expect(parseVmcoreinfo(target.vmcoreinfo!.text!).osRelease).toBe(assets.kernel.release);
    expect(target.cpuNotes).toHaveLength(1);
    expect(target.crashKernel!.end - target.crashKernel!.start).toBe(256n << 20n);
    expect(target.reserved[0]).toEqual(VIRT_DTB_ROM);
    expect(target.lockdown).toBe("none");
    expect(target.commandLine).toBe("console=ttyAMA0 rdinit=/init panic=-1 nokaslr crashkernel=256M");
    expect(JSON.parse(t.out).notes[0]).toMatch(/^described the running kernel .*: 1 CPU crash notes, vmcoreinfo with its text$/);

    // The capture kernel's initramfs says what it found, then powers off.
    const initrd = join(dir, "capture.cpio");
    writeFileSync(initrd, busyboxInitramfs({
      busybox: readFileSync(assets.busybox.binary.path),
      applets: ["sh", "mount", "ls", "poweroff"],
      init: "#!/bin/sh\nexport PATH=/bin\nmount -t proc proc /proc\necho \"capture-kernel $(ls -l /proc/vmcore)\"\npoweroff -f\n",
    }));
    const bundle = join(dir, "kdump");
    const b = await runCommand(bundleCommand as CommandModule<object, never>, [
      "bundle", "--mode", "crash", "--kernel", assets.kernel.image.path, "--initrd", initrd, "-t", out,
      "--reuse-cmdline", "--append", "nr_cpus=1 reset_devices", "--seed", "00", "-o", bundle,
    ]);
    expect(b.code, b.err).toBe(0);
    const v = await runCommand(verifyCommand as CommandModule<object, never>, ["verify", bundle]);
    expect(v.code, v.out).toBe(0);
    const r = await runCommand(bootCommand as CommandModule<object, never>, ["boot", bundle, "--expect", "^capture-kernel ", "--timeout", "240", "--json"]);
    expect(r.code, r.out).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.outcome).toBe("success");
    // The capture kernel found the crashed machine's memory through the elfcorehdr: /proc/vmcore exists.
    expect(report.reason).toMatch(/capture-kernel .* \/proc\/vmcore$/);
  }, 900_000);

  it("refuses a busybox that cannot run in the guest and a kernel that never sends the capture, writing nothing", async () => {
    const assets = loadAssets();
    const out = join(dir, "never.json");
    const text = join(dir, "busybox.txt");
    writeFileSync(text, "#!/bin/sh\n");
    const bad = await cli(["qemu-virt", "--kernel", assets.kernel.image.path, "--busybox", text, "-o", out, "--json"]);
    expect([bad.code, JSON.parse(bad.out).error]).toEqual([1, expect.objectContaining({ code: "BAD_VALUE", where: "--busybox" })]);
    const slow = await cli(["qemu-virt", "--kernel", assets.kernel.image.path, "--timeout", "1", "-o", out, "--json"]);
    expect(slow.code).toBe(1);
    expect(JSON.parse(slow.out).error).toMatchObject({ code: "QEMU_FAILED", message: expect.stringMatching(/was still running after 1 s before the guest sent its capture/) });
    expect(existsSync(out)).toBe(false);
  }, 120_000);
});

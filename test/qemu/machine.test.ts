import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { getProperty, parseFdt } from "../../toolchain/fdt/index.js";
import {
  QEMU_VIRT,
  VIRT_DTB_ROM,
  XLNX_ZCU102,
  dtbMachine,
  dumpDtb,
  dumpVirtDtb,
  machineArgs,
  machineOf,
  parseCrashKernel,
  parseSize,
  qemuMemoryArg,
  virtArgs,
  virtTarget,
} from "../../toolchain/qemu/index.js";
import { reserveCrashKernel, serializeTarget, validateTarget, type Range } from "../../toolchain/target/index.js";
import { codeOf as code } from "../_thrown.js";

const MiB = 0x10_0000n;
const GiB = 0x4000_0000n;
const ram = (size: bigint): Range[] => [{ start: GiB, end: GiB + size }];

const work = mkdtempSync(join(tmpdir(), "qemu-virt-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));


describe("parseSize reads sizes and addresses as memparse does", () => {
  it.each([
    ["512M", 512n * MiB],
    ["1G", GiB],
    ["1g", GiB],
    ["4096", 4096n],
    ["0x50000000", 0x5000_0000n],
    ["2T", 2n << 40n],
    ["64K", 0x1_0000n],
  ])("%s = %s bytes", (text, bytes) => expect(parseSize(text, "x")).toBe(bytes));

  it.each(["", "1.5G", "-1G", "1GB", "G", "0x"])("refuses %j with BAD_OPTION", (text) => expect(code(() => parseSize(text, "x"))).toBe("BAD_OPTION"));

  it("refuses a bare number where a unit is needed (QEMU reads -m 512 as MiB, the kernel as bytes)", () => {
    expect(code(() => parseSize("512", "-m", true))).toBe("BAD_OPTION");
    expect(parseSize("512M", "-m", true)).toBe(512n * MiB);
    // A 0x number is bytes to QEMU and to the kernel alike: the form the refusal itself suggests.
    expect(parseSize("0x40000000", "-m", true)).toBe(GiB);
  });
});

describe("parseCrashKernel reads SIZE[@ADDR]", () => {
  it("reads both forms", () => {
    expect(parseCrashKernel("64M")).toEqual({ size: 64n * MiB });
    expect(parseCrashKernel("64M@0x50000000")).toEqual({ size: 64n * MiB, base: 0x5000_0000n });
  });
  it.each(["256M,high", "1G-2G:64M", "64M@1@2", "0", "@0x50000000"])("refuses %j", (text) => expect(code(() => parseCrashKernel(text))).toBe("BAD_OPTION"));
});

describe("reserveCrashKernel against the kernel itself", () => {
  it("agrees with the Debian 6.1 kernel booted with crashkernel=SIZE@ADDR (its 'crashkernel reserved:' line)", async () => {
    const kernel = loadAssets().kernel.image.path;
    const req = parseCrashKernel("64M@0x60000000");
    const ours = reserveCrashKernel(ram(GiB), [VIRT_DTB_ROM], req);
    const line = await kernelSays(kernel, "1G", "64M@0x60000000", /crashkernel reserved: 0x([0-9a-f]+) - 0x([0-9a-f]+) \(/);
    expect(line).not.toBeNull();
    expect({ start: BigInt(`0x${line![1]}`), end: BigInt(`0x${line![2]}`) }).toEqual(ours);
  }, 40_000);

  it("agrees that 6.1 reserves nothing when crashkernel=SIZE does not fit below 4 GiB (no fall-back above it)", async () => {
    const kernel = loadAssets().kernel.image.path;
    const req = parseCrashKernel("3584M");
    expect(code(() => reserveCrashKernel(ram(8n * GiB), [VIRT_DTB_ROM], req))).toBe("NO_FIT");
    const line = await kernelSays(kernel, "8G", "3584M", /cannot allocate crashkernel|crashkernel reserved: .*/);
    expect(line?.[0]).toBe("cannot allocate crashkernel");
  }, 40_000);
});

/** Boots the kernel directly (-kernel) until a console line matches `re`; returns the match, or null on exit/timeout. */
function kernelSays(kernel: string, memory: string, crashkernel: string, re: RegExp): Promise<RegExpExecArray | null> {
  return new Promise((resolve, reject) => {
    const child = spawn("qemu-system-aarch64", [
      "-M", "virt", "-cpu", "cortex-a57", "-m", memory, "-nographic", "-no-reboot", "-nic", "none",
      "-kernel", kernel, "-append", `console=ttyAMA0 panic=-1 crashkernel=${crashkernel}`,
    ], { stdio: ["ignore", "pipe", "ignore"] });
    let out = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("latin1");
      const m = re.exec(out);
      if (m !== null) {
        child.kill("SIGKILL");
        resolve(m);
      }
    });
    child.on("error", reject);
    child.on("close", () => {
      clearTimeout(timer);
      resolve(re.exec(out));
    });
  });
}

describe("machineArgs and machineOf: xlnx-zcu102 beside virt", () => {
  it("leaves -cpu to the machine, and holds 4 CPUs and 2 GiB", () => {
    expect(machineArgs(XLNX_ZCU102, { el2: true, memory: GiB, smp: 4 })).toEqual(["-M", "xlnx-zcu102,virtualization=on", "-m", "1024M", "-smp", "4"]);
    expect(code(() => machineArgs(XLNX_ZCU102, { el2: false, memory: GiB, smp: 5 }))).toBe("BAD_OPTION");
    expect(code(() => machineArgs(XLNX_ZCU102, { el2: false, memory: 2n * GiB + MiB, smp: 1 }))).toBe("BAD_OPTION");
  });

  it("tells the machines apart by the DTB's root compatible", () => {
    expect(machineOf({ compatible: ["xlnx,zynqmp-zcu102-rev1.0", "xlnx,zynqmp-zcu102", "xlnx,zynqmp"] }, "x").name).toBe("xlnx-zcu102");
    expect(machineOf({ compatible: ["linux,dummy-virt"] }, "x")).toBe(QEMU_VIRT);
    expect(code(() => machineOf({ compatible: [] }, "x"))).toBe("UNSUPPORTED_MACHINE");
  });

  it("asks for the board's DTB where QEMU makes none", async () => {
    await expect(dumpDtb(XLNX_ZCU102, { el2: false, memory: GiB, smp: 1 })).rejects.toMatchObject({ code: "BAD_OPTION", where: "--dtb" });
  });
});

describe("virtArgs and qemuMemoryArg describe the machine to QEMU", () => {
  it("selects EL2 with virtualization=on and passes RAM in MiB", () => {
    expect(virtArgs({ el2: false, memory: GiB, smp: 1 })).toEqual(["-M", "virt", "-cpu", "cortex-a57", "-m", "1024M", "-smp", "1"]);
    expect(virtArgs({ el2: true, memory: 512n * MiB, smp: 4 })).toEqual(["-M", "virt,virtualization=on", "-cpu", "cortex-a57", "-m", "512M", "-smp", "4"]);
  });
  it("refuses CPU counts virt cannot hold and RAM that is not whole MiB", () => {
    for (const smp of [0, 9, 1.5]) expect(code(() => virtArgs({ el2: false, memory: GiB, smp }))).toBe("BAD_OPTION");
    expect(code(() => qemuMemoryArg(GiB + 4096n))).toBe("BAD_OPTION");
  });
});

describe("dumpVirtDtb and virtTarget describe a QEMU virt machine", () => {
  let el1: Uint8Array;
  let el2: Uint8Array;
  beforeAll(async () => {
    [el1, el2] = await Promise.all([dumpVirtDtb({ el2: false, memory: GiB, smp: 2 }), dumpVirtDtb({ el2: true, memory: 2n * GiB, smp: 4 })]);
  });

  it("gets QEMU's own tree, whose PSCI conduit follows the EL: HVC at EL1, SMC at EL2", () => {
    expect(dtbMachine(el1)).toEqual({ psciMethod: "hvc", cpus: 2, memory: [{ address: GiB, size: GiB }], compatible: ["linux,dummy-virt"] });
    expect(dtbMachine(el2)).toEqual({ psciMethod: "smc", cpus: 4, memory: [{ address: GiB, size: 2n * GiB }], compatible: ["linux,dummy-virt"] });
  });

  it("writes a valid target: one RAM range at 0x40000000, QEMU's DTB ROM reserved, 4K pages, console=ttyAMA0, no notes", () => {
    const t = virtTarget({ dtb: el1, memory: GiB, crashKernel: parseCrashKernel("64M@0x60000000") });
    validateTarget(t);
    expect(t).toMatchObject({
      pageSize: 4096,
      memory: [{ start: GiB, end: 2n * GiB }],
      reserved: [{ start: GiB, end: GiB + MiB }],
      crashKernel: { start: 0x6000_0000n, end: 0x6400_0000n },
      crashKernelLow: null,
      cpuNotes: [],
      vmcoreinfo: null,
      commandLine: "console=ttyAMA0",
    });
  });

  it("drops QEMU's random seeds, so two dumps give the same target byte for byte", async () => {
    const again = await dumpVirtDtb({ el2: false, memory: GiB, smp: 2 });
    expect(Buffer.compare(again, el1)).not.toBe(0); // QEMU's seeds differ run to run
    const a = serializeTarget(virtTarget({ dtb: el1, memory: GiB, crashKernel: null }));
    const b = serializeTarget(virtTarget({ dtb: again, memory: GiB, crashKernel: null }));
    expect(a).toBe(b);
    const tree = parseFdt(virtTarget({ dtb: el1, memory: GiB, crashKernel: null }).dtb!);
    expect(getProperty(tree, "/chosen", "kaslr-seed")).toBeUndefined();
    expect(getProperty(tree, "/chosen", "rng-seed")).toBeUndefined();
    expect(getProperty(tree, "/chosen", "stdout-path")).toBeDefined();
  });

  it("writes a DTB that dtc and fdtget read, with the PSCI method and CPUs QEMU gave", () => {
    const file = join(work, "el2.dtb");
    writeFileSync(file, virtTarget({ dtb: el2, memory: 2n * GiB, crashKernel: null }).dtb!);
    expect(execFileSync("dtc", ["-I", "dtb", "-O", "dts", "-o", "/dev/null", file], { encoding: "utf8", stdio: "pipe" })).toBe("");
    expect(execFileSync("fdtget", [file, "/psci", "method"], { encoding: "utf8" }).trim()).toBe("smc");
    const cpus = execFileSync("fdtget", ["-l", file, "/cpus"], { encoding: "utf8" }).trim().split("\n").filter((n) => n.startsWith("cpu@"));
    expect(cpus).toHaveLength(4);
  });

  it("reports a QEMU that cannot be started as QEMU_MISSING and a refused machine as QEMU_FAILED with QEMU's words", async () => {
    await expect(dumpVirtDtb({ el2: false, memory: GiB, smp: 1, qemu: join(work, "no-such-qemu") })).rejects.toMatchObject({ code: "QEMU_MISSING" });
    await expect(dumpVirtDtb({ el2: false, memory: 1n << 50n, smp: 1 })).rejects.toMatchObject({ code: "QEMU_FAILED", message: /QEMU refused the machine: .*memory/ });
  });
});

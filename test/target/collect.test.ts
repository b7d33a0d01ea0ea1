import { execFileSync } from "node:child_process";
import { chmodSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { auxvPageSize, collectTarget, fsSource, serializeTarget } from "../../toolchain/target/index.js";
import { FIXTURE, auxv, makeFakeRoot } from "./_fake-root.js";
import { expectGolden } from "../_golden.js";
import { codeOf } from "../_thrown.js";

const roots: string[] = [];
function root(opts: Parameters<typeof makeFakeRoot>[0] = {}): string {
  const r = makeFakeRoot(opts);
  roots.push(r);
  return r;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});


describe("collectTarget", () => {
  it("describes the QEMU virt 6.1 fixture root exactly as the golden target.json", () => {
    const { target, warnings } = collectTarget(fsSource(root()));
    expect(warnings).toEqual([]);
    expectGolden(join(FIXTURE, "target.json"), serializeTarget(target));
  });

  it("reads the facts from their files in the kernel's formats", () => {
    const { target } = collectTarget(fsSource(root()));
    expect(target.memory).toEqual([{ start: 0x40000000n, end: 0x80000000n }]);
    expect(target.crashKernel).toEqual({ start: 0x6fc00000n, end: 0x7fc00000n });
    expect(target.crashKernelLow).toBeNull();
    expect(target.kernelCode).toEqual({ start: 0x40210000n, end: 0x41a10000n });
    expect(target.reserved[0]).toEqual({ start: 0x40000000n, end: 0x40100000n });
    // crash_notes is hex without 0x, crash_notes_size decimal
    expect(target.cpuNotes).toEqual([
      { cpu: 0, address: 0x7fdd3e00n, size: 424n },
      { cpu: 1, address: 0x7fdf1e00n, size: 424n },
    ]);
    // /sys/kernel/vmcoreinfo is "%pa %x": the size 1024 is hex
    expect(target.vmcoreinfo?.address).toBe(0x42f8d000n);
    expect(target.vmcoreinfo?.size).toBe(0x1024n);
    expect(target.vmcoreinfo?.text).toBe(readFileSync(join(FIXTURE, "vmcoreinfo.txt"), "utf8"));
    expect(target.commandLine).toBe("BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-arm64 root=/dev/vda1 ro console=ttyAMA0 crashkernel=256M");
    expect(target.pageSize).toBe(4096);
    expect(target.dtb?.subarray(0, 4)).toEqual(Uint8Array.of(0xd0, 0x0d, 0xfe, 0xed));
  });

  it("reads the lockdown level, the bracketed word, and leaves it out when securityfs has no lockdown file", () => {
    const r = root();
    const file = join(r, "sys/kernel/security/lockdown");
    writeFileSync(file, "none integrity [confidentiality]\n");
    expect(collectTarget(fsSource(r)).target.lockdown).toBe("confidentiality");
    writeFileSync(file, "none [integrity] confidentiality\n");
    expect(collectTarget(fsSource(r)).target.lockdown).toBe("integrity");
    for (const bad of ["none integrity confidentiality\n", "[lax]\n"]) {
      writeFileSync(file, bad);
      expect(codeOf(() => collectTarget(fsSource(r)))).toBe("BAD_SYSFS");
    }
    rmSync(file);
    const { target, warnings } = collectTarget(fsSource(r));
    expect(target.lockdown).toBeUndefined();
    expect(warnings).toEqual([]);
  });

  it("reads only the head of a 16 GiB sparse /proc/kcore", () => {
    // readFileSync of the whole file would throw ERR_FS_FILE_TOO_LARGE
    expect(() => collectTarget(fsSource(root()))).not.toThrow();
  });

  it("keeps going without /proc/kcore and says what is lost", () => {
    const { target, warnings } = collectTarget(fsSource(root({ noKcore: true })));
    expect(target.vmcoreinfo).toEqual({ address: 0x42f8d000n, size: 0x1024n });
    expect(warnings.join("\n")).toMatch(/no \/proc\/kcore: no vmcoreinfo text/);
  });

  it("refuses a kcore that is not arm64", () => {
    expect(codeOf(() => collectTarget(fsSource(root({ machine: 62 }))))).toBe("NOT_ARM64");
  });

  it("takes the page size from auxv, vmcoreinfo or the caller, and refuses disagreement", () => {
    expect(codeOf(() => collectTarget(fsSource(root({ pageSize: 65536 }))))).toBe("PAGE_SIZE_CONFLICT");
    expect(codeOf(() => collectTarget(fsSource(root()), { pageSize: 16384 }))).toBe("PAGE_SIZE_CONFLICT");
    const r = root({ noKcore: true });
    rmSync(join(r, "proc/self/auxv"));
    expect(codeOf(() => collectTarget(fsSource(r)))).toBe("NO_PAGE_SIZE");
    expect(collectTarget(fsSource(r), { pageSize: 16384 }).target.pageSize).toBe(16384);
    expect(codeOf(() => collectTarget(fsSource(r), { pageSize: 8192 as 4096 }))).toBe("BAD_PAGE_SIZE");
  });

  it("names the file of a malformed sysfs value", () => {
    const r = root();
    writeFileSync(join(r, "sys/devices/system/cpu/cpu1/crash_notes"), "0x7fdf1e00\n");
    try {
      collectTarget(fsSource(r));
      expect.unreachable();
    } catch (e) {
      expect((e as InputError).code).toBe("BAD_SYSFS");
      expect((e as InputError).where).toBe("sys/devices/system/cpu/cpu1/crash_notes");
    }
  });

  it("refuses a missing /proc/iomem and a CPU with notes but no size", () => {
    const r = root();
    rmSync(join(r, "sys/devices/system/cpu/cpu0/crash_notes_size"));
    expect(codeOf(() => collectTarget(fsSource(r)))).toBe("MISSING_FILE");
    rmSync(join(r, "proc/iomem"));
    expect(codeOf(() => collectTarget(fsSource(r)))).toBe("MISSING_FILE");
  });

  it("warns about a CPU without crash notes and keeps the others", () => {
    const r = root();
    rmSync(join(r, "sys/devices/system/cpu/cpu1/crash_notes"));
    const { target, warnings } = collectTarget(fsSource(r));
    expect(target.cpuNotes.map((n) => n.cpu)).toEqual([0]);
    expect(warnings).toEqual([expect.stringMatching(/^cpu1 has no crash_notes/)]);
  });

  it("takes the console, PSCI and enable-methods from /sys/firmware/fdt, and warns when the console is unknown", () => {
    const { target } = collectTarget(fsSource(root()));
    expect(target.console).toEqual({ family: "pl011", compatible: "arm,pl011", path: "/pl011@9000000", base: 0x900_0000n, shift: 0, width: 2 });
    expect([target.psci, target.cpuEnableMethod]).toEqual(["hvc", { "/cpus/cpu@0": "psci", "/cpus/cpu@1": "psci" }]);
    const r = root();
    const dts = readFileSync(join(FIXTURE, "fdt.dts"), "utf8").replace(/\s*stdout-path = [^;]*;/, "");
    writeFileSync(join(r, "sys/firmware/fdt"), execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb"], { input: dts }));
    writeFileSync(join(r, "proc/cmdline"), "root=/dev/vda1 console=hvc0\n");
    const quiet = collectTarget(fsSource(r));
    expect(quiet.target.console).toBeNull();
    expect(quiet.warnings).toEqual([expect.stringMatching(/no \/chosen\/stdout-path, and no console= names a UART this tool can resolve \(console=hvc0\)/)]);
    rmSync(join(r, "sys/firmware/fdt"));
    expect(collectTarget(fsSource(r)).target).toMatchObject({ console: null, psci: null, cpuEnableMethod: {} });
  });

  it.skipIf(process.getuid?.() === 0)("turns permission denied into NO_ACCESS with the path", () => {
    const r = root();
    chmodSync(join(r, "proc/iomem"), 0);
    expect(codeOf(() => collectTarget(fsSource(r)))).toBe("NO_ACCESS");
  });
});

describe("auxvPageSize", () => {
  it("finds AT_PAGESZ and refuses a torn auxv", () => {
    expect(auxvPageSize(auxv(65536))).toBe(65536);
    expect(auxvPageSize(new Uint8Array(16))).toBeNull();
    expect(codeOf(() => auxvPageSize(new Uint8Array(24)))).toBe("BAD_AUXV");
  });
});

import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { boardFacts, cpuEnableMethods, regBase } from "../../toolchain/target/index.js";
import { parseFdt } from "../../toolchain/fdt/index.js";
import { loadAssets } from "../../scripts/assets.js";
import { FIXTURE } from "./_fake-root.js";

/** A DTB from device-tree source, by dtc (an independent producer). */
function dtb(body: string): Uint8Array {
  return new Uint8Array(execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb"], { input: `/dts-v1/;\n/ {\n#address-cells = <2>;\n#size-cells = <2>;\n${body}\n};\n` }));
}

/** A tree with one UART node `uart` under the root and stdout-path pointing at it. */
function withUart(props: string, extra = ""): Uint8Array {
  return dtb(`chosen { stdout-path = "/uart@1000:115200n8"; };\nuart@1000 { reg = <0 0x1000 0 0x100>; ${props} };\n${extra}`);
}

describe("boardFacts: the console", () => {
  it("finds QEMU virt's PL011 through stdout-path, with the access width amba-pl011.c uses", () => {
    const virt = new Uint8Array(execFileSync("dtc", ["-q", "-I", "dts", "-O", "dtb", join(FIXTURE, "fdt.dts")]));
    expect(boardFacts(virt, "")).toEqual({
      console: { family: "pl011", compatible: "arm,pl011", path: "/pl011@9000000", base: 0x900_0000n, shift: 0, width: 2 },
      psci: "hvc",
      cpuEnableMethod: { "/cpus/cpu@0": "psci", "/cpus/cpu@1": "psci" },
      notes: [],
    });
  });

  it.each([
    ['compatible = "arm,pl011", "arm,primecell";', "pl011", "arm,pl011", 0, 2],
    ['compatible = "arm,pl011", "arm,primecell"; reg-io-width = <4>;', "pl011", "arm,pl011", 0, 4],
    ['compatible = "arm,sbsa-uart"; reg-io-width = <1>;', "pl011", "arm,sbsa-uart", 0, 4],
    ['compatible = "ns16550a";', "8250", "ns16550a", 0, 1],
    ['compatible = "fsl,ns16550", "ns16550a"; reg-shift = <2>; reg-io-width = <4>;', "8250", "ns16550a", 2, 4],
    ['compatible = "mrvl,mmp-uart";', "8250", "mrvl,mmp-uart", 2, 1],
    ['compatible = "rockchip,rk3399-uart", "snps,dw-apb-uart"; reg-shift = <2>; reg-io-width = <4>;', "8250", "snps,dw-apb-uart", 2, 4],
    ['compatible = "snps,dw-apb-uart"; reg-io-width = <2>;', "8250", "snps,dw-apb-uart", 0, 1],
    ['compatible = "brcm,bcm2835-aux-uart"; reg-shift = <0>;', "8250", "brcm,bcm2835-aux-uart", 2, 4],
    ['compatible = "xlnx,zynqmp-uart", "cdns,uart-r1p12";', "cadence", "xlnx,zynqmp-uart", 0, 4],
    ['compatible = "cdns,uart-r1p8"; reg-shift = <2>;', "cadence", "cdns,uart-r1p8", 0, 4],
  ] as const)("%s is %s (%s), shift %i, width %i", (props, family, compatible, shift, width) => {
    expect(boardFacts(withUart(props), "").console).toEqual({ family, compatible, path: "/uart@1000", base: 0x1000n, shift, width });
  });

  it("adds 8250_of's reg-offset to the base, and refuses a reg-io-width it refuses", () => {
    expect(boardFacts(withUart('compatible = "ns16550a"; reg-offset = <0x40>;'), "").console?.base).toBe(0x1040n);
    const odd = boardFacts(withUart('compatible = "ns16550a"; reg-io-width = <3>;'), "");
    expect(odd.console).toBeNull();
    expect(odd.notes.join("\n")).toMatch(/reg-io-width is 3; 8250_of refuses/);
  });

  it("records a UART of unknown family with its compatible, and says so", () => {
    const f = boardFacts(withUart('compatible = "acme,uart-x", "acme,uart";'), "");
    expect(f.console).toEqual({ family: null, compatible: "acme,uart-x", path: "/uart@1000", base: 0x1000n, shift: 0, width: 1 });
    expect(f.notes).toEqual([expect.stringMatching(/\/uart@1000 \(compatible "acme,uart-x", "acme,uart"\) is of no UART family/)]);
  });

  it("resolves stdout-path as an alias with options, an alias with a sub-path, linux,stdout-path, and a unit-less path", () => {
    const soc = 'soc { #address-cells = <1>; #size-cells = <1>; ranges; uart@2000 { compatible = "ns16550a"; reg = <0x2000 0x100>; }; };';
    const aliases = 'aliases { serial0 = "/soc/uart@2000"; soc = "/soc"; };';
    const path = (chosen: string) => boardFacts(dtb(`chosen { ${chosen} };\n${aliases}\n${soc}`), "").console?.path;
    expect(path('stdout-path = "serial0:115200n8";')).toBe("/soc/uart@2000");
    expect(path('stdout-path = "soc/uart@2000";')).toBe("/soc/uart@2000");
    expect(path('linux,stdout-path = "/soc/uart";')).toBe("/soc/uart@2000");
    const missing = boardFacts(dtb(`chosen { stdout-path = "serial3"; };\n${aliases}\n${soc}`), "");
    expect(missing.console).toBeNull();
    expect(missing.notes).toEqual([expect.stringMatching(/no alias "serial3"/)]);
  });

  it("prefers stdout-path to console=, and falls back to the last console= that names a port", () => {
    const two = 'aliases { serial0 = "/pl011@1000"; serial1 = "/uart@2000"; };\n' +
      'pl011@1000 { compatible = "arm,pl011"; reg = <0 0x1000 0 0x1000>; };\nuart@2000 { compatible = "ns16550a"; reg = <0 0x2000 0 0x100>; };';
    expect(boardFacts(dtb(`chosen { stdout-path = "serial1"; };\n${two}`), "console=ttyAMA0").console?.path).toBe("/uart@2000");
    const fromCmdline = (cmdline: string) => boardFacts(dtb(two), cmdline);
    expect(fromCmdline("console=ttyAMA0,115200 quiet").console?.path).toBe("/pl011@1000");
    expect(fromCmdline("console=ttyS1 console=tty0").console?.path).toBe("/uart@2000");
    const wrong = fromCmdline("console=ttyS0");
    expect(wrong.console).toBeNull();
    expect(wrong.notes).toEqual([expect.stringMatching(/alias serial0 is \/pl011@1000, not a 8250 UART/)]);
    expect(fromCmdline("console=hvc0").notes).toEqual([expect.stringMatching(/no console= names a UART this tool can resolve \(console=hvc0\)/)]);
    expect(fromCmdline("").notes).toEqual(["no /chosen/stdout-path and no console= on the command line: the console is unknown"]);
  });

  it("numbers ports without aliases only when there is one UART of the family", () => {
    const one = 'pl011@1000 { compatible = "arm,pl011"; reg = <0 0x1000 0 0x1000>; };';
    expect(boardFacts(dtb(one), "console=ttyAMA0").console?.base).toBe(0x1000n);
    const f = boardFacts(dtb(`${one}\npl011@3000 { compatible = "arm,pl011"; reg = <0 0x3000 0 0x1000>; };`), "console=ttyAMA0");
    expect(f.console).toBeNull();
    expect(f.notes).toEqual([expect.stringMatching(/no alias serial0, and 2 pl011 UARTs, so which port .* depends on probe order/)]);
    expect(boardFacts(dtb(one), "console=ttyAMA1").console).toBeNull();
  });
});

describe("regBase: reg translated to a CPU physical address through ranges", () => {
  const tree = (body: string) => parseFdt(dtb(body));

  it("follows empty ranges (identity) and mapping ranges with other cell counts on each level", () => {
    const t = tree(
      'bus@f0000000 { compatible = "simple-bus"; #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x0 0xf0000000 0x1000000>;\n' +
        '  sub { #address-cells = <1>; #size-cells = <1>; ranges;\n' +
        '    uart@10000 { reg = <0x10000 0x100>; }; }; };\n' +
        'high { #address-cells = <2>; #size-cells = <1>; ranges = <0x1 0x0  0x0 0x80000000  0x1000>;\n' +
        '  uart@1,40 { reg = <0x1 0x40 0x20>; }; };',
    );
    const notes: string[] = [];
    expect(regBase(t, "/bus@f0000000/sub/uart@10000", notes)).toBe(0xf001_0000n);
    expect(regBase(t, "/high/uart@1,40", notes)).toBe(0x8000_0040n);
    expect(notes).toEqual([]);
  });

  it("gives null, with the reason, for a bus without ranges, an address in no entry, a PCI bus and no reg", () => {
    const t = tree(
      'i2c { #address-cells = <1>; #size-cells = <0>; dev@50 { reg = <0x50>; }; };\n' +
        'bus { #address-cells = <1>; #size-cells = <1>; ranges = <0x0 0x0 0x10000000 0x1000>; far@2000 { reg = <0x2000 0x10>; }; };\n' +
        'pcie { device_type = "pci"; #address-cells = <3>; #size-cells = <2>; ranges; uart@0 { reg = <0 0 0 0 0x100>; }; };\n' +
        'noreg { };',
    );
    const why = (path: string) => {
      const notes: string[] = [];
      expect(regBase(t, path, notes), path).toBeNull();
      return notes.join("; ");
    };
    expect(why("/i2c/dev@50")).toMatch(/\/i2c has no ranges, so \/i2c\/dev@50 at 0x50 has no CPU address/);
    expect(why("/bus/far@2000")).toMatch(/0x2000 \(\/bus\/far@2000\) is in no ranges entry of \/bus/);
    expect(why("/pcie/uart@0")).toMatch(/behind the PCI bus \/pcie/);
    expect(why("/noreg")).toMatch(/has no reg/);
  });

  it("records a console whose address cannot be translated with base null", () => {
    const f = boardFacts(dtb('chosen { stdout-path = "/i2c/uart@48"; };\ni2c { #address-cells = <1>; #size-cells = <0>; uart@48 { compatible = "ns16550a"; reg = <0x48>; }; };'), "");
    expect(f.console).toMatchObject({ family: "8250", base: null });
    expect(f.notes).toEqual([expect.stringMatching(/\/i2c has no ranges/)]);
  });
});

describe("boardFacts: PSCI and the CPUs", () => {
  const cpus = 'cpus { #address-cells = <1>; #size-cells = <0>;\n' +
    '  cpu@0 { device_type = "cpu"; reg = <0>; };\n' +
    '  cpu@1 { device_type = "cpu"; reg = <1>; enable-method = "spin-table"; cpu-release-addr = <0 0x8000fff8>; };\n' +
    '  cpu@2 { device_type = "cpu"; reg = <2>; enable-method = "psci"; };\n' +
    '  cpu@3 { device_type = "cpu"; reg = <3>; status = "fail"; enable-method = "psci"; };\n' +
    '  cpu-map { }; };';

  it("reads each CPU's enable-method (null when absent), skipping failed CPUs and other nodes", () => {
    expect(cpuEnableMethods(parseFdt(dtb(cpus)))).toEqual({ "/cpus/cpu@0": null, "/cpus/cpu@1": "spin-table", "/cpus/cpu@2": "psci" });
    expect(cpuEnableMethods(parseFdt(dtb("")))).toEqual({});
  });

  it.each([
    ['psci { compatible = "arm,psci-1.0", "arm,psci-0.2"; method = "smc"; };', "smc", []],
    ['firmware { psci { compatible = "arm,psci-0.2"; method = "hvc"; }; };', "hvc", []],
    ['psci { compatible = "arm,psci"; method = "smc"; status = "disabled"; };', null, []],
    ['psci { compatible = "arm,psci-0.2"; method = "svc"; };', null, [/\/psci has method "svc", not "hvc" or "smc"/]],
    ['psci { compatible = "arm,psci-0.2"; };', null, [/\/psci has method missing/]],
    ["", null, []],
  ] as const)("%s gives PSCI %s", (node, psci, notes) => {
    const f = boardFacts(dtb(node), "");
    expect(f.psci).toBe(psci);
    expect(f.notes.filter((n) => !n.includes("console"))).toEqual(notes.map((n) => expect.stringMatching(n)));
  });

  it("derives nothing from bytes that are not a device tree, and says why", () => {
    const f = boardFacts(Uint8Array.of(0xd0, 0x0d, 0xfe, 0xed, 0, 0, 0, 8), "console=ttyAMA0");
    expect(f).toMatchObject({ console: null, psci: null, cpuEnableMethod: {} });
    expect(f.notes).toEqual([expect.stringMatching(/^the device tree cannot be read \(Cannot/)]);
  });

  it("reads Debian's ZynqMP ZCU102 device tree: its Cadence UART at 0xff000000, PSCI over SMC, four PSCI CPUs", () => {
    const zcu102 = new Uint8Array(readFileSync(loadAssets().genericKernel.zcu102Dtb.path));
    expect(boardFacts(zcu102, "")).toEqual({
      console: { family: "cadence", compatible: "xlnx,zynqmp-uart", path: "/axi/serial@ff000000", base: 0xff00_0000n, shift: 0, width: 4 },
      psci: "smc",
      cpuEnableMethod: Object.fromEntries([0, 1, 2, 3].map((i) => [`/cpus/cpu@${i}`, "psci"])),
      notes: [],
    });
  });
});

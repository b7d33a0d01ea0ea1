import { linkSync, mkdirSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import fdt from "../../toolchain/cli/fdt.js";
import { runCli } from "../_cli.js";
import { FIXTURES, dtcCompile, dtcDecompile, dtcRepack, fdtget, qemuBlobs, tempFile } from "./_corpus.js";

/** `purgatory fdt ...` run in-process through yargs with the real command module. */
const cli = (...args: string[]) => runCli(fdt, args);

afterEach(() => {
  process.exitCode = undefined;
});

const board = () => tempFile(dtcCompile(FIXTURES + "phandles.dts"));

describe("purgatory fdt dump", () => {
  it("prints dtc's dts text", async () => {
    const blob = dtcCompile(FIXTURES + "shapes.dts");
    const r = await cli("fdt", "dump", tempFile(blob));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(dtcDecompile(blob).text);
  });

  it("--json gives the header and typed properties", async () => {
    const r = await cli("fdt", "dump", "--json", board());
    const data = JSON.parse(r.stdout);
    expect(data.header.version).toBe(17);
    expect(data.header.totalsize).toBe(`0x${readFileSync(data.file).length.toString(16)}`);
    expect(data.header.magic).toBe("0xd00dfeed");
    const chosen = data.root.children.find((c: { name: string }) => c.name === "chosen");
    expect(chosen.properties.find((p: { name: string }) => p.name === "bootargs")).toEqual({ name: "bootargs", type: "string", value: ["console=ttyAMA0 earlycon root=/dev/vda"] });
    // 64-bit values and every address or size as "0x…", not as u32 cells (README, --json).
    expect(chosen.properties.find((p: { name: string }) => p.name === "linux,initrd-start")).toEqual({ name: "linux,initrd-start", type: "u64", value: ["0x48000000"] });
    const memory = data.root.children.find((c: { name: string }) => c.name.startsWith("memory"));
    expect(memory.properties.find((p: { name: string }) => p.name === "reg")).toEqual({ name: "reg", type: "reg", value: [{ address: "0x40000000", size: "0x100000000" }] });
  });
});

describe("purgatory fdt get", () => {
  it.each([
    [[], "/chosen", "bootargs", '"console=ttyAMA0 earlycon root=/dev/vda"'],
    [["-t", "string"], "/chosen", "bootargs", "console=ttyAMA0 earlycon root=/dev/vda"],
    [["-t", "strings"], "/pl011@9000000", "clock-names", "uartclk\napb_pclk"],
    [["-t", "u32"], "/memory", "reg", "0x0 0x40000000 0x1 0x0"],
    [["-t", "u64"], "/chosen", "linux,initrd-start", "0x48000000"],
    [["-t", "bytes"], "/apb-pclk", "clock-frequency", "01 6e 36 00"],
    [[], "/intc@8000000", "interrupt-controller", ""],
  ])("%j %s %s", async (opts, node, prop, text) => {
    const r = await cli("fdt", "get", ...opts, board(), node, prop);
    expect([r.code, r.stdout]).toEqual([0, text === "" ? "" : text + "\n"]);
  });

  it("--json gives the decoded value", async () => {
    const r = await cli("fdt", "get", "--json", "-t", "u64", board(), "/chosen", "linux,initrd-end");
    expect(JSON.parse(r.stdout)).toEqual({ length: "0x8", path: "/chosen/linux,initrd-end", text: "0x48800000", type: "u64", value: ["0x48800000"] });
    const auto = await cli("fdt", "get", "--json", board(), "/memory", "reg");
    expect(JSON.parse(auto.stdout)).toMatchObject({ type: "reg", value: [{ address: "0x40000000", size: "0x100000000" }], text: "<0x00 0x40000000 0x01 0x00>" });
  });

  it.each([
    ["a missing property", ["/chosen", "nope"], /Cannot get \/chosen\/nope: no such property \(at \/chosen\/nope\)\. List the properties with/],
    ["a missing node", ["/nope", "x"], /node \/nope does not exist/],
    ["a list read as one string", ["-t", "string", "/pl011@9000000", "compatible"], /holds a NUL at byte 9 of 23.*Read it as a string list/],
    ["an odd length read as u32", ["-t", "u32", "/chosen", "bootargs"], /Cannot decode 40 bytes as u32 cells/],
  ])("exits 1 on %s, with the path and a hint", async (_, args) => {
    const [first, ...rest] = args;
    const r = first === "-t" ? await cli("fdt", "get", first, rest[0]!, board(), ...rest.slice(1)) : await cli("fdt", "get", board(), ...args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(args[0] === "-t" ? args.at(-1)! : args[1]!);
  });
});

describe("purgatory fdt set", () => {
  it("writes each type so that fdtget reads it back, over FILE by default", async () => {
    const file = board();
    for (const [prop, type, values] of [
      ["bootargs", "string", ["console=ttyS0 quiet"]],
      ["test,list", "string", ["a", "b c"]],
      ["test,cells", "u32", ["1", "0xffffffff"]],
      ["linux,initrd-start", "u64", ["0x1_0000_0000".replace(/_/g, "")]],
      ["test,bytes", "bytes", ["de", "ad00", "01"]],
      ["test,empty", "bytes", []],
    ] as const) {
      const r = await cli("fdt", "set", file, "/chosen", prop, ...values, "-t", type);
      expect(r.code, r.stderr).toBe(0);
    }
    const out = new Uint8Array(readFileSync(file));
    expect(fdtget(out, ["-t", "s"], "/chosen", "bootargs")).toBe("console=ttyS0 quiet");
    expect(fdtget(out, ["-t", "s"], "/chosen", "test,list")).toBe("a b c");
    expect(fdtget(out, ["-t", "x"], "/chosen", "test,cells")).toBe("1 ffffffff");
    expect(fdtget(out, ["-t", "x"], "/chosen", "linux,initrd-start")).toBe("1 0");
    expect(fdtget(out, ["-t", "bx"], "/chosen", "test,bytes")).toBe("de ad 0 1");
    expect(fdtget(out, [], "/chosen", "test,empty")).toBe("");
    // Written packed, in dtc's layout.
    expect(out).toEqual(dtcRepack(out));
  });

  it("writes to -o, creates nodes with -p, and reports JSON", async () => {
    const file = board();
    const before = readFileSync(file);
    const out = join(dirname(file), "out.dtb");
    const r = await cli("fdt", "set", file, "/chosen/extra/deeper", "x", "7", "-t", "u32", "-p", "-o", out, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ output: out, path: "/chosen/extra/deeper/x", type: "u32", value: "00000007" });
    expect(readFileSync(file)).toEqual(before);
    expect(fdtget(new Uint8Array(readFileSync(out)), ["-t", "u"], "/chosen/extra/deeper", "x")).toBe("7");
  });

  it.each([
    ["a missing node without -p", ["/nope", "x", "1", "-t", "u32"], /node \/nope does not exist/],
    ["a number too large for u32", ["/chosen", "x", "0x100000000", "-t", "u32"], /Cannot use "0x100000000": it is not a whole number from 0 to 0xffffffff/],
    ["a word as a number", ["/chosen", "x", "ten", "-t", "u64"], /Write numbers in decimal or 0x hex/],
    ["odd hex", ["/chosen", "x", "abc", "-t", "bytes"], /is not hex bytes/],
    ["no string", ["/chosen", "x", "-t", "string"], /no string given/],
    ["a bad property name", ["/chosen", "bad name", "1", "-t", "u32"], /is not a property name/],
  ])("exits 1 on %s and leaves FILE untouched", async (_, args, text) => {
    const file = board();
    const before = readFileSync(file);
    const r = await cli("fdt", "set", file, ...args);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(text);
    expect(readFileSync(file)).toEqual(before);
  });

  it("exits 2 without --type", async () => {
    expect((await cli("fdt", "set", board(), "/chosen", "x", "1")).code).toBe(2);
  });
});

describe("purgatory fdt pack", () => {
  it("shrinks QEMU's 1 MiB blob to what dtc writes", async () => {
    const { blob } = qemuBlobs()[0]!;
    const out = tempFile(new Uint8Array(0));
    const r = await cli("fdt", "pack", tempFile(blob), "-o", out, "--json");
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ before: "0x100000" });
    expect(new Uint8Array(readFileSync(out))).toEqual(dtcRepack(blob));
  });

  it("pads to --size like dtc -S", async () => {
    const out = tempFile(new Uint8Array(0));
    expect((await cli("fdt", "pack", board(), "-o", out, "--size", "0x2000")).code).toBe(0);
    expect(new Uint8Array(readFileSync(out))).toEqual(dtcCompile(FIXTURES + "phandles.dts", ["-S", "8192"]));
  });

  it("exits 2 without -o", async () => {
    expect((await cli("fdt", "pack", board())).code).toBe(2);
  });
});

describe("bad input: exit 1 with the offset and a hint, nothing half-written", () => {
  it("names the offset of a cut-short blob, as text and as JSON", async () => {
    const file = tempFile(dtcCompile(FIXTURES + "shapes.dts").subarray(0, 100));
    const text = await cli("fdt", "dump", file);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/^purgatory: Cannot parse FDT header: totalsize 0x[0-9a-f]+ exceeds input length 0x64 \(at offset 0x4\)\. The blob was cut short/);
    const json = await cli("fdt", "dump", "--json", file);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: "TRUNCATED", where: 4 });
  });

  it("reports a missing file as input error", async () => {
    const r = await cli("fdt", "dump", "/nonexistent/x.dtb");
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/Cannot read \/nonexistent\/x.dtb: no such file \(ENOENT\)/)]);
  });

  it("leaves no temporary file behind when the output cannot be written", async () => {
    const file = board();
    const dir = dirname(file);
    expect((await cli("fdt", "pack", file, "-o", join(dir, "missing-dir", "out.dtb"))).stderr).toMatch(/Cannot write .*missing-dir\/out.dtb/);
    // The temp file is written, then the rename over a directory fails: it must be removed.
    const target = join(dir, "a-directory");
    mkdirSync(target);
    const r = await cli("fdt", "pack", file, "-o", target);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/Cannot write .*a-directory/)]);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("replaces the target by rename, never by writing into it", async () => {
    // A hard link keeps the old inode: an in-place write would change it too.
    const file = board();
    const before = readFileSync(file);
    linkSync(file, file + ".old");
    expect((await cli("fdt", "set", file, "/chosen", "bootargs", "new", "-t", "string")).code).toBe(0);
    expect(readFileSync(file + ".old")).toEqual(before);
    expect(fdtget(new Uint8Array(readFileSync(file)), ["-t", "s"], "/chosen", "bootargs")).toBe("new");
  });
});

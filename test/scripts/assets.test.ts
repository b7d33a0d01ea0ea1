import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { ASSETS_SCHEMA, defaultCacheDir, loadAssets } from "../../scripts/assets.js";

const work = mkdtempSync(join(tmpdir(), "assets-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const readelf = (...args: string[]) => execFileSync("readelf", ["-W", ...args]).toString();
const needed = (path: string) => [...readelf("-d", path).matchAll(/\(NEEDED\)\s+Shared library: \[(.*)\]/g)].map((m) => m[1]);

/** A cache directory holding `json` as assets.json, sharing the real cache's files. */
function fakeCache(json: unknown): string {
  const dir = mkdtempSync(join(work, "cache-"));
  for (const sub of ["arm64", "debs"]) symlinkSync(join(defaultCacheDir(), sub), join(dir, sub));
  writeFileSync(join(dir, "assets.json"), typeof json === "string" ? json : JSON.stringify(json));
  return dir;
}
const failure = (dir: string) => {
  try {
    loadAssets(dir);
  } catch (e) {
    expect(e).toBeInstanceOf(InputError);
    return e as InputError;
  }
  return expect.fail("loadAssets accepted it");
};

describe("loadAssets", () => {
  const assets = loadAssets();
  const realJson = JSON.parse(readFileSync(join(defaultCacheDir(), "assets.json"), "utf8")) as Record<string, unknown>;

  it("returns absolute paths whose files hash to the recorded SHA-256", () => {
    const files = [
      ...assets.debs,
      assets.kernel.vmlinuz,
      assets.kernel.image,
      ...(assets.kernel.config ? [assets.kernel.config] : []),
      assets.genericKernel.image,
      assets.genericKernel.config,
      assets.genericKernel.zcu102Dtb,
      assets.busybox.binary,
      ...[assets.makedumpfile, assets.kexecTools, assets.nodejs].flatMap((p) => [p.binary, p.interpreter, ...p.libraries]),
    ];
    for (const f of files) {
      expect(isAbsolute(f.path), f.path).toBe(true);
      expect(sha256(f.path), f.path).toBe(f.sha256);
    }
  });

  it("describes each .deb as dpkg-deb reads it", () => {
    for (const d of assets.debs) {
      const [pkg, version, arch] = execFileSync("dpkg-deb", ["-f", d.path, "Package", "Version", "Architecture"])
        .toString()
        .trim()
        .split("\n")
        .map((l) => l.replace(/^[^:]+: /, ""));
      expect({ pkg, version }).toEqual({ pkg: d.package, version: d.version });
      expect(["arm64", "all"]).toContain(arch);
    }
    const names = assets.debs.map((d) => d.package);
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining([assets.kernel.package, assets.genericKernel.package, "busybox-static", "makedumpfile", "kexec-tools"]));
  });

  it("has an uncompressed arm64 Image (booting.rst magic) that is the packaged vmlinuz, decompressed if need be", () => {
    const image = readFileSync(assets.kernel.image.path);
    expect(image.subarray(0x38, 0x3c).toString("latin1")).toBe("ARM\x64");
    const vmlinuz = readFileSync(assets.kernel.vmlinuz.path);
    const unpacked = assets.kernel.vmlinuzCompression === "gzip" ? gunzipSync(vmlinuz) : vmlinuz;
    expect(unpacked.equals(image)).toBe(true);
    expect(assets.kernel.package).toBe(`linux-image-${assets.kernel.release}`);
    expect(readFileSync(assets.kernel.config!.path, "utf8")).toMatch(/^CONFIG_KEXEC=y$/m);
  });

  it("has the generic kernel of the cloud kernel's upload, an arm64 Image, and the ZCU102 device tree it ships (dtc reads it)", () => {
    const g = assets.genericKernel;
    expect(g.package).toBe(`linux-image-${g.release}`);
    expect(g.release).toBe(assets.kernel.release.replace(/-cloud-arm64$/, "-arm64"));
    expect(g.version).toBe(assets.kernel.version);
    expect(readFileSync(g.image.path).subarray(0x38, 0x3c).toString("latin1")).toBe("ARM\x64");
    // What the xlnx-zcu102 machine needs built in: its UART (with earlycon) and kexec.
    expect(readFileSync(g.config.path, "utf8")).toMatch(/^CONFIG_SERIAL_XILINX_PS_UART_CONSOLE=y$/m);
    expect(readFileSync(g.config.path, "utf8")).toMatch(/^CONFIG_KEXEC=y$/m);
    const dts = execFileSync("dtc", ["-q", "-I", "dtb", "-O", "dts", g.zcu102Dtb.path]).toString();
    expect(dts).toMatch(/^\tcompatible = "xlnx,zynqmp-zcu102-rev1\.0\\0xlnx,zynqmp-zcu102\\0xlnx,zynqmp";$/m);
  });

  it("has a static AArch64 busybox (readelf: no program interpreter)", () => {
    expect(readelf("-h", assets.busybox.binary.path)).toMatch(/Machine:\s+AArch64/);
    expect(readelf("-l", assets.busybox.binary.path)).not.toMatch(/program interpreter/);
  });

  it.each([
    ["makedumpfile", "/usr/bin/makedumpfile"],
    ["kexecTools", "/sbin/kexec"],
    ["nodejs", "/usr/bin/node"],
  ] as const)("lists %s's interpreter and the closure of its NEEDED sonames, each file carrying that SONAME (readelf)", (key, guestPath) => {
    const m = assets[key];
    expect(m.binary.guestPath).toBe(guestPath);
    expect(readelf("-h", m.binary.path)).toMatch(/Machine:\s+AArch64/);
    expect(readelf("-l", m.binary.path)).toContain(`[Requesting program interpreter: ${m.interpreter.guestPath}]`);
    const bySoname = new Map(m.libraries.map((l) => [l.soname, l]));
    const seen = new Set<string>();
    const walk = (path: string) => {
      for (const so of needed(path)) {
        const lib = bySoname.get(so!);
        expect(lib, `${so} (NEEDED by ${path}) is not listed`).toBeDefined();
        if (seen.has(so!)) continue;
        seen.add(so!);
        expect(readelf("-d", lib!.path)).toContain(`Library soname: [${so}]`);
        walk(lib!.path);
      }
    };
    walk(m.binary.path);
    expect([...seen].sort()).toEqual([...bySoname.keys()].sort());
    for (const l of m.libraries) expect(m.libDirs).toContain(l.guestPath.slice(0, l.guestPath.lastIndexOf("/")));
  });

  it("has a sysroot holding busybox, makedumpfile with its libraries and the kernel's modules, where the packages install them (hard links, no second copy)", () => {
    const same = (a: string, b: string) => expect(statSync(a).ino, `${a} is ${b}`).toBe(statSync(b).ino);
    same(join(assets.sysroot, "bin/busybox"), assets.busybox.binary.path);
    same(join(assets.sysroot, assets.makedumpfile.binary.guestPath), assets.makedumpfile.binary.path);
    for (const l of assets.makedumpfile.libraries) expect(existsSync(join(assets.sysroot, l.guestPath)), l.guestPath).toBe(true);
    same(join(assets.sysroot, "lib/modules", assets.kernel.release, "modules.builtin"), join(assets.kernel.modulesDir as string, "modules.builtin"));
    // Unpacked from .deb files: depmod never ran.
    expect(existsSync(join(assets.sysroot, "lib/modules", assets.kernel.release, "modules.dep"))).toBe(false);
  });

  it("tells the user to run npm run provision when assets.json is missing", () => {
    const e = failure(mkdtempSync(join(work, "empty-")));
    expect(e.code).toBe("NO_ASSETS");
    expect(e.message).toMatch(/assets\.json does not exist.*npm run provision/);
  });

  it("refuses another schema, a missing field and a missing file, naming where", () => {
    expect(failure(fakeCache({ ...realJson, schema: ASSETS_SCHEMA + 1 })).code).toBe("STALE_ASSETS");
    const { busybox: _, ...noBusybox } = realJson;
    expect(failure(fakeCache(noBusybox)).message).toMatch(/at busybox: not an object/);
    const { kexecTools: _k, ...noKexec } = realJson;
    expect(failure(fakeCache(noKexec)).message).toMatch(/at kexecTools: not an object/);
    const { sysroot: _s, ...noSysroot } = realJson;
    expect(failure(fakeCache(noSysroot)).message).toMatch(/at sysroot: not a string.*npm run provision/);
    const { genericKernel: _g, ...noGeneric } = realJson;
    expect(failure(fakeCache(noGeneric)).message).toMatch(/at genericKernel: not an object/);
    expect(failure(fakeCache("{")).code).toBe("BAD_ASSETS");
    const kernel = { ...(realJson["kernel"] as object), image: { path: "arm64/nope", sha256: "0".repeat(64) } };
    const e = failure(fakeCache({ ...realJson, kernel }));
    expect(e.code).toBe("NO_ASSETS");
    expect(e.message).toMatch(/arm64\/nope \(kernel\.image\.path in .*\) does not exist/);
  });
});

import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { thrownAsync as error } from "../_thrown.js";
import { fsRoot, moduleName, parseModinfo, parseModulesDep, parseSoftdep, resolveModules } from "../../toolchain/initramfs/index.js";
import { moduleElf } from "../elf/_tiny.js";
import { fakeRoot, type Node } from "./_fake-root.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-modules-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const R = "6.1.0-test";
const D = `/lib/modules/${R}`;
const mod = (name: string, depends: string, more: string[] = []) => moduleElf([`depends=${depends}`, `vermagic=${R} SMP mod_unload modversions aarch64`, `name=${name}`, ...more]);
// Compressed as scripts/Makefile.modinst does, by the host's tools.
const xz = (b: Uint8Array) => new Uint8Array(execFileSync("xz", ["--check=crc32", "--lzma2=dict=1MiB", "-c"], { input: b }));
const zstd = (b: Uint8Array) => new Uint8Array(execFileSync("zstd", ["-q", "-c"], { input: b }));
const gzip = (b: Uint8Array) => new Uint8Array(execFileSync("gzip", ["-n", "-c"], { input: b }));

const modules: Record<string, Node> = {
  [`${D}/kernel/drivers/virtio/virtio_ring.ko`]: mod("virtio_ring", ""),
  [`${D}/kernel/drivers/virtio/virtio.ko`]: mod("virtio", "virtio_ring"),
  [`${D}/kernel/drivers/block/virtio_blk.ko.xz`]: xz(mod("virtio_blk", "virtio,virtio_ring")),
  [`${D}/kernel/drivers/virtio/virtio_pci.ko.zst`]: zstd(mod("virtio_pci", "virtio_ring,virtio-pci-modern-dev,virtio")),
  [`${D}/kernel/drivers/virtio/virtio-pci-modern-dev.ko.gz`]: gzip(mod("virtio_pci_modern_dev", "")),
  [`${D}/kernel/fs/myfs.ko`]: mod("myfs", "jbd2", ["softdep=pre: crc32c post: myfs-extra"]),
  [`${D}/kernel/fs/myfs_extra.ko`]: mod("myfs_extra", ""),
  [`${D}/modules.builtin`]: "kernel/fs/ext4/ext4.ko\nkernel/fs/jbd2/jbd2.ko\n",
};


describe("moduleName, parseModulesDep, parseModinfo, parseSoftdep", () => {
  it("name a module the way the kernel does, with - as _ and without the compression suffix", () => {
    expect(["kernel/a/virtio-blk.ko.xz", "b/ext4.ko", "x.ko.zst", "y.ko.gz"].map(moduleName)).toEqual(["virtio_blk", "ext4", "x", "y"]);
  });

  it("read modules.dep lines (depmod's format) and refuse a line without a colon", () => {
    expect([...parseModulesDep("kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko:\n\n").entries()]).toEqual([["kernel/a.ko", ["kernel/b.ko", "kernel/c.ko"]], ["kernel/b.ko", []]]);
    expect(() => parseModulesDep("kernel/a.ko kernel/b.ko\n")).toThrow(/line 1 has no colon/);
    expect(() => parseModulesDep("kernel/a.ko kernel/b.ko\n")).toThrow(expect.objectContaining({ code: "BAD_MODULES_DEP", where: "modules.dep:1" }) as Error);
  });

  it("read .modinfo strings, repeated keys and all, and softdep's pre/post lists", () => {
    expect(parseModinfo(new TextEncoder().encode("alias=a\0alias=b\0\0depends=x,y\0garbage\0"))).toEqual([["alias", "a"], ["alias", "b"], ["depends", "x,y"]]);
    expect(parseSoftdep("pre: crc32c sha-256 post: zz")).toEqual({ pre: ["crc32c", "sha_256"], post: ["zz"] });
  });
});

describe("resolveModules", () => {
  it("without modules.dep, follows .modinfo depends=, decompresses .xz/.zst/.gz modules, skips built-in ones and orders dependencies first", async () => {
    const root = fakeRoot(work, modules);
    const s = await resolveModules(fsRoot(root), R, ["virtio_blk", "virtio-pci", "ext4"]);
    expect(s.dependencySource).toBe(".modinfo");
    expect(s.builtin).toEqual(["ext4"]);
    expect(s.modules.map((m) => [m.name, m.compression, m.path, m.depends, m.neededBy])).toEqual([
      ["virtio_pci_modern_dev", "gzip", `${D}/kernel/drivers/virtio/virtio-pci-modern-dev.ko`, [], ["virtio_pci"]],
      ["virtio_ring", "none", `${D}/kernel/drivers/virtio/virtio_ring.ko`, [], ["virtio", "virtio_blk", "virtio_pci"]],
      ["virtio", "none", `${D}/kernel/drivers/virtio/virtio.ko`, ["virtio_ring"], ["virtio_blk", "virtio_pci"]],
      ["virtio_blk", "xz", `${D}/kernel/drivers/block/virtio_blk.ko`, ["virtio", "virtio_ring"], ["requested"]],
      ["virtio_pci", "zstd", `${D}/kernel/drivers/virtio/virtio_pci.ko`, ["virtio", "virtio_pci_modern_dev", "virtio_ring"], ["requested"]],
    ]);
    expect(s.modules.find((m) => m.name === "virtio_blk")?.data).toEqual(mod("virtio_blk", "virtio,virtio_ring"));
  });

  it("honours softdep= pre (loaded first) and post (loaded after), and goes on without a soft dependency that is nowhere", async () => {
    const s = await resolveModules(fsRoot(fakeRoot(work, modules)), R, ["myfs"]);
    expect(s.modules.map((m) => m.name)).toEqual(["myfs", "myfs_extra"]);
    expect(s.builtin).toEqual(["jbd2"]);
    expect(s.missingSoftdeps).toEqual(["crc32c"]);
  });

  it("takes dependencies from modules.dep when depmod has run", async () => {
    const root = fakeRoot(work, {
      ...modules,
      [`${D}/modules.dep`]: [
        "kernel/drivers/block/virtio_blk.ko.xz: kernel/fs/myfs_extra.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio_ring.ko:",
        "kernel/fs/myfs_extra.ko:",
      ].join("\n"),
    });
    const s = await resolveModules(fsRoot(root), R, ["virtio_blk"]);
    expect(s.dependencySource).toBe("modules.dep");
    // modules.dep (not .modinfo) says virtio_blk needs myfs_extra here.
    expect(s.modules.map((m) => m.name)).toEqual(["myfs_extra", "virtio_ring", "virtio", "virtio_blk"]);
  });

  it("names a missing module and who needs it, and says when modules.builtin is missing", async () => {
    const root = fakeRoot(work, modules);
    const asked = await error(() => resolveModules(fsRoot(root), R, ["nvme"]));
    expect([asked.code, asked.message]).toEqual(["NO_MODULE", expect.stringContaining(`module nvme (requested) is not in ${D} of ${root} nor built in (modules.builtin)`)]);
    const dep = await error(() => resolveModules(fsRoot(fakeRoot(work, { ...modules, [`${D}/kernel/drivers/virtio/virtio.ko`]: mod("virtio", "virtio_ring,virtio_x") })), R, ["virtio_blk"]));
    expect(dep.message).toContain("module virtio_x (needed by virtio) is not in");
    const { [`${D}/modules.builtin`]: _, ...noBuiltin } = modules;
    const nb = await error(() => resolveModules(fsRoot(fakeRoot(work, noBuiltin)), R, ["ext4"]));
    expect(nb.message).toContain("modules.builtin is missing, so built-in modules cannot be told apart");
    const rel = await error(() => resolveModules(fsRoot(root), "5.10.0-9-arm64", ["virtio"]));
    expect([rel.code, rel.message]).toEqual(["NO_MODULE", expect.stringContaining("/lib/modules/5.10.0-9-arm64 is not a directory")]);
  });

  it("refuses a module built for another release, a file that is not a module, and a dependency cycle", async () => {
    const other = await error(() => resolveModules(fsRoot(fakeRoot(work, { ...modules, [`${D}/kernel/drivers/virtio/virtio.ko`]: moduleElf(["depends=", "vermagic=6.1.0-9-arm64 SMP aarch64"]) })), R, ["virtio"]));
    expect([other.code, other.message]).toEqual(["BAD_MODULE", expect.stringContaining('its vermagic "6.1.0-9-arm64 SMP aarch64" is not for kernel 6.1.0-test')]);
    const junk = await error(() => resolveModules(fsRoot(fakeRoot(work, { ...modules, [`${D}/kernel/drivers/virtio/virtio.ko`]: "junk" })), R, ["virtio"]));
    expect(junk.code).toBe("BAD_MODULE");
    const cycle = await error(() => resolveModules(fsRoot(fakeRoot(work, { ...modules, [`${D}/kernel/drivers/virtio/virtio_ring.ko`]: mod("virtio_ring", "virtio") })), R, ["virtio"]));
    expect([cycle.code, cycle.message]).toEqual(["BAD_MODULE", expect.stringContaining("virtio, virtio_ring depend on each other in a cycle")]);
  });

  it("resolves Debian's cloud kernel's virtio block modules as readelf reads their .modinfo; ext4 is built in", async () => {
    const assets = loadAssets();
    const s = await resolveModules(fsRoot(assets.sysroot), assets.kernel.release, ["virtio_blk", "virtio_pci", "ext4"]);
    expect(s.builtin).toEqual(["ext4"]);
    for (const m of s.modules) {
      const text = execFileSync("readelf", ["-p", ".modinfo", join(assets.sysroot, m.source)], { encoding: "utf8" });
      const depends = (/depends=(.*)$/m.exec(text)?.[1] ?? "").split(",").filter((x) => x !== "").sort();
      expect(m.depends, m.name).toEqual(depends);
    }
    expect(s.modules.map((m) => m.name).sort()).toEqual(["virtio", "virtio_blk", "virtio_pci", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_ring"]);
  });
});

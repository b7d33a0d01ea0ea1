import { execFileSync } from "node:child_process";
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { thrownAsync as error } from "../_thrown.js";
import { DEFAULT_CONFIG, INIT_APPLETS, buildCaptureInitramfs, captureInit, fsRoot, resolveClosure, type CaptureInitramfsOptions } from "../../toolchain/initramfs/index.js";
import { dynamicElf, moduleElf } from "../elf/_tiny.js";
import { fakeRoot, type Node } from "./_fake-root.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-build-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const LD = "/lib/ld-linux-aarch64.so.1";
const MA = "/usr/lib/aarch64-linux-gnu";
const R = "6.1.0-test";
const applets = (names: readonly string[]) => new TextEncoder().encode(`${["[", "[[", ...names].sort().join("\0")}\0\0`);
const mod = (name: string, depends: string) => moduleElf([`depends=${depends}`, `vermagic=${R} SMP aarch64`, `name=${name}`]);
const xz = (b: Uint8Array) => new Uint8Array(execFileSync("xz", ["--check=crc32", "-c"], { input: b }));

/** A merged-/usr sysroot: static busybox, makedumpfile with libc and libz, two modules (one xz-compressed), ext4 built in. */
const sysroot: Record<string, Node> = {
  "/usr/bin/busybox": dynamicElf({ static: true, tail: applets([...INIT_APPLETS, "cp"]) }),
  "/usr/sbin/makedumpfile": dynamicElf({ interpreter: LD, needed: ["libz.so.1", "libc.so.6"] }),
  [`${MA}/ld-linux-aarch64.so.1`]: dynamicElf({ soname: "ld-linux-aarch64.so.1" }),
  [`${MA}/libc.so.6`]: dynamicElf({ soname: "libc.so.6", needed: ["ld-linux-aarch64.so.1"] }),
  [`${MA}/libz.so.1.2.13`]: dynamicElf({ soname: "libz.so.1", needed: ["libc.so.6"] }),
  [`${MA}/libz.so.1`]: { link: "libz.so.1.2.13" },
  "/usr/lib/ld-linux-aarch64.so.1": { link: "aarch64-linux-gnu/ld-linux-aarch64.so.1" },
  [`/usr/lib/modules/${R}/kernel/drivers/virtio/virtio.ko`]: mod("virtio", ""),
  [`/usr/lib/modules/${R}/kernel/drivers/block/virtio_blk.ko.xz`]: xz(mod("virtio_blk", "virtio")),
  [`/usr/lib/modules/${R}/modules.builtin`]: "kernel/fs/ext4/ext4.ko\n",
  "/lib": { link: "usr/lib" },
  "/bin": { link: "usr/bin" },
  "/sbin": { link: "usr/sbin" },
};
const options = (root: string, more: Partial<CaptureInitramfsOptions> = {}): CaptureInitramfsOptions => ({
  root: fsRoot(root),
  modules: ["virtio_blk", "ext4"],
  config: { ...DEFAULT_CONFIG, dumpTo: "LABEL=crash", fsType: "ext4" },
  compress: "gzip",
  ...more,
});

/** Extracts an archive with the host's GNU cpio; returns the directory. */
function extract(archive: Uint8Array): string {
  const dir = mkdtempSync(join(work, "x-"));
  execFileSync("cpio", ["-i", "-d", "--quiet", "--no-absolute-filenames"], { input: archive[0] === 0x1f ? gunzipSync(archive) : archive, cwd: dir });
  return dir;
}
/** Every entry of an extracted tree: "path/" for a directory, "path -> target" for a link, "path MODE" for a file. */
function tree(root: string, rel = ""): string[] {
  return readdirSync(join(root, rel)).sort().flatMap((n) => {
    const p = rel === "" ? n : `${rel}/${n}`;
    const st = lstatSync(join(root, p));
    if (st.isSymbolicLink()) return [`${p} -> ${readlinkSync(join(root, p))}`];
    if (st.isDirectory()) return [`${p}/`, ...tree(root, p)];
    return [`${p} ${(st.mode & 0o7777).toString(8)}`];
  });
}

describe("buildCaptureInitramfs", () => {
  it("holds /init, its configuration, busybox with every applet, makedumpfile with its interpreter and libraries (symlinks kept), and the modules decompressed", async () => {
    const { bytes, report } = await buildCaptureInitramfs(options(fakeRoot(work, sysroot)));
    const x = extract(bytes);
    const files = tree(x).filter((l) => !/^bin\/\S+ -> busybox$/.test(l));
    expect(files).toEqual([
      "bin/", "bin/busybox 755", "dev/", "etc/", "etc/purgatory/", "etc/purgatory/capture.conf 644", "init 755",
      "lib -> usr/lib", "mnt/", "proc/", "sys/", "tmp/",
      "usr/", "usr/lib/", "usr/lib/aarch64-linux-gnu/", "usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1 755", "usr/lib/aarch64-linux-gnu/libc.so.6 644",
      "usr/lib/aarch64-linux-gnu/libz.so.1 -> libz.so.1.2.13", "usr/lib/aarch64-linux-gnu/libz.so.1.2.13 644",
      "usr/lib/ld-linux-aarch64.so.1 -> aarch64-linux-gnu/ld-linux-aarch64.so.1",
      "usr/lib/modules/", `usr/lib/modules/${R}/`, `usr/lib/modules/${R}/kernel/`, `usr/lib/modules/${R}/kernel/drivers/`,
      `usr/lib/modules/${R}/kernel/drivers/block/`, `usr/lib/modules/${R}/kernel/drivers/block/virtio_blk.ko 644`,
      `usr/lib/modules/${R}/kernel/drivers/virtio/`, `usr/lib/modules/${R}/kernel/drivers/virtio/virtio.ko 644`,
      "usr/sbin/", "usr/sbin/makedumpfile 755",
    ]);
    expect(tree(x).filter((l) => /^bin\/\S+ -> busybox$/.test(l))).toHaveLength(INIT_APPLETS.length + 3); // and cp, [, [[
    expect(readFileSync(join(x, "init"), "utf8")).toBe(captureInit());
    expect(readFileSync(join(x, `usr/lib/modules/${R}/kernel/drivers/block/virtio_blk.ko`))).toEqual(Buffer.from(mod("virtio_blk", "virtio")));
    const conf = readFileSync(join(x, "etc/purgatory/capture.conf"), "utf8");
    expect(conf).toBe(report.configText);
    expect(conf).toContain(`modules='/usr/lib/modules/${R}/kernel/drivers/virtio/virtio.ko /usr/lib/modules/${R}/kernel/drivers/block/virtio_blk.ko'\n`);
    expect(conf).toContain("library_path='/lib/aarch64-linux-gnu'\npath='/bin:/usr/sbin'\n");
    expect(report.modules).toMatchObject({ release: R, builtin: ["ext4"], dependencySource: ".modinfo" });
  });

  it("reports the compressed size, the cpio size and the bytes of file contents once unpacked", async () => {
    const { bytes, report } = await buildCaptureInitramfs(options(fakeRoot(work, sysroot)));
    expect(report.compressedBytes).toBe(bytes.length);
    expect(report.cpioBytes).toBe(gunzipSync(bytes).length);
    const du = Number(execFileSync("sh", ["-c", "find . -type f -printf '%s\\n' | awk '{ s += $1 } END { print s }'"], { cwd: extract(bytes), encoding: "utf8" }));
    expect(report.unpackedBytes).toBe(du);
    expect(report.files.length).toBe(Number(execFileSync("sh", ["-c", "find . -type f | wc -l"], { cwd: extract(bytes), encoding: "utf8" })));
    const plain = await buildCaptureInitramfs(options(fakeRoot(work, sysroot), { compress: "none" }));
    expect(plain.bytes).toEqual(new Uint8Array(gunzipSync(bytes)));
    expect(plain.report).toMatchObject({ compression: "none", gzipLevel: null, compressedBytes: report.cpioBytes });
  });

  it("gives the same bytes for the same inputs, wherever the root lies on the host", async () => {
    const a = fakeRoot(work, sysroot);
    const b = join(mkdtempSync(join(work, "elsewhere-")), "deeper", "root");
    mkdirSync(join(b, ".."), { recursive: true });
    cpSync(a, b, { recursive: true, verbatimSymlinks: true });
    const one = await buildCaptureInitramfs(options(a));
    expect((await buildCaptureInitramfs(options(a))).bytes).toEqual(one.bytes);
    expect((await buildCaptureInitramfs(options(b))).bytes).toEqual(one.bytes);
  });

  it("names what is missing: makedumpfile, an applet /init runs, a library, a module; and refuses a collector that is not in the archive", async () => {
    const { "/usr/sbin/makedumpfile": _m, ...noMdf } = sysroot;
    expect((await error(() => buildCaptureInitramfs(options(fakeRoot(work, noMdf))))).message).toMatch(/no makedumpfile in .* \(looked in \/usr\/sbin\/makedumpfile, /);
    const poor = { ...sysroot, "/usr/bin/busybox": dynamicElf({ static: true, tail: applets(INIT_APPLETS.filter((a) => a !== "findfs" && a !== "usleep")) }) };
    const e = await error(() => buildCaptureInitramfs(options(fakeRoot(work, poor))));
    expect([e.code, e.message]).toEqual(["BAD_BUSYBOX", expect.stringMatching(/\/usr\/bin\/busybox has no findfs, usleep, which \/init runs/)]);
    const { [`${MA}/libz.so.1.2.13`]: _z, ...noZ } = sysroot;
    expect((await error(() => buildCaptureInitramfs(options(fakeRoot(work, noZ))))).code).toBe("NO_LIBRARY");
    expect((await error(() => buildCaptureInitramfs(options(fakeRoot(work, sysroot), { modules: ["nvme"] })))).code).toBe("NO_MODULE");
    const scp = await error(() => buildCaptureInitramfs(options(fakeRoot(work, sysroot), { config: { ...DEFAULT_CONFIG, dumpTo: "/dev/vda", coreCollector: "scp -q" } })));
    expect([scp.code, scp.where]).toEqual(["BAD_VALUE", "coreCollector"]);
  });

  it("takes the only kernel release, and asks which when there are several", async () => {
    const two = { ...sysroot, "/usr/lib/modules/6.1.0-old/modules.builtin": "" };
    const e = await error(() => buildCaptureInitramfs(options(fakeRoot(work, two))));
    expect([e.code, e.message]).toEqual(["AMBIGUOUS", expect.stringContaining(`holds 6.1.0-old, ${R}`)]);
    const chosen = await buildCaptureInitramfs(options(fakeRoot(work, two), { kernelRelease: R }));
    expect(chosen.report.modules?.release).toBe(R);
    const none = await buildCaptureInitramfs(options(fakeRoot(work, two), { modules: [] }));
    expect(none.report.modules).toBeNull();
  });

  it("from the provisioned sysroot: the archive is a root in which Debian's makedumpfile finds every library it loads and runs (qemu-aarch64)", async () => {
    const assets = loadAssets();
    const { bytes, report } = await buildCaptureInitramfs(options(assets.sysroot, { modules: ["virtio_blk", "virtio_pci", "ext4"] }));
    const x = extract(bytes);
    // The extracted archive resolves the same closure as the sysroot did.
    const again = resolveClosure(fsRoot(x), ["/usr/bin/makedumpfile"]);
    expect(again.libraries.map((l) => [l.soname, l.path])).toEqual(report.libraries.map((l) => [l.soname, l.path]));
    // And the dynamic linker agrees: with only the archive as its root and /init's LD_LIBRARY_PATH, makedumpfile starts.
    const ldPath = /^library_path='(.*)'$/m.exec(report.configText)?.[1] ?? "";
    const out = execFileSync("qemu-aarch64", ["-L", x, "-E", `LD_LIBRARY_PATH=${ldPath}`, join(x, "usr/bin/makedumpfile"), "-v"], { encoding: "utf8" });
    expect(out).toMatch(/makedumpfile: version 1\.7/);
    expect(report.busybox).toMatchObject({ from: "/bin/busybox", static: true });
    expect(report.modules?.builtin).toEqual(["ext4"]);
  });
});

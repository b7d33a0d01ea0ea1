import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fsRoot, resolveIn } from "../../toolchain/initramfs/index.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-root-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// A merged-/usr root, as Debian 12 installs it: /lib -> usr/lib, with an
// absolute link, a relative one through .., a dangling one and a loop.
const root = join(work, "root");
for (const d of ["usr/lib/aarch64-linux-gnu", "usr/bin", "etc"]) mkdirSync(join(root, d), { recursive: true });
symlinkSync("usr/lib", join(root, "lib"));
symlinkSync("usr/bin", join(root, "bin"));
writeFileSync(join(root, "usr/lib/aarch64-linux-gnu/libz.so.1.2.13"), "z");
symlinkSync("libz.so.1.2.13", join(root, "usr/lib/aarch64-linux-gnu/libz.so.1"));
symlinkSync("/lib/aarch64-linux-gnu/libz.so.1", join(root, "usr/lib/libz-abs"));
symlinkSync("../lib/aarch64-linux-gnu/libz.so.1", join(root, "usr/bin/libz-rel"));
symlinkSync("nowhere", join(root, "usr/lib/dangling"));
symlinkSync("loop-b", join(root, "usr/lib/loop-a"));
symlinkSync("loop-a", join(root, "usr/lib/loop-b"));
writeFileSync(join(root, "etc/file"), "f");

describe("resolveIn", () => {
  const r = fsRoot(root);

  it("follows directory and file symlinks inside the root, listing each link where it is", () => {
    expect(resolveIn(r, "/lib/aarch64-linux-gnu/libz.so.1")).toEqual({
      path: "/usr/lib/aarch64-linux-gnu/libz.so.1.2.13",
      kind: "file",
      links: [{ path: "/lib", target: "usr/lib" }, { path: "/usr/lib/aarch64-linux-gnu/libz.so.1", target: "libz.so.1.2.13" }],
    });
  });

  it("restarts an absolute target at the root, never on the host, and takes .. relative to the link's directory", () => {
    expect(resolveIn(r, "/usr/lib/libz-abs")?.path).toBe("/usr/lib/aarch64-linux-gnu/libz.so.1.2.13");
    // /bin is /usr/bin, so its .. is /usr: the link reaches /usr/lib without passing /lib.
    expect(resolveIn(r, "/bin/libz-rel")?.links.map((l) => l.path)).toEqual(["/bin", "/usr/bin/libz-rel", "/usr/lib/aarch64-linux-gnu/libz.so.1"]);
    expect(resolveIn(r, "/bin/libz-rel")?.path).toBe("/usr/lib/aarch64-linux-gnu/libz.so.1.2.13");
    expect(resolveIn(r, "/../../etc/file")?.path).toBe("/etc/file");
  });

  it("returns null for a missing path, a dangling link, a file used as a directory and a symlink loop", () => {
    expect(resolveIn(r, "/usr/lib/none")).toBeNull();
    expect(resolveIn(r, "/usr/lib/dangling")).toBeNull();
    expect(resolveIn(r, "/etc/file/x")).toBeNull();
    expect(resolveIn(r, "/usr/lib/loop-a")).toBeNull();
  });

  it("resolves directories too, and the root itself", () => {
    expect(resolveIn(r, "/lib")).toEqual({ path: "/usr/lib", kind: "dir", links: [{ path: "/lib", target: "usr/lib" }] });
    expect(resolveIn(r, "/")).toEqual({ path: "/", kind: "dir", links: [] });
  });
});

describe("fsRoot", () => {
  it("tells files, directories and symlinks apart without following the last link, and lists in byte order", () => {
    const r = fsRoot(root);
    expect([r.kind("/lib"), r.kind("/usr/lib"), r.kind("/etc/file"), r.kind("/none")]).toEqual(["symlink", "dir", "file", null]);
    expect(r.list("/usr/lib")).toEqual(["aarch64-linux-gnu", "dangling", "libz-abs", "loop-a", "loop-b"]);
    expect(r.list("/etc/file")).toBeNull();
    expect(new TextDecoder().decode(r.read("/etc/file"))).toBe("f");
    expect(r.readlink("/lib")).toBe("usr/lib");
    expect(() => r.read("/none")).toThrow(/Cannot read .*\/none/);
  });
});

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { thrown as error } from "../_thrown.js";
import { fsRoot, resolveClosure } from "../../toolchain/initramfs/index.js";
import { dynamicElf } from "../elf/_tiny.js";
import { fakeRoot, type Node } from "./_fake-root.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-closure-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const LD = "/lib/ld-linux-aarch64.so.1";
const MA = "/usr/lib/aarch64-linux-gnu";
const EM_X86_64 = 62;

/** A merged-/usr aarch64 root with a C library, as Debian 12 installs it. */
const base: Record<string, Node> = {
  [`${MA}/ld-linux-aarch64.so.1`]: dynamicElf({ soname: "ld-linux-aarch64.so.1" }),
  [`${MA}/libc.so.6`]: dynamicElf({ soname: "libc.so.6", needed: ["ld-linux-aarch64.so.1"] }),
  "/usr/lib/ld-linux-aarch64.so.1": { link: "aarch64-linux-gnu/ld-linux-aarch64.so.1" },
  "/lib": { link: "usr/lib" },
};


describe("resolveClosure", () => {
  it("finds the interpreter and every DT_NEEDED as glibc would: RUNPATH with $ORIGIN, ld.so.conf includes, then the multiarch directories, keeping each symlink", () => {
    const root = fakeRoot(work, {
      ...base,
      [`${MA}/libz.so.1.2.13`]: dynamicElf({ soname: "libz.so.1", needed: ["libc.so.6"] }),
      [`${MA}/libz.so.1`]: { link: "libz.so.1.2.13" },
      "/usr/local/lib/libconf.so.3": dynamicElf({ soname: "libconf.so.3", needed: ["libc.so.6"] }),
      "/etc/ld.so.conf": "include /etc/ld.so.conf.d/*.conf\n",
      "/etc/ld.so.conf.d/local.conf": "# local libraries\n/usr/local/lib\n",
      "/etc/ld.so.conf.d/ignored.txt": "/nowhere\n",
      "/opt/app/lib/libpriv.so": dynamicElf({ soname: "libpriv.so", needed: ["libc.so.6"] }),
      "/opt/app/bin/tool": dynamicElf({ interpreter: LD, needed: ["libpriv.so"], runpath: "$ORIGIN/../lib" }),
      "/usr/bin/prog": dynamicElf({ interpreter: LD, needed: ["libz.so.1", "libconf.so.3"] }),
    });
    const c = resolveClosure(fsRoot(root), ["/usr/bin/prog", "/opt/app/bin/tool"]);
    expect(c.programs.map((p) => [p.asked, p.path, p.interpreter, p.needed])).toEqual([
      ["/usr/bin/prog", "/usr/bin/prog", LD, ["libz.so.1", "libconf.so.3"]],
      ["/opt/app/bin/tool", "/opt/app/bin/tool", LD, ["libpriv.so"]],
    ]);
    expect(c.interpreters).toEqual([{ asked: LD, path: `${MA}/ld-linux-aarch64.so.1`, size: expect.any(Number), links: [{ path: "/lib", target: "usr/lib" }, { path: "/usr/lib/ld-linux-aarch64.so.1", target: "aarch64-linux-gnu/ld-linux-aarch64.so.1" }] }]);
    expect(c.libraries.map((l) => [l.soname, l.asked, l.path, l.neededBy])).toEqual([
      ["ld-linux-aarch64.so.1", "/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1", `${MA}/ld-linux-aarch64.so.1`, [`${MA}/libc.so.6`]],
      ["libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", `${MA}/libc.so.6`, ["/opt/app/lib/libpriv.so", `${MA}/libz.so.1.2.13`, "/usr/local/lib/libconf.so.3"]],
      ["libconf.so.3", "/usr/local/lib/libconf.so.3", "/usr/local/lib/libconf.so.3", ["/usr/bin/prog"]],
      ["libpriv.so", "/opt/app/bin/../lib/libpriv.so", "/opt/app/lib/libpriv.so", ["/opt/app/bin/tool"]],
      ["libz.so.1", "/lib/aarch64-linux-gnu/libz.so.1", `${MA}/libz.so.1.2.13`, ["/usr/bin/prog"]],
    ]);
    expect(c.libraries.find((l) => l.soname === "libz.so.1")?.links).toEqual([{ path: "/lib", target: "usr/lib" }, { path: `${MA}/libz.so.1`, target: "libz.so.1.2.13" }]);
    // The directories, in the order they were first used: LD_LIBRARY_PATH for the initramfs.
    expect(c.libraryDirs).toEqual(["/lib/aarch64-linux-gnu", "/usr/local/lib", "/opt/app/bin/../lib"]);
  });

  it("skips a candidate for another machine or not ELF at all, as the dynamic linker does, and takes the next directory's", () => {
    const root = fakeRoot(work, {
      ...base,
      "/usr/local/lib/libm.so.6": dynamicElf({ soname: "libm.so.6", machine: EM_X86_64 }),
      "/usr/local/lib/libq.so.1": "not an ELF file",
      [`${MA}/libm.so.6`]: dynamicElf({ soname: "libm.so.6" }),
      [`${MA}/libq.so.1`]: dynamicElf({ soname: "libq.so.1" }),
      "/etc/ld.so.conf": "/usr/local/lib\n",
      "/usr/bin/prog": dynamicElf({ interpreter: LD, needed: ["libm.so.6", "libq.so.1"] }),
    });
    const c = resolveClosure(fsRoot(root), ["/usr/bin/prog"]);
    expect(c.libraries.map((l) => l.path)).toEqual([`${MA}/libm.so.6`, `${MA}/libq.so.1`]);
  });

  it("follows DT_RPATH (the object's, then the executable's) only when the object has no DT_RUNPATH", () => {
    const root = fakeRoot(work, {
      ...base,
      "/opt/rp/librp.so": dynamicElf({ soname: "librp.so" }),
      "/opt/lib/libuses.so": dynamicElf({ soname: "libuses.so", needed: ["librp.so"] }),
      "/opt/lib/libblocked.so": dynamicElf({ soname: "libblocked.so", needed: ["librp.so"], runpath: "/opt/none" }),
      "/usr/bin/a": dynamicElf({ interpreter: LD, needed: ["libuses.so"], rpath: "/opt/lib:/opt/rp" }),
      "/usr/bin/b": dynamicElf({ interpreter: LD, needed: ["libblocked.so"], rpath: "/opt/lib:/opt/rp" }),
    });
    expect(resolveClosure(fsRoot(root), ["/usr/bin/a"]).libraries.map((l) => l.path)).toEqual(["/opt/rp/librp.so", "/opt/lib/libuses.so"]);
    const e = error(() => resolveClosure(fsRoot(root), ["/usr/bin/b"]));
    expect(e.code).toBe("NO_LIBRARY");
    expect(e.message).toContain("librp.so, needed by /opt/lib/libblocked.so (for /usr/bin/b), is in none of /opt/none, /lib/aarch64-linux-gnu");
  });

  it("takes a static program alone", () => {
    const root = fakeRoot(work, { "/bin/busybox": dynamicElf({ static: true }) });
    const c = resolveClosure(fsRoot(root), ["/bin/busybox"]);
    expect([c.programs[0]?.interpreter, c.interpreters, c.libraries, c.libraryDirs]).toEqual([null, [], [], []]);
  });

  it("names a missing library, who needs it and where it looked; a missing interpreter; a missing program; and what it skipped", () => {
    const root = fakeRoot(work, {
      ...base,
      [`${MA}/libdw.so.1`]: dynamicElf({ soname: "libdw.so.1", needed: ["libnope.so.9"] }),
      "/usr/lib64/libx86.so.1": dynamicElf({ soname: "libx86.so.1", machine: EM_X86_64 }),
      "/usr/bin/prog": dynamicElf({ interpreter: LD, needed: ["libc.so.6", "libdw.so.1"] }),
      "/usr/bin/x": dynamicElf({ interpreter: LD, needed: ["libx86.so.1"] }),
      "/usr/bin/noninterp": dynamicElf({ interpreter: "/lib/ld-musl-aarch64.so.1", needed: [] }),
    });
    const r = fsRoot(root);
    const missing = error(() => resolveClosure(r, ["/usr/bin/prog"]));
    expect(missing.code).toBe("NO_LIBRARY");
    expect(missing.message).toContain(`libnope.so.9, needed by ${MA}/libdw.so.1 (for /usr/bin/prog), is in none of /lib/aarch64-linux-gnu, /usr/lib/aarch64-linux-gnu, /lib, /usr/lib, /lib64, /usr/lib64 in ${root}`);
    expect(missing.hint).toContain("dpkg -S libnope.so.9");
    expect(error(() => resolveClosure(r, ["/usr/bin/x"])).message).toContain("skipped /usr/lib64/libx86.so.1 (ELF machine 62, not 183)");
    const interp = error(() => resolveClosure(r, ["/usr/bin/noninterp"]));
    expect([interp.code, interp.message]).toEqual(["NO_LIBRARY", expect.stringContaining("the program interpreter /lib/ld-musl-aarch64.so.1 (PT_INTERP of /usr/bin/noninterp) is not in")]);
    expect(error(() => resolveClosure(r, ["/usr/bin/none"])).code).toBe("MISSING_FILE");
  });

  it("names the file when one in the closure is damaged", () => {
    const root = fakeRoot(work, { "/usr/bin/prog": dynamicElf({ interpreter: LD }).subarray(0, 100) });
    const e = error(() => resolveClosure(fsRoot(root), ["/usr/bin/prog"]));
    expect([e.code, e.message]).toEqual(["TRUNCATED", expect.stringMatching(/^\/usr\/bin\/prog: Cannot read/)]);
  });
});

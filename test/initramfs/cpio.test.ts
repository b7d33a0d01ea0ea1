import { execFileSync } from "node:child_process";
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, lutimesSync, writeFileSync, chmodSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { buildCpio, busyboxInitramfs, type CpioEntry } from "../../toolchain/initramfs/index.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const freshDir = () => {
  const d = join(work, String(n++));
  mkdirSync(d);
  return d;
};

const sample: CpioEntry[] = [
  { path: "/init", mode: 0o755, data: "#!/bin/sh\necho hi\n" },
  { path: "/bin/busybox", mode: 0o755, data: new Uint8Array([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]) },
  { path: "/bin/sh", symlink: "busybox" },
  { path: "/etc/empty", data: "" },
  { path: "/dev", directory: true },
  { path: "/lib/aarch64-linux-gnu/libz.so.1", mode: 0o644, data: new Uint8Array(1029).fill(0xa5) },
];

/** Lists an archive with the host's GNU cpio. */
const cpioList = (archive: Uint8Array) =>
  execFileSync("cpio", ["-t", "--quiet"], { input: archive }).toString().split("\n").filter((l) => l !== "");

/** Extracts an archive with the host's GNU cpio into a fresh directory. */
function cpioExtract(archive: Uint8Array): string {
  const dir = freshDir();
  execFileSync("cpio", ["-i", "-d", "--quiet", "--no-absolute-filenames"], { input: archive, cwd: dir });
  return dir;
}

/** What a tree looks like on disk: type, permission bits, content or target. */
function describeTree(root: string, rel = ""): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, rel)).sort()) {
    const p = rel === "" ? name : `${rel}/${name}`;
    const st = lstatSync(join(root, p));
    const perm = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(join(root, p))}`);
    else if (st.isDirectory()) out.push(`${p}/ ${perm}`, ...describeTree(root, p));
    else out.push(`${p} ${perm} ${readFileSync(join(root, p)).toString("hex")}`);
  }
  return out;
}

/** Writes entries to a directory the way the archive describes them (the expected tree). */
function materialize(entries: readonly CpioEntry[]): string {
  const dir = freshDir();
  for (const e of [...entries].sort((a, b) => a.path.length - b.path.length)) {
    const p = join(dir, e.path);
    mkdirSync(join(p, ".."), { recursive: true });
    if ("directory" in e) mkdirSync(p, { recursive: true });
    else if ("symlink" in e) symlinkSync(e.symlink, p);
    else writeFileSync(p, e.data);
    if (!("symlink" in e)) chmodSync(p, e.mode ?? ("directory" in e ? 0o755 : 0o644));
  }
  return dir;
}

describe("buildCpio", () => {
  it("writes an archive the host's cpio lists in sorted order, parents added, without the trailer", () => {
    expect(cpioList(buildCpio(sample))).toEqual([
      "bin",
      "bin/busybox",
      "bin/sh",
      "dev",
      "etc",
      "etc/empty",
      "init",
      "lib",
      "lib/aarch64-linux-gnu",
      "lib/aarch64-linux-gnu/libz.so.1",
    ]);
  });

  it("extracts with the host's cpio to exactly the files, modes, symlinks and directories given", () => {
    expect(describeTree(cpioExtract(buildCpio(sample)))).toEqual(describeTree(materialize(sample)));
  });

  it("gzip-compresses to the same archive when asked", () => {
    const gz = buildCpio(sample, { compress: "gzip" });
    expect([gz[0], gz[1]]).toEqual([0x1f, 0x8b]);
    expect(new Uint8Array(gunzipSync(gz))).toEqual(buildCpio(sample));
    const viaGzip = execFileSync("gzip", ["-dc"], { input: gz });
    expect(cpioList(viaGzip)).toEqual(cpioList(buildCpio(sample)));
  });

  it("writes the same bytes as GNU cpio -o -H newc --reproducible for the same tree (up to GNU's 512-byte padding)", () => {
    const tree = materialize(sample);
    // The tree must carry what the archive declares: mtime 0; -R 0:0 gives uid/gid 0.
    const paths = execFileSync("find", [".", "-mindepth", "1", "-printf", "%P\\n"], { cwd: tree }).toString().trim().split("\n");
    for (const p of paths) lutimesSync(join(tree, p), 0, 0);
    utimesSync(tree, 0, 0);
    const sorted = paths.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))).join("\n") + "\n";
    const gnu = execFileSync("cpio", ["-o", "-H", "newc", "--reproducible", "-R", "0:0", "--quiet"], { input: sorted, cwd: tree });
    const ours = buildCpio(sample);
    expect(gnu.length % 512).toBe(0);
    expect(Buffer.from(gnu.subarray(0, ours.length)).toString("latin1")).toBe(Buffer.from(ours).toString("latin1"));
    expect(gnu.subarray(ours.length).every((b) => b === 0)).toBe(true);
  });

  it("lays out a newc member as buffer-format.rst says: 110-byte header, name and data padded to 4", () => {
    const bytes = buildCpio([{ path: "a", mode: 0o644, data: "hi" }]);
    const text = Buffer.from(bytes).toString("latin1");
    // magic, ino 0, mode 0100644, uid, gid, nlink 1, mtime 0, size 2, 4 device fields, namesize 2, check 0
    const header = "070701" + ["0", "81A4", "0", "0", "1", "0", "2", "0", "0", "0", "0", "2", "0"].map((f) => f.padStart(8, "0")).join("");
    expect(text.slice(0, 110)).toBe(header);
    // The name and its NUL end at 112, already 4-aligned; the data "hi" follows, padded to 116.
    expect(text.slice(110, 112)).toBe("a\0");
    expect(text.slice(112, 116)).toBe("hi\0\0");
    expect(text.slice(116, 122)).toBe("070701");
    expect(text.slice(116 + 110, 116 + 110 + 11)).toBe("TRAILER!!!\0");
    expect(bytes.length).toBe(116 + 110 + 11 + 3); // the trailer name padded to 4
  });

  it("is deterministic: the same entries in any order give the same bytes", () => {
    const entry = fc.oneof(
      fc.record({ path: fc.stringMatching(/^\/?[a-z]{1,3}(\/[a-z]{1,3}){0,2}$/), data: fc.uint8Array({ maxLength: 40 }), mode: fc.integer({ min: 0, max: 0o7777 }) }),
      fc.record({ path: fc.stringMatching(/^[a-z]{1,3}\/[a-z]{1,3}$/), symlink: fc.stringMatching(/^[a-z/]{1,12}$/) }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(entry, { selector: (e) => e.path.replace(/^\//, ""), maxLength: 8 }), fc.integer(), (entries, seed) => {
        let built: Uint8Array;
        try {
          built = buildCpio(entries);
        } catch (e) {
          // A file that is also another entry's parent is refused, whatever the order.
          expect(e).toBeInstanceOf(InputError);
          expect(() => buildCpio([...entries].reverse())).toThrow(InputError);
          return;
        }
        const shuffled = [...entries].sort((a, b) => ((a.path.length * 31 + seed) % 7) - ((b.path.length * 31 + seed) % 7));
        expect(buildCpio(shuffled)).toEqual(built);
        expect(buildCpio(entries, { compress: "gzip" })).toEqual(buildCpio(shuffled, { compress: "gzip" }));
      }),
      { numRuns: 300 },
    );
  });

  it("round-trips random trees through the host's cpio -i", () => {
    const file = fc.record({
      path: fc.stringMatching(/^[a-z]{1,4}(\/[a-z]{1,4}){0,2}$/).map((p) => `f_${p}`),
      data: fc.uint8Array({ maxLength: 300 }),
      mode: fc.constantFrom(0o644, 0o755, 0o600, 0o400),
    });
    fc.assert(
      fc.property(fc.uniqueArray(file, { selector: (e) => e.path, maxLength: 6 }), (files) => {
        // Keep only files that are nobody's parent; parents become directories.
        const entries = files.filter((f) => !files.some((g) => g.path.startsWith(`${f.path}/`)));
        expect(describeTree(cpioExtract(buildCpio(entries)))).toEqual(describeTree(materialize(entries)));
      }),
      { numRuns: 15 },
    );
  });

  it("refuses bad paths, duplicates, a file used as a directory and non-permission modes, naming the path", () => {
    const code = (entries: CpioEntry[]) => {
      try {
        buildCpio(entries);
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return `${(e as InputError).code} ${String((e as InputError).where)}`;
      }
      return "accepted";
    };
    expect(code([{ path: "/", directory: true }])).toBe("BAD_PATH /");
    expect(code([{ path: "/a/../b", data: "" }])).toBe("BAD_PATH /a/../b");
    expect(code([{ path: "/a", data: "" }, { path: "a", data: "x" }])).toBe("DUPLICATE a");
    expect(code([{ path: "/a", data: "" }, { path: "/a/b", data: "x" }])).toBe("DUPLICATE /a");
    expect(code([{ path: "/a", mode: 0o100644, data: "" }])).toBe("BAD_VALUE /a");
  });
});

describe("busyboxInitramfs", () => {
  const busybox = new Uint8Array([1, 2, 3, 4, 5]);
  const init = "#!/bin/sh\nmount -t proc proc /proc\necho up\npoweroff -f\n";

  it("holds /bin/busybox, one symlink per applet, /dev /proc /sys and an executable /init", () => {
    const archive = busyboxInitramfs({ busybox, applets: ["sh", "mount", "echo", "poweroff"], init, compress: "gzip" });
    const tree = describeTree(cpioExtract(gunzipSync(archive)));
    expect(tree).toEqual([
      "bin/ 755",
      "bin/busybox 755 0102030405",
      "bin/echo -> busybox",
      "bin/mount -> busybox",
      "bin/poweroff -> busybox",
      "bin/sh -> busybox",
      "dev/ 755",
      `init 755 ${Buffer.from(init).toString("hex")}`,
      "proc/ 755",
      "sys/ 755",
    ]);
  });

  it("adds the caller's extra members", () => {
    const archive = busyboxInitramfs({ busybox, applets: ["sh"], init, extra: [{ path: "/usr/bin/tool", mode: 0o755, data: "x" }] });
    expect(cpioList(archive)).toContain("usr/bin/tool");
  });

  it("refuses an /init whose #! interpreter is not in the archive, and bad applet names", () => {
    expect(() => busyboxInitramfs({ busybox, applets: ["mount"], init })).toThrow(/#! and an interpreter in the archive, got "\/bin\/sh"/);
    expect(() => busyboxInitramfs({ busybox, applets: ["sh"], init: "echo no shebang" })).toThrow(InputError);
    expect(() => busyboxInitramfs({ busybox, applets: ["sh", "../x"], init })).toThrow(/bad applet name/);
  });
});

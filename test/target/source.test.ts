import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { fsSource } from "../../toolchain/target/index.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-src-"));
mkdirSync(join(dir, "proc"));
writeFileSync(join(dir, "proc/iomem"), "0123456789");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fsSource", () => {
  const src = fsSource(dir);

  it("reads files, byte ranges and directories under the root", () => {
    expect(Buffer.from(src.read("proc/iomem") ?? []).toString()).toBe("0123456789");
    expect(Buffer.from(src.readAt("proc/iomem", 3, 4) ?? []).toString()).toBe("3456");
    expect(Buffer.from(src.readAt("proc/iomem", 8, 100) ?? []).toString()).toBe("89");
    expect(src.list("proc")).toEqual(["iomem"]);
    expect(src.label).toBe(dir);
  });

  it("gives null for what does not exist, and InputError with the path for other failures", () => {
    expect(src.read("proc/cmdline")).toBeNull();
    expect(src.readAt("proc/kcore", 0, 64)).toBeNull();
    expect(src.list("sys")).toBeNull();
    expect(src.read("proc/iomem/x")).toBeNull(); // ENOTDIR
    try {
      src.read("proc"); // EISDIR
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      expect((e as InputError).code).toBe("READ_FAILED");
      expect((e as InputError).where).toBe(join(dir, "proc"));
    }
  });

  it("reads the live /proc of this machine", () => {
    expect(fsSource("/").read("proc/self/auxv")?.length).toBeGreaterThan(16);
  });
});

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packageFile, packageVersion } from "../../toolchain/bytes/index.js";

const ROOT = join(import.meta.dirname, "../..");

describe("the package's own files", () => {
  it("are found from the package root, whose package.json is purgatory's", () => {
    expect(packageFile()).toBe(ROOT);
    expect(packageFile("examples", "collect-target.sh")).toBe(join(ROOT, "examples", "collect-target.sh"));
    expect(existsSync(packageFile("templates"))).toBe(true);
  });

  it("carry package.json's version", () => {
    expect(packageVersion()).toBe((JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version);
  });
});

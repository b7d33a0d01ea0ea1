import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { MANIFEST_KEYS, parseManifest, serializeManifest } from "../../toolchain/bundle/index.js";
import { thrown } from "../_thrown.js";

const golden = readFileSync(new URL("./fixtures/virt-crash.manifest.json", import.meta.url), "utf8");
const withSeed = (seed: unknown) => JSON.stringify({ ...JSON.parse(golden), seed });

describe("parseManifest", () => {
  it("reads back what serializeManifest writes, the seed as its hex bytes", () => {
    const m = parseManifest(golden);
    expect(m.seed).toBe("5eed");
    expect(serializeManifest(m)).toBe(golden);
  });

  it("lists in MANIFEST_KEYS exactly the keys a manifest has", () => {
    expect(MANIFEST_KEYS).toEqual(Object.keys(JSON.parse(golden)));
  });

  it("reads the seed words of older manifests and null as no recorded seed", () => {
    for (const old of ["given", "random", null]) expect(parseManifest(withSeed(old)).seed).toBeNull();
  });

  it("refuses a seed that is not lower-case hex bytes, at the seed", () => {
    for (const bad of ["5eE", "abc", "", 7]) {
      expect(thrown(() => parseManifest(withSeed(bad)))).toMatchObject({ code: "BAD_MANIFEST", where: "seed" });
    }
  });
});

import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { captureSource, collectTarget, fsSource, parseCapture, serializeTarget } from "../../toolchain/target/index.js";
import { FIXTURE, makeFakeRoot } from "./_fake-root.js";
import { SCRIPT, runCollectScript, shells } from "./_collect-script.js";

// examples/collect-target.sh: the capture a busybox target makes without Node
// must describe the same machine as reading its files directly.
describe("examples/collect-target.sh", () => {
  let root = "";
  beforeAll(() => {
    root = makeFakeRoot();
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it.each(shells())("under %s, captures a root that describe --from turns into the same target.json as describe --root", (shell) => {
    const run = runCollectScript(root, shell);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    const fromCapture = serializeTarget(collectTarget(captureSource(parseCapture(run.stdout), "capture")).target);
    const fromRoot = serializeTarget(collectTarget(fsSource(root)).target);
    expect(fromCapture).toBe(fromRoot);
    expect(fromCapture).toBe(readFileSync(join(FIXTURE, "target.json"), "utf8"));
  });

  it("copies only the head of /proc/kcore, up to the end of its note segment", () => {
    const files = parseCapture(runCollectScript(root).stdout);
    const kcore = files.get("proc/kcore");
    const whole = readFileSync(join(FIXTURE, "vmcoreinfo.txt")).length;
    // ELF header + 5 program headers + 4 notes, not the 16 GiB sparse file
    expect(kcore?.length).toBeGreaterThan(whole);
    expect(kcore?.length).toBeLessThan(whole + 8192);
    expect([...files.keys()].sort()).toEqual([
      "proc/cmdline", "proc/iomem", "proc/kcore", "proc/self/auxv",
      "sys/devices/system/cpu/cpu0/crash_notes", "sys/devices/system/cpu/cpu0/crash_notes_size",
      "sys/devices/system/cpu/cpu1/crash_notes", "sys/devices/system/cpu/cpu1/crash_notes_size",
      "sys/firmware/fdt", "sys/kernel/security/lockdown", "sys/kernel/vmcoreinfo",
    ]);
  });

  it("without /proc/kcore still captures the rest and says what is lost", () => {
    const r = makeFakeRoot({ noKcore: true });
    try {
      const run = runCollectScript(r);
      expect(run.status).toBe(0);
      expect(run.stderr).toMatch(/no vmcoreinfo text/);
      expect(parseCapture(run.stdout).has("proc/kcore")).toBe(false);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });

  it("leaves out a kcore that is not ELF64 little-endian", () => {
    const r = makeFakeRoot({ noKcore: true });
    try {
      writeFileSync(join(r, "proc/kcore"), "not an ELF file at all, but long enough for the header reads ...");
      const run = runCollectScript(r);
      expect(run.status).toBe(0);
      expect(parseCapture(run.stdout).has("proc/kcore")).toBe(false);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });

  it("fails without /proc/iomem", () => {
    const r = makeFakeRoot({ noKcore: true });
    try {
      rmSync(join(r, "proc/iomem"));
      const run = runCollectScript(r);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/cannot read \/proc\/iomem/);
    } finally {
      rmSync(r, { recursive: true, force: true });
    }
  });

  it("is POSIX sh: no bash-only syntax", () => {
    const text = readFileSync(SCRIPT, "utf8");
    expect(text.startsWith("#!/bin/sh\n")).toBe(true);
    for (const bashism of [/\[\[/, /\bfunction\s/, /\blocal\s/, /\$\{[^}]*\/\//, /<<</, /\bsource\s/, /\$'/, /\s==\s/]) expect(text).not.toMatch(bashism);
  });
});

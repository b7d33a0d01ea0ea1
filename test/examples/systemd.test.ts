import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

// examples/systemd: the unit that arms kdump at every boot, checked by the
// host's own systemd-analyze verify (systemd 252 in Debian 12) in a scratch
// root holding the host's units and a stand-in /usr/bin/purgatory (verify
// checks that ExecStart's program exists), and the udev rule that re-arms on
// CPU or memory hotplug.

const here = new URL("../../examples/systemd/", import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), "systemd-verify-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function verify(unitText: string): { status: number | null; output: string } {
  const root = mkdtempSync(join(scratch, "root-"));
  cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  mkdirSync(join(root, "usr/bin"), { recursive: true });
  writeFileSync(join(root, "usr/bin/purgatory"), "#!/bin/sh\n");
  chmodSync(join(root, "usr/bin/purgatory"), 0o755);
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  writeFileSync(join(root, "etc/systemd/system/purgatory-kdump.service"), unitText);
  const r = spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, "/etc/systemd/system/purgatory-kdump.service"], { encoding: "utf8" });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe("examples/systemd/purgatory-kdump.service", () => {
  const unit = readFileSync(join(here, "purgatory-kdump.service"), "utf8");

  it("passes systemd-analyze verify", () => {
    const r = verify(unit);
    expect(r.output).toBe("");
    expect(r.status).toBe(0);
  });

  it("is what verify would refuse if broken (a misspelt section, a missing program)", () => {
    expect(verify(unit.replace("[Service]", "[Servise]")).status).not.toBe(0);
    expect(verify(unit.replaceAll("/usr/bin/purgatory", "/usr/bin/purgatory-missing")).status).not.toBe(0);
  });

  it("arms with kdump arm, disarms with kdump disarm, once per boot (oneshot, RemainAfterExit)", () => {
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/purgatory kdump arm /m);
    expect(unit).toMatch(/^ExecStop=\/usr\/bin\/purgatory kdump disarm /m);
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^RemainAfterExit=yes$/m);
  });
});

describe("examples/systemd/90-purgatory-kdump.rules", () => {
  const rules = readFileSync(join(here, "90-purgatory-kdump.rules"), "utf8").split("\n").filter((l) => l !== "" && !l.startsWith("#"));

  it("restarts the unit on CPU and on memory hotplug, one rule each, in udev's KEY==\"v\"/KEY+=\"v\" syntax", () => {
    expect(rules.map((l) => /SUBSYSTEM=="(\w+)"/.exec(l)?.[1])).toEqual(["cpu", "memory"]);
    for (const l of rules) {
      for (const part of l.split(/,\s*/)) expect(part).toMatch(/^[A-Z]+(==|\+=|=)"[^"]*"$/);
      expect(l).toContain('RUN+="/bin/systemctl try-restart purgatory-kdump.service"');
      expect(l).toMatch(/ACTION=="add\|remove\|online\|offline"/);
    }
  });
});

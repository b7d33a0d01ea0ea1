import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { parseManifest } from "../../toolchain/bundle/manifest.js";
import { describeCapture, makeBundle, sendBundle } from "./_bundle.js";
import { GUEST_KERNEL, GUEST_STAGE2, bootProduction, prepareGuest, rebootCommandLine, type Production } from "./_guest.js";
import { Timeline, keepConsole } from "./_machine.js";

// Issue 5 §4: the real reboot cycle. The production guest (as in
// kdump.test.ts) sends its description; the host makes a reboot bundle whose
// command line carries a fresh marker; the guest loads it with
// examples/loader and `loader --exec` reboots into it through our purgatory;
// the second kernel's /init (guest/stage2.sh) finds the marker in its own
// command line and log.

const MACHINE_MS = 10 * 60_000;
const STEP_MS = 90_000;
const work = mkdtempSync(join(tmpdir(), "cycle-reboot-"));
const timeline = new Timeline();
let prod: Production | undefined;

afterAll(async () => {
  if (prod !== undefined) await keepConsole(prod.machine, "reboot");
  rmSync(work, { recursive: true, force: true });
  if (prod !== undefined) console.log(timeline.format("reboot cycle timings", "/init"));
});

describe("the reboot cycle", () => {
  it(`a reboot bundle loaded by examples/loader and started with --exec boots the second kernel through our purgatory with the bundle's command line`, async (ctx) => {
    const assets = loadAssets();
    const guest = prepareGuest(assets, work);
    prod = await bootProduction(guest, MACHINE_MS);
    const { machine: m, agent } = prod;
    ctx.onTestFailed(() => console.error(m.transcript()));
    timeline.mark("/init", prod.init.t);
    timeline.mark("capture received", m.now());

    const capturePath = join(work, "target.capture");
    writeFileSync(capturePath, prod.capture);
    const targetJson = describeCapture(capturePath, join(work, "target.json"));
    const marker = randomUUID();
    const dir = makeBundle({
      mode: "reboot",
      targetJson,
      kernelPath: guest.kernel.path,
      initrdPath: guest.stage2.path,
      commandLine: rebootCommandLine(marker),
      outDir: join(work, "reboot-bundle"),
      seed: marker.replaceAll("-", ""),
    });
    timeline.mark("reboot bundle made", m.now());
    const local = new Map([[guest.kernel.sha256, GUEST_KERNEL], [guest.stage2.sha256, GUEST_STAGE2]]);
    const sent = await sendBundle(agent, dir, "/bundle", local, STEP_MS);
    timeline.mark(`bundle in the guest (${sent.sentBytes} bytes sent)`, m.now());
    expect(sent.linked.length).toBe(2);

    const load = await agent.run("loader /bundle && cat /sys/kernel/kexec_loaded", STEP_MS);
    expect(load.status, load.output).toBe(0);
    expect(load.output).toContain("loader: loaded reboot bundle");
    expect(load.output).toMatch(/\n1\n$/);
    timeline.mark("loaded", m.now());

    await agent.launch('exec >/dev/console 2>&1\ndmesg -n 8\nread -r up _ </proc/uptime; echo "@@EXEC $up@@"\nloader --exec', STEP_MS);
    const exec = await m.next(/@@EXEC /, STEP_MS);
    timeline.mark("loader --exec", exec.line.t);
    const entry = await m.next(/purgatory: ok, entering kernel at 0x([0-9a-f]+) with dtb at 0x([0-9a-f]+)/, STEP_MS, "the purgatory's go-ahead");
    timeline.mark("purgatory enters the kernel", entry.line.t);
    const manifest = parseManifest(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect([BigInt(`0x${entry.match[1]}`), BigInt(`0x${entry.match[2]}`)]).toEqual([manifest.kernelEntry, manifest.dtbAddress]);
    await m.next(/Linux version /, STEP_MS, "the second kernel's banner");
    const stage2 = await m.next(/@@STAGE2 /, 240_000, "the second kernel's /init");
    timeline.mark("second kernel's /init", stage2.line.t);
    const verdict = await m.next(/@@(PASS|FAIL) (?:REBOOT|MARKER) (.*) [0-9.]+@@/, STEP_MS, "the second kernel's verdict");
    expect(verdict.match[1], verdict.line.text).toBe("PASS");
    expect(verdict.match[2]).toBe(`${marker} ${assets.kernel.release}`);
    await m.next(/@@DONE /, STEP_MS);
    expect((await m.exited).code, "QEMU should end when the second kernel powers off").toBe(0);
  }, MACHINE_MS);
});

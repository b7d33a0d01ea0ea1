import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { MILESTONES, classifyCrash, loadFailure } from "../../toolchain/qemu/index.js";

// Consoles recorded from real probes (test/qemu/fixtures/README.md says which):
// the crashed kernel's last lines from "@@CRASH" on, our purgatory's, the
// capture kernel's and the capture initramfs's.
const fixture = (name: string): string[] => readFileSync(join(import.meta.dirname, "fixtures", name), "latin1").replace(/\n$/, "").split("\n");
const exited = { how: "exited", exitCode: 0 } as const;

describe("classifyCrash on recorded consoles", () => {
  it("a saved dump: SAVED, with the capture kernel's memory and CMA lines", () => {
    const v = classifyCrash(fixture("crash-saved.txt"), exited);
    expect(v.outcome).toBe("saved");
    expect(v.reached).toBe("saved");
    expect(v.reason).toMatch(/^SAVED \/var\/crash\/\S+ on \/dev\/vda: vmcore \d+ bytes/);
    expect(v.memory).toMatch(/^Memory: \d+K\/118784K available/);
    expect(v.cma).toMatch(/^cma: Reserved 64 MiB at 0x/);
  });

  it("116 MiB less 2: the OOM killer with nothing to kill while drivers probe, and the panic it ends in", () => {
    const v = classifyCrash(fixture("crash-oom-at-boot.txt"), exited);
    expect(v.outcome).toBe("oom");
    expect(v.reason).toBe("out of memory (invoked by swapper/0), nothing to kill: Kernel panic - not syncing: System is deadlocked on memory");
    expect(v.reached).toBe("capture kernel");
    expect(v.line).toMatch(/swapper\/0 invoked oom-killer/);
    expect(v.memory).toMatch(/^Memory: \d+K\/116736K available/);
  });

  it("a reservation too small for the CMA area: the kernel says so, and the dump is still saved", () => {
    const v = classifyCrash(fixture("crash-saved-without-cma.txt"), exited);
    expect(v.outcome).toBe("saved");
    expect(v.cma).toBe("cma: Failed to reserve 64 MiB");
  });

  it("a console cut short is a hang with its limit and the last milestone, or an unexplained end", () => {
    const lines = fixture("crash-saved.txt");
    const cut = lines.slice(0, lines.findIndex((l) => l.includes("Run /init as init process")) + 1);
    const quiet = classifyCrash(cut, { how: "quiet", seconds: 90 });
    expect(quiet.outcome).toBe("hang");
    expect(quiet.reached).toBe("capture init");
    expect(quiet.reason).toMatch(/^hang: the console was silent for 90 s; the capture kernel started \/init; last line: ".*Run \/init as init process"$/);
    expect(classifyCrash(cut, { how: "timeout", seconds: 600 }).reason).toMatch(/^hang: no verdict within 600 s of the crash;/);
    const ended = classifyCrash(cut, { how: "exited", exitCode: 0 });
    expect(ended.outcome).toBe("ended");
    expect(ended.reason).toMatch(/^QEMU ended \(exit code 0\) with no verdict: the capture kernel started \/init/);
    const none = classifyCrash(lines.slice(0, 3), { how: "quiet", seconds: 90 });
    expect(none.reached).toBe("crashed kernel");
  });

  it("counts the crashed kernel's own panic as the crash, not as a cause", () => {
    const lines = fixture("crash-saved.txt");
    expect(lines.some((l) => /Kernel panic - not syncing: sysrq triggered crash/.test(l))).toBe(true);
    const beforeKexec = lines.slice(0, lines.findIndex((l) => /Starting crashdump kernel/.test(l)));
    expect(classifyCrash(beforeKexec, { how: "quiet", seconds: 60 }).outcome).toBe("hang");
  });

  it("an initramfs too large for the rootfs: the unpacking failure, not what it leads to", () => {
    // Here /init and busybox were unpacked but makedumpfile was not: the collector "exited with 127".
    const lines = fixture("crash-initramfs-write-error.txt");
    expect(lines.some((l) => /purgatory-capture: FAILED collector: makedumpfile -l -d 31 exited with 127/.test(l))).toBe(true);
    const v = classifyCrash(lines, exited);
    expect(v).toMatchObject({ outcome: "initramfs", reason: "Initramfs unpacking failed: write error", reached: "collector" });
    expect(v.cma).toMatch(/^cma: Reserved 64 MiB/);
  });

  it("takes the first cause: an OOM victim behind a FAILED collector, a FAILED line of another step", () => {
    const head = fixture("crash-saved.txt").slice(0, 40);
    const killed = classifyCrash([
      ...head,
      "[    9.1] makedumpfile invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
      "[    9.3] Out of memory: Killed process 181 (makedumpfile) total-vm:30120kB, anon-rss:21000kB, file-rss:0kB",
      "purgatory-capture: FAILED collector: makedumpfile -l -d 31 exited with 137: Copying data; failure action: poweroff",
    ], exited);
    expect(killed).toMatchObject({ outcome: "oom", reason: "the OOM killer killed makedumpfile (pid 181) (invoked by makedumpfile)" });
    const failed = classifyCrash([...head, "purgatory-capture: FAILED device: LABEL=x did not appear within 3 s (block devices: ); failure action: poweroff"], exited);
    expect(failed).toMatchObject({ outcome: "capture-failed", reason: "the capture's device step failed: LABEL=x did not appear within 3 s (block devices: )" });
  });

  it("lists its milestones in console order", () => {
    const lines = fixture("crash-saved.txt");
    const at = MILESTONES.map((m) => lines.findIndex((l) => m.re.test(l)));
    expect(at.every((i) => i >= 0)).toBe(true);
    // The banner of the capture kernel comes after the purgatory, and so on.
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});

describe("loadFailure", () => {
  it("reads the loader's kexec_load error from the guest's LOADFAILED line", () => {
    expect(loadFailure("@@LOADFAILED 1 loader: kexec_load(entry 0x6e3ff000, 5 segments, flags 0xb70001) failed: Cannot assign requested address loader: likely cause: a segment outside crashk_res  12.31@@"))
      .toBe("kexec_load refused the segments: loader: kexec_load(entry 0x6e3ff000, 5 segments, flags 0xb70001) failed: Cannot assign requested address; loader: likely cause: a segment outside crashk_res");
    expect(loadFailure("@@LOADED 12.3@@")).toBeNull();
  });
});

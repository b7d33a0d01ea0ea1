import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { INIT_APPLETS, captureInit, captureInitPath } from "../../toolchain/initramfs/index.js";

// capture-init.sh, the capture kernel's /init, outside the capture kernel:
// its syntax, and its functions sourced into the host's busybox sh with a
// PATH that holds only the applets INIT_APPLETS lists (so a function that
// runs anything else fails here). The whole script runs in
// test/cycle/capture-disk.test.ts, after real crashes.

const work = mkdtempSync(join(tmpdir(), "initramfs-init-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const busybox = execFileSync("which", ["busybox"], { encoding: "utf8" }).trim();
const bin = join(work, "bin");
mkdirSync(bin);
for (const a of INIT_APPLETS) symlinkSync(busybox, join(bin, a));

/** Runs `body` in busybox sh after sourcing /init (not as process 1, so main does not run). */
function withInit(body: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(join(bin, "sh"), ["-c", `. ${captureInitPath()}; ${body}`], { encoding: "utf8", env: { PATH: bin }, cwd: work });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("capture-init.sh", () => {
  it("is valid sh for dash and busybox sh, and starts with #!/bin/sh", () => {
    for (const sh of [["dash", "-n"], [busybox, "sh", "-n"]] as const) {
      const r = spawnSync(sh[0], [...sh.slice(1), captureInitPath()], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
    }
    expect(captureInit().startsWith("#!/bin/sh\n")).toBe(true);
  });

  it("runs only as process 1: executed otherwise, it says so and exits 1", () => {
    const r = spawnSync(join(bin, "sh"), [captureInitPath()], { encoding: "utf8", env: { PATH: bin } });
    expect([r.status, r.stderr]).toEqual([1, "purgatory-capture: this is the capture kernel's /init; it runs only as process 1\n"]);
  });

  it("runs no program but the applets INIT_APPLETS lists (which the builder checks busybox has), and lists none it does not run", () => {
    const applets = new Set(execFileSync(busybox, ["--list"], { encoding: "utf8" }).split("\n"));
    const builtins = new Set(["echo", "printf", "read", "test", "[", "kill", "exit", "return", "set", "export", "umask", "exec", "true", "false", "cd", "wait"]);
    const code = captureInit().split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/'[^'\n]*'/g, "''");
    // A command word: at the start of a line or after | ; & ( ` ! { $(, past if/then/do/else, and not an assignment; or what setsid runs.
    const commands = new Set([
      ...[...code.matchAll(/(?:^|[|;&(`!{]|\$\()\s*(?:(?:if|then|do|else|elif|while|until|!)\s+)*([a-z][a-z0-9_]*)\b(?!=)/gm)].map((m) => m[1] as string),
      ...[...code.matchAll(/\bsetsid\s+([a-z][a-z0-9_]*)/g)].map((m) => m[1] as string),
    ]);
    const used = [...commands].filter((c) => applets.has(c) && !builtins.has(c)).sort();
    expect(used).toEqual([...INIT_APPLETS].filter((a) => a !== "sh").sort());
  });

  it("jstr writes JSON strings: quotes and backslashes escaped, line breaks as \\n, tabs as spaces, control characters and CR dropped", () => {
    const input = 'a\t"b"\\c\r\n\u0001d\ne\u007f';
    writeFileSync(join(work, "in.txt"), input);
    const r = withInit(`jstr "$(cat ${join(work, "in.txt")})"`);
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toBe('a "b"\\c\nd\ne');
    expect(withInit('jopt ""; echo; jopt x; echo; jnum 12.34; jnum 1.2.3; jnum ""; jnum 7').stdout).toBe('null\n"x"\n12.34nullnull7');
    // Plain text takes the short way, and comes out the same.
    for (const plain of ["/dev/vda", "LABEL=crash dumps", "makedumpfile -l -d 31", "6.1.0-56-cloud-arm64", "a+b@c%d,e"]) {
      expect(JSON.parse(withInit(`jstr '${plain}'`).stdout)).toBe(plain);
    }
    expect(JSON.parse(withInit(`jstr 'it'"'"'s [x]'`).stdout)).toBe("it's [x]");
  });

  it("write_status writes status.json through a rename: valid JSON, with null for what is not known yet", () => {
    const dir = join(work, "dump");
    mkdirSync(dir);
    const r = withInit([
      `dir=${dir}`, "dump_to='LABEL=x \"y\"'", "dev=/dev/vda", "fs_type=ext4", "directory=/var/crash", "stamp=20260101T000000Z-0123abcd", "boot_id=0123abcd-1",
      "vmcore_bytes=123456", "dmesg_file=dmesg.txt", "dmesg_status=0", "dmesg_bytes=10", "dmesg_seconds=0.10",
      "core_collector='makedumpfile -l -d 31'", "collector_status=1", "collector_bytes=", "collector_seconds=1.5", "collector_messages=\"$(printf 'line 1\\nNo space left on device')\"",
      "failed_step=collector", "message='it \"failed\"'", "t_init=1.31", "t_device=1.63",
      "write_status failure poweroff",
    ].join("\n"));
    expect(r.status, r.stderr).toBe(0);
    const status = JSON.parse(readFileSync(join(dir, "status.json"), "utf8")) as Record<string, unknown>;
    expect(status).toEqual({
      format: "purgatory-capture-status/1", result: "failure", failedStep: "collector", message: 'it "failed"', dumpTo: 'LABEL=x "y"', device: "/dev/vda", fsType: "ext4",
      directory: "/var/crash/20260101T000000Z-0123abcd", captureKernel: expect.any(String), bootId: "0123abcd-1", vmcoreBytes: 123456,
      dmesg: { file: "dmesg.txt", exitStatus: 0, bytes: 10, seconds: 0.1, messages: null },
      collector: { command: "makedumpfile -l -d 31", file: null, exitStatus: 1, bytes: null, seconds: 1.5, messages: "line 1\nNo space left on device" },
      uptime: { init: 1.31, deviceReady: 1.63, mounted: null, saved: null }, action: "poweroff",
    });
    expect(execFileSync("ls", [dir], { encoding: "utf8" })).toBe("status.json\n");
    expect(withInit("dir=; write_status failure reboot; echo $?").stdout).toBe("1\n");
  });

  it("write_status reserves room in the running status, and writes over it when no second copy fits (a disk the collector filled)", () => {
    const dir = join(work, "full");
    mkdirSync(dir);
    const vars = `dir=${dir}; dump_to=/dev/vda; fs_type=ext4; directory=/var/crash; stamp=s; core_collector=makedumpfile`;
    expect(withInit(`${vars}; write_status running ""`).status).toBe(0);
    const running = readFileSync(join(dir, "status.json"), "utf8");
    expect(running.length).toBeGreaterThan(32768);
    expect(JSON.parse(running)).toMatchObject({ result: "running", action: null });
    // The temporary file cannot be written (here: a directory is in its way).
    mkdirSync(join(dir, "status.json.tmp"));
    const r = withInit(`${vars}; failed_step=collector; write_status failure reboot; echo status=$?`);
    expect(r.stdout).toBe("status=0\n");
    const final = readFileSync(join(dir, "status.json"), "utf8");
    expect(JSON.parse(final)).toMatchObject({ result: "failure", failedStep: "collector", action: "reboot" });
    expect(final.length).toBeLessThan(4096);
    // Writes that fail part-way (here: a status of over 4 KiB against a file size limit of 2 blocks) are noticed, not taken for a status.
    rmSync(join(dir, "status.json.tmp"), { recursive: true });
    const limited = withInit(`${vars}; collector_messages=$(printf '%4096s' x); trap '' XFSZ; ulimit -f 2; write_status failure reboot; echo status=$?`);
    expect(limited.stdout).toBe("status=1\n");
  });

  it("tail_of keeps the last lines of a log, a progress bar's CR-separated updates as lines", () => {
    writeFileSync(join(work, "log"), `${Array.from({ length: 50 }, (_, i) => `line ${i}`).join("\n")}\nCopying data : [ 10.0 %] \rCopying data : [100.0 %] \n\n`);
    const lines = withInit(`tail_of ${join(work, "log")}`).stdout.replace(/\n$/, "").split("\n");
    expect(lines).toHaveLength(40);
    expect(lines.slice(-3)).toEqual(["line 49", "Copying data : [ 10.0 %] ", "Copying data : [100.0 %] "]);
  });

  it("why_of picks the line of a log that says what went wrong, else the last one", () => {
    writeFileSync(join(work, "full.log"), "Copying data : [ 10.0 %] \rwrite_buffer: Can't write the dump file(/mnt/x). No space left on device\nThis is an incomplete dumpfile, but might analyzable.\n\nmakedumpfile Failed.\n");
    writeFileSync(join(work, "plain.log"), "one\ntwo\n");
    expect(withInit(`why_of ${join(work, "full.log")}; echo; why_of ${join(work, "plain.log")}`).stdout).toBe("write_buffer: Can't write the dump file(/mnt/x). No space left on device\ntwo");
  });

  it("wait_for_device gives up after wait_seconds, to the hundredth of a second of /proc/uptime", () => {
    const uptime = () => Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
    for (const target of ["/dev/purgatory-none", "LABEL=purgatory-none"]) {
      const t0 = uptime();
      const r = withInit(`dump_to='${target}'; wait_seconds=1; wait_for_device; echo "status=$? dev=$dev"`);
      const took = uptime() - t0;
      expect(r.stdout).toBe("status=1 dev=\n");
      expect(took).toBeGreaterThanOrEqual(1);
      expect(took).toBeLessThan(5);
    }
    // A device that is there is found at once (/dev/null is not a block device; a loop device may not exist here).
    expect(withInit("dump_to=/dev/null; wait_seconds=0; wait_for_device; echo $?").stdout).toBe("1\n");
  });
});

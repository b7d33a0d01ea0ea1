import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, describe, expect, it, vi } from "vitest";
import type { CommandModule } from "yargs";
import crashkernelCommand from "../../toolchain/cli/crashkernel.js";
import targetCommand from "../../toolchain/cli/target.js";
import { CALIBRATION_FORMAT, parseCrashkernel, serializeCalibration } from "../../toolchain/crashkernel/index.js";
import { parseTarget } from "../../toolchain/target/index.js";
import { runCli } from "../_cli.js";
import { captureCpio } from "../crashkernel/_initramfs.js";
import { makeImage } from "../image/_make.js";
import { runCommand } from "./_purgatory-cli.js";

const dir = mkdtempSync(join(tmpdir(), "purgatory-crashkernel-cli-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const M = 1n << 20n;
const FIXTURE = join(import.meta.dirname, "../target/fixtures/qemu-virt-6.1/target.json");
const FIXTURE_RAM = 1n << 30n;

/** A stand-in capture kernel: an Image header saying image_size 30 MiB, and a linux_banner. */
const kernel = join(dir, "Image");
const image = makeImage({ fileSize: 0x4000, imageSize: 30n * M });
image.set(new TextEncoder().encode("Linux version 6.1.0-test (builder@host) (gcc) #1 SMP\n\0"), 0x3000);
writeFileSync(kernel, image);
const initrd = join(dir, "capture.cpio.gz");
writeFileSync(initrd, gzipSync(captureCpio()));

const cli = (args: string[]) => runCommand(crashkernelCommand as CommandModule<object, never>, ["crashkernel", ...args]);
const base = ["-t", FIXTURE, "--kernel", kernel, "--initrd", initrd];

describe("purgatory crashkernel", () => {
  it("prints each term of both sizes, the crashkernel= to use and the verdict on the target's reservation", async () => {
    const r = await cli(base);
    expect(r, r.err).toMatchObject({ code: 0, err: "" });
    const out = r.out;
    expect(out).toContain(`crash reservation for ${FIXTURE}`);
    expect(out).toMatch(/crashed machine {2}1 GiB of RAM ending at 0x80000000, 2 CPUs \(crash notes\), 4 KiB pages/);
    expect(out).toMatch(/capture kernel {3}.*Image: 6\.1\.0-test, image_size 30 MiB \(file 16 KiB\), 4 KiB pages, 1 CPU, rootfs ramfs/);
    // The default capture line: the target's, without BOOT_IMAGE= and crashkernel=, plus what the README's bundle appends.
    expect(out).toContain("command line     root=/dev/vda1 ro console=ttyAMA0 nr_cpus=1 reset_devices");
    expect(out).toMatch(/initramfs {8}.*capture\.cpio\.gz: gzip, .* 11 entries \(4 files\)/);
    for (const label of ["kernel image", "DTB and elfcorehdr", "struct page array", "linear map page tables", "large system hashes",
      "kernel run time", "per-CPU", "unpacked initramfs", "run peak: user space and makedumpfile", "CMA area beyond movable use",
      "margin", "total"]) {
      expect(out, label).toContain(`  ${label}`);
    }
    expect(out).toMatch(/ {2}kernel image {36}30\.0 {8}30\.0 {2}image_size/);
    const line = /put on the kernel command line: {2}(crashkernel=\d+M)/.exec(out)![1]!;
    const minimum = /\(the minimum: (crashkernel=\d+M)\)/.exec(out)![1]!;
    expect(parseCrashkernel(line, FIXTURE_RAM)!.size).toBeGreaterThan(parseCrashkernel(minimum, FIXTURE_RAM)!.size);
    expect(out).toMatch(/your 256 MiB reservation is enough \(minimum \d+ MiB, recommended \d+ MiB\)/);
    expect(out).toContain("the running kernel's crashkernel=256M asks for 256 MiB");
    expect(out).toContain("built-in guesses in use: kernelRuntime, perCpu, tmpfsInode, userspace, collector, cma");
    expect(out).toContain("note: the capture kernel reserves a 64 MiB CMA area unless its command line says cma=0");
  });

  it("gives everything as sorted-key JSON whose terms add up and whose syntax parses back", async () => {
    const r = await cli([...base, "--append", "nr_cpus=1 cma=0", "--reuse-cmdline", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    const sortedDeep = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(sortedDeep);
      else if (v !== null && typeof v === "object") {
        // JSON.parse puts integer-like keys (page sizes) first, in numeric order; the rest must be sorted.
        const keys = Object.keys(v).filter((k) => !/^\d+$/.test(k));
        expect(keys).toEqual([...keys].sort());
        Object.values(v).forEach(sortedDeep);
      }
    };
    sortedDeep(j);
    expect(j.capture).toMatchObject({ commandLine: "root=/dev/vda1 ro console=ttyAMA0 nr_cpus=1 cma=0", cpus: 1, pageSize: 4096, rootfs: "ramfs", kernelRelease: "6.1.0-test" });
    for (const s of [j.minimum, j.recommended]) {
      expect(s.terms.reduce((n: bigint, t: { bytes: string }) => n + BigInt(t.bytes), 0n)).toBe(BigInt(s.bytes));
    }
    expect(j.minimum.terms.map((t: { key: string }) => t.key)).not.toContain("cma");
    expect(parseCrashkernel(j.syntax.recommended, FIXTURE_RAM)!.size).toBe(BigInt(j.recommended.bytes));
    expect(j.inputs).toMatchObject({ target: FIXTURE, cpusFrom: "crash notes", kernel: { file: kernel, imageSize: "0x1e00000", release: "6.1.0-test" } });
    expect(j.inputs.initramfs).toMatchObject({ file: initrd, entries: 11, parts: [{ format: "gzip" }] });
    expect(j.reservation).toMatchObject({ verdict: "enough", reserved: "0x10000000" });
    expect(j.constants.find((c: { name: string }) => c.name === "kernelRuntime")).toMatchObject({ kind: "guess" });
  });

  it("writes the range form for --fleet, and reads a calibration file", async () => {
    const cal = join(dir, "cal.json");
    writeFileSync(cal, serializeCalibration({ measuredOn: { kernelRelease: "6.1.0-test", pageSize: 4096 }, constants: { kernelRuntime: 12 << 20 } }));
    const r = await cli([...base, "--fleet", "2G,4G,64G", "--calibration", cal]);
    expect(r.code, r.err).toBe(0);
    const fleet = /for the fleet: {2}(crashkernel=\S+)/.exec(r.out)![1]!;
    expect(fleet).toMatch(/^crashkernel=2G-/);
    for (const ram of [2n << 30n, 3n << 30n, 8n << 30n, 100n << 30n]) expect(parseCrashkernel(fleet, ram)?.form).toBe("range");
    expect(r.out).toMatch(/ {2}2G-4G +\d+ MiB \(minimum \d+ MiB\), sized for 4 GiB of RAM/);
    expect(r.out).toMatch(/ {2}64G- +\d+ MiB \(minimum \d+ MiB\), sized for makedumpfile's largest bitmaps/);
    expect(r.out).toContain(`calibration      ${cal}: measured on 6.1.0-test`);
    expect(r.out).toMatch(/kernel run time \(slab, vmalloc, \.\.\.\) +12\.0 +12\.0 {2}calibrated/);
    expect(r.out).toContain("built-in guesses in use: perCpu, tmpfsInode, userspace, collector, cma");
  });

  it("sizes a QEMU virt target from `target qemu-virt`: CPUs from its DTB, all of them without nr_cpus=", async () => {
    const t = join(dir, "virt.json");
    const made = await runCommand(targetCommand as CommandModule<object, never>, ["target", "qemu-virt", "-m", "2G", "--smp", "4", "--crashkernel", "48M", "-o", t]);
    expect(made.code, made.err).toBe(0);
    expect(parseTarget(readFileSync(t, "utf8")).cpuNotes).toEqual([]);
    const r = await cli(["-t", t, "--kernel", kernel, "--initrd", initrd, "--command-line", "console=ttyAMA0 rdinit=/init cma=0", "--json"]);
    expect(r.code, r.err).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.inputs.cpusFrom).toBe("DTB");
    expect(j.crashed.cpus).toBe(4);
    expect(j.capture).toMatchObject({ cpus: 4, rootfs: "tmpfs" });
    expect(j.minimum.terms.find((t: { key: string }) => t.key === "perCpu").bytes).toBe("0x400000");
    expect(j.reservation.verdict).toBe("short");
    expect(j.reservation.message).toMatch(/^your 48 MiB reservation is short by \d+ MiB of the minimum/);
    const one = JSON.parse((await cli(["-t", t, "--kernel", kernel, "--command-line", "console=ttyAMA0 nr_cpus=1 cma=0", "--json"])).out);
    expect(one.capture.cpus).toBe(1);
    expect(BigInt(one.minimum.bytes)).toBeLessThan(BigInt(j.minimum.bytes));
  }, 120_000);

  it("explains itself in --help: what each term is, and examples", async () => {
    // yargs prints help with console.log.
    const logged: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((...a: unknown[]) => void logged.push(a.join(" ")));
    const r = await runCli(crashkernelCommand, ["crashkernel", "--help"]);
    log.mockRestore();
    expect(r.code).toBe(0);
    // yargs wraps at the terminal's width (80 without one), breaking long lines anywhere: compare without white space.
    const squeeze = (t: string) => t.replace(/\s+/g, "");
    const help = squeeze(r.stdout + logged.join("\n"));
    for (const words of ["image_size from the Image header", "2 bitmaps of 2 bits per crashed page", "a tmpfs rootfs may only fill half of RAM",
      "crashkernel=SIZE,high crashkernel=128M,low", "--calibration FILE replaces them", "--fleet", "2G,4G,16G,64G", "docs/crashkernel.md",
      "--calibrate --qemu measures instead", "--write-calibration FILE", "--probe",
      "Examples:"]) {
      expect(help, words).toContain(squeeze(words));
    }
  });

  describe("refuses bad input with exit 1, naming the file", () => {
    it.each([
      ["a missing kernel", () => ["-t", FIXTURE, "--kernel", join(dir, "nope")], "READ_FAILED", /Cannot read .*nope/],
      ["a kernel that is not one", () => ["-t", FIXTURE, "--kernel", initrd], "UNSUPPORTED_FORMAT", null],
      ["an initramfs that is not one", () => ["-t", FIXTURE, "--kernel", kernel, "--initrd", kernel], "BAD_CPIO", null],
      ["a target that is not JSON", () => ["-t", kernel, "--kernel", kernel], "BAD_JSON", null],
      ["a bad calibration", () => {
        const cal = join(dir, "bad-cal.json");
        writeFileSync(cal, JSON.stringify({ constants: { slab: 1 }, format: CALIBRATION_FORMAT, measuredOn: { kernelRelease: "x", pageSize: 4096 } }));
        return ["-t", FIXTURE, "--kernel", kernel, "--calibration", cal];
      }, "BAD_CALIBRATION", /bad-cal\.json.*unknown field "slab"/],
      ["a calibration for 64 KiB pages", () => {
        const cal = join(dir, "64k-cal.json");
        writeFileSync(cal, serializeCalibration({ measuredOn: { kernelRelease: "x", pageSize: 65536 }, constants: { perCpu: 1 } }));
        return ["-t", FIXTURE, "--kernel", kernel, "--calibration", cal];
      }, "BAD_CALIBRATION", /measured with 64 KiB pages/],
    ] as const)("%s", async (_, args, code, message) => {
      const a = args();
      const file = a[a.length - 1]!;
      const r = await cli([...a, "--json"]);
      expect(r.code, r.out).toBe(1);
      const e = JSON.parse(r.out).error;
      expect(e.code).toBe(code);
      expect(`${e.message} ${e.where}`).toContain(file);
      if (message !== null) expect(e.message).toMatch(message);
      const t = await cli(a);
      expect(t.code).toBe(1);
      expect(t.err).toMatch(/^purgatory: /);
      expect(t.err).toContain(file);
    });
  });

  it.each([
    [["--fleet", "4X"], /--fleet: "4X" is not a RAM size/],
    [["--fleet", "2G,,4G"], /--fleet: "" is not a RAM size/],
    [["--dma-bits", "70"], /--dma-bits 70/],
    [["--cpus", "0"], /--cpus 0/],
    [["--command-line", "x", "--reuse-cmdline"], /--command-line and --reuse-cmdline/],
    [["--command-line", "x", "--append", "y"], /Cannot use --command-line with --append: --command-line is the whole command line/],
  ])("refuses the usage %j with exit 2", async (args, message) => {
    const r = await cli([...base, ...args]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  describe("--calibrate --qemu", () => {
    const loader = join(dir, "loader");
    writeFileSync(loader, "not run");
    const calibrate = ["--calibrate", "--qemu", "--kernel", kernel, "--initrd", initrd, "--loader", loader];

    it.each([
      [["--calibrate", "--kernel", kernel, "--initrd", initrd, "--loader", loader], /--calibrate needs --qemu/],
      [["--calibrate", "--qemu", "--kernel", kernel, "--initrd", initrd], /--calibrate needs --loader/],
      [["--calibrate", "--qemu", "--kernel", kernel, "--loader", loader], /--calibrate needs --initrd/],
      [[...calibrate, "-t", FIXTURE], /--target does not go with --calibrate/],
      [[...calibrate, "--fleet", "2G"], /--fleet does not go with --calibrate/],
      [[...calibrate, "--memory", "100M"], /Cannot emulate 100M of RAM/],
      [[...calibrate, "--smp", "9"], /Cannot emulate 9 CPUs/],
      [[...calibrate, "--probe", "110M,1.5G"], /--probe/],
      [["--kernel", kernel, "--loader", loader, "-t", FIXTURE], /--loader goes with --calibrate/],
      [["--kernel", kernel, "--qemu", "-t", FIXTURE], /--qemu goes with --calibrate/],
      [["--kernel", kernel], /Missing required argument: target/],
    ])("refuses the usage %j with exit 2", async (args, message) => {
      const r = await cli(args);
      expect(r.code, r.err).toBe(2);
      expect(r.err).toMatch(message);
    });

    it("refuses a capture initramfs that does not say where it saves the dump, before any probe (NO_CAPTURE_CONFIG)", async () => {
      const r = await cli([...calibrate, "--json"]);
      expect(r.code).toBe(1);
      const e = JSON.parse(r.out).error;
      expect(e.code).toBe("NO_CAPTURE_CONFIG");
      expect(e.message).toContain(initrd);
    });
  });

  it("refuses a missing --kernel with exit 2", async () => {
    const r = await runCli(crashkernelCommand, ["crashkernel", "-t", FIXTURE]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/kernel/);
  });
});

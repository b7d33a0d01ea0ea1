import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { thrown } from "../_thrown.js";
import { DEFAULT_CONFIG, checkConfig, parseConfig, rootDumpTarget, serializeConfig, shellQuote, type CaptureConfig } from "../../toolchain/initramfs/index.js";

const work = mkdtempSync(join(tmpdir(), "initramfs-config-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const config: CaptureConfig = { ...DEFAULT_CONFIG, dumpTo: "/dev/vda", fsType: "ext4" };
const programs = new Set(["sh", "cp", "makedumpfile"]);
const generated = { modules: ["/lib/modules/r/a.ko", "/lib/modules/r/b.ko"], libraryPath: ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu"], path: ["/bin", "/usr/bin"] };

/** What busybox sh (the capture /init's shell) and dash read from a config file: each variable, exactly. */
function sourced(text: string, shell: string): Record<string, string> {
  const f = join(work, "capture.conf");
  writeFileSync(f, text);
  const keys = ["dump_to", "fs_type", "directory", "core_collector", "final_action", "failure_action", "wait_seconds", "timeout_seconds", "modules", "library_path", "path"];
  const script = `. ${f}; ${keys.map((k) => `printf '%s\\0' "$${k}"`).join("; ")}`;
  const out = execFileSync(shell, shell === "busybox" ? ["sh", "-c", script] : ["-c", script], { encoding: "latin1" }).split("\0");
  return Object.fromEntries(keys.map((k, i) => [k, out[i] as string]));
}

const code = (c: Partial<CaptureConfig>): string => {
  const e = thrown(() => checkConfig({ ...config, ...c }, programs));
  return `${e.code} ${String(e.where)}`;
};

describe("serializeConfig", () => {
  it("writes a file that busybox sh and dash read back to exactly the values, quotes and all", () => {
    const nasty: CaptureConfig = { ...config, dumpTo: "LABEL=it's $HOME `x` \"q\" \\", coreCollector: "makedumpfile -l -d 31 --message-level 7" };
    for (const shell of ["busybox", "dash"]) {
      expect(sourced(serializeConfig(nasty, generated), shell)).toEqual({
        dump_to: nasty.dumpTo, fs_type: "ext4", directory: "/var/crash", core_collector: nasty.coreCollector, final_action: "reboot", failure_action: "reboot",
        wait_seconds: "60", timeout_seconds: "7200", modules: "/lib/modules/r/a.ko /lib/modules/r/b.ko", library_path: "/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu", path: "/bin:/usr/bin",
      });
    }
  });

  it("quotes with single quotes only", () => {
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
    expect(shellQuote("")).toBe("''");
  });

  it("refuses generated paths holding the list separators", () => {
    expect(() => serializeConfig(config, { ...generated, modules: ["/a b.ko"] })).toThrow(RangeError);
    expect(() => serializeConfig(config, { ...generated, path: ["/a:b"] })).toThrow(RangeError);
  });
});

describe("parseConfig", () => {
  it("reads back what serializeConfig writes, as the shell's . does, quotes and all", () => {
    const nasty: CaptureConfig = { ...config, dumpTo: "LABEL=it's $HOME `x` \"q\" \\", coreCollector: "makedumpfile -l -d 31" };
    const text = serializeConfig(nasty, generated);
    const read = parseConfig(text);
    expect(Object.fromEntries(read)).toEqual(sourced(text, "busybox"));
    expect(read.get("dump_to")).toBe(nasty.dumpTo);
  });

  it("refuses a line that is not key='value', naming the line", () => {
    const e = thrown(() => parseConfig("# ok\ndump_to='/dev/vda'\nfs_type=ext4\n", "capture.conf"));
    expect(e).toBeInstanceOf(InputError);
    expect(e.code).toBe("BAD_VALUE");
    expect(e.where).toBe("capture.conf:3");
    expect(thrown(() => parseConfig("dump_to='a' 'b'\n")).code).toBe("BAD_VALUE");
  });
});

describe("checkConfig", () => {
  it("accepts /dev/NAME, LABEL= and UUID= targets, auto, and a collector that is in the archive", () => {
    for (const c of [{}, { dumpTo: "LABEL=crash dumps" }, { dumpTo: "UUID=2bf4bac7-37f4-48f0-b57f-3a8d99feca62" }, { fsType: "auto" }, { coreCollector: "cp" }, { waitSeconds: 0 }]) {
      expect(() => checkConfig({ ...config, ...c }, programs)).not.toThrow();
    }
  });

  it("refuses each bad value, naming the key", () => {
    expect(code({ dumpTo: "/dev/disk/by-uuid/x" })).toBe("BAD_VALUE dumpTo");
    expect(code({ dumpTo: "PARTUUID=1234" })).toBe("BAD_VALUE dumpTo");
    expect(code({ dumpTo: "vda" })).toBe("BAD_VALUE dumpTo");
    expect(code({ dumpTo: "/dev/vda\nreboot" })).toBe("BAD_VALUE dumpTo");
    expect(code({ fsType: "ext4; reboot" })).toBe("BAD_VALUE fsType");
    expect(code({ directory: "var/crash" })).toBe("BAD_VALUE directory");
    expect(code({ directory: "/var/../etc" })).toBe("BAD_VALUE directory");
    expect(code({ coreCollector: "scp host:" })).toBe("BAD_VALUE coreCollector");
    expect(code({ finalAction: "explode" as never })).toBe("BAD_VALUE finalAction");
    expect(code({ failureAction: "" as never })).toBe("BAD_VALUE failureAction");
    expect(code({ waitSeconds: 1.5 })).toBe("BAD_VALUE waitSeconds");
    expect(code({ waitSeconds: -1 })).toBe("BAD_VALUE waitSeconds");
    expect(code({ timeoutSeconds: 0 })).toBe("BAD_VALUE timeoutSeconds");
    expect(code({ waitSeconds: 100, timeoutSeconds: 100 })).toBe("BAD_VALUE timeoutSeconds");
  });
});

describe("rootDumpTarget", () => {
  const mounts = "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\n/dev/vda1 / ext4 rw,relatime 0 0\n/dev/vda15 /boot/efi vfat rw 0 0\n";

  it("takes root= when it names a device, a label or a UUID, with the type from /proc/mounts", () => {
    expect(rootDumpTarget("BOOT_IMAGE=/vmlinuz root=UUID=1234-abcd ro quiet", mounts)).toMatchObject({ dumpTo: "UUID=1234-abcd", fsType: "ext4" });
    expect(rootDumpTarget("root=LABEL=rootfs ro", mounts)).toMatchObject({ dumpTo: "LABEL=rootfs", fsType: "ext4" });
    expect(rootDumpTarget("root=/dev/nvme0n1p2 ro", mounts)).toMatchObject({ dumpTo: "/dev/nvme0n1p2", fsType: "ext4" });
  });

  it("falls back to the last / line of /proc/mounts for root=PARTUUID=, /dev/disk links or no root=", () => {
    for (const cmdline of ["root=PARTUUID=0a1b-02 ro", "root=/dev/disk/by-uuid/x", "console=ttyAMA0"]) {
      expect(rootDumpTarget(cmdline, mounts)).toMatchObject({ dumpTo: "/dev/vda1", fsType: "ext4", from: "the / line of /proc/mounts (/dev/vda1 ext4)" });
    }
  });

  it("refuses a root that is not on a block device", () => {
    expect(() => rootDumpTarget("root=/dev/nfs nfsroot=10.0.0.1:/srv", "10.0.0.1:/srv / nfs rw 0 0\n")).toThrow(/on 10\.0\.0\.1:\/srv \(nfs\) and root= is \/dev\/nfs/);
    expect(() => rootDumpTarget("root=fe01", "/dev/root / ext4 rw 0 0\n")).toThrow(InputError);
    const e = thrown(() => rootDumpTarget("console=ttyAMA0", "rootfs / rootfs rw 0 0\noverlay / overlay rw 0 0\n"));
    expect([e.code, e.message]).toEqual(["NO_DUMP_TARGET", "Cannot choose a dump device: the root file system is on overlay (overlay) and root= is not on the command line (at /proc/mounts). Name the dump device with --dump-to /dev/NAME, LABEL=… or UUID=…, and its type with --fs-type."]);
  });
});

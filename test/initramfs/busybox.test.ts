import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadAssets } from "../../scripts/assets.js";
import { InputError } from "../../toolchain/bytes/index.js";
import { busyboxApplets } from "../../toolchain/initramfs/index.js";

const list = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: "utf8" }).split("\n").filter((l) => l !== "");

describe("busyboxApplets", () => {
  it("reads the applet table of the provisioned arm64 busybox-static exactly as it lists itself (run by qemu-aarch64)", () => {
    const path = loadAssets().busybox.binary.path;
    expect(busyboxApplets(new Uint8Array(readFileSync(path)))).toEqual(list("qemu-aarch64", [path, "--list"]));
  });

  it("reads the host's busybox the same way", () => {
    const path = execFileSync("which", ["busybox"], { encoding: "utf8" }).trim();
    expect(busyboxApplets(new Uint8Array(readFileSync(path)))).toEqual(list(path, ["--list"]));
  });

  it("stops where the names stop being sorted applet names", () => {
    const bytes = new TextEncoder().encode("junk\0[\0[[\0ash\0sh\0\0zz\0");
    expect(busyboxApplets(bytes)).toEqual(["[", "[[", "ash", "sh"]);
    expect(busyboxApplets(new TextEncoder().encode("[\0[[\0sh\0ash\0"))).toEqual(["[", "[[", "sh"]);
  });

  it("refuses a binary without the table", () => {
    expect(() => busyboxApplets(new TextEncoder().encode("\x7fELF no applets here"))).toThrow(InputError);
    expect(() => busyboxApplets(new Uint8Array(0))).toThrow(/name table \(starting with the applets \[ and \[\[\) is not in the binary/);
  });
});

import { describe, expect, it } from "vitest";
import { captureSource, parseCapture } from "../../toolchain/target/index.js";
import { thrown } from "../_thrown.js";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const GOOD = [
  "purgatory-target-capture 1",
  "==> proc/iomem <==",
  b64("40000000-7fffffff : System RAM\n"),
  "==> proc/cmdline <==",
  b64("console=ttyAMA0\n").slice(0, 8),
  b64("console=ttyAMA0\n").slice(8),
  "==> sys/devices/system/cpu/cpu0/crash_notes <==",
  b64("7fdd3e00\n"),
  "==> end 3 <==",
].join("\n");


describe("parseCapture", () => {
  it("reads files split over any number of base64 lines", () => {
    const files = parseCapture(GOOD);
    expect([...files.keys()]).toEqual(["proc/iomem", "proc/cmdline", "sys/devices/system/cpu/cpu0/crash_notes"]);
    expect(Buffer.from(files.get("proc/cmdline") ?? []).toString()).toBe("console=ttyAMA0\n");
  });

  it("survives a serial console: CRLF line ends and a shell prompt around it", () => {
    const noisy = "root@board:~# sh collect-target.sh\r\n" + GOOD.replaceAll("\n", "\r\n") + "\r\nroot@board:~# ";
    expect(parseCapture(noisy)).toEqual(parseCapture(GOOD));
  });

  it("refuses a capture cut short, counted wrong, or edited, naming the line", () => {
    expect(thrown(() => parseCapture(GOOD.split("\n").slice(0, -1).join("\n")))).toMatchObject({ code: "TRUNCATED" });
    expect(thrown(() => parseCapture(GOOD.replace("end 3", "end 4")))).toMatchObject({ code: "TRUNCATED", where: "capture line 9" });
    expect(thrown(() => parseCapture("hello\n"))).toMatchObject({ code: "NOT_CAPTURE" });
    expect(thrown(() => parseCapture(GOOD.replace("capture 1", "capture 2")))).toMatchObject({ code: "BAD_CAPTURE", where: "capture line 1" });
    expect(thrown(() => parseCapture(GOOD.replace("proc/cmdline", "../etc/shadow")))).toMatchObject({ code: "BAD_CAPTURE", where: "capture line 4" });
    expect(thrown(() => parseCapture(GOOD.replace("proc/cmdline", "proc/iomem")))).toMatchObject({ code: "BAD_CAPTURE", where: "capture line 4" });
    expect(thrown(() => parseCapture(GOOD.replace(b64("7fdd3e00\n"), "not base64 at all")))).toMatchObject({ where: "capture line 8" });
    // a base64 body with padding in the middle is refused, not decoded leniently
    const padded = GOOD.replace(b64("7fdd3e00\n"), "YQ==\nYQ==");
    expect(thrown(() => parseCapture(padded))).toMatchObject({ code: "BAD_CAPTURE", where: "capture line 7" });
  });
});

describe("captureSource", () => {
  const src = captureSource(parseCapture(GOOD), "board.capture");

  it("reads whole files and byte ranges like a file system, short at the end", () => {
    expect(Buffer.from(src.read("proc/cmdline") ?? []).toString()).toBe("console=ttyAMA0\n");
    expect(src.read("proc/kcore")).toBeNull();
    expect(Buffer.from(src.readAt("proc/cmdline", 8, 100) ?? []).toString()).toBe("ttyAMA0\n");
    expect(src.readAt("proc/cmdline", 1000, 4)?.length).toBe(0);
    expect(src.readAt("proc/kcore", 0, 64)).toBeNull();
  });

  it("lists directories from the paths it holds", () => {
    expect(src.list("sys/devices/system/cpu")).toEqual(["cpu0"]);
    expect(src.list("proc")).toEqual(["cmdline", "iomem"]);
    expect(src.list("sys/firmware")).toBeNull();
  });
});

import { createHash, randomBytes } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame, encodeRequest, frameIn, parseReply } from "./_agent.js";

// The host half of the console protocol (guest/agent.sh), without a guest:
// what it accepts from a console that kernel messages also write to.

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
/** The body of a frame as agent.sh prints it (gzip -c | base64): 76 characters a line. */
const lines = (b: Uint8Array) => gzipSync(b).toString("base64").match(/.{1,76}/g) ?? [];

describe("parseReply", () => {
  it("reads the word, the fields and the guest's uptime", () => {
    expect(parseReply("@@OK PUT /bundle/dtb 8192 12.34@@", 5)).toEqual({ word: "OK", rest: "PUT /bundle/dtb 8192", uptime: 12.34, t: 5 });
    expect(parseReply("@@READY 3.05@@")).toEqual({ word: "READY", rest: "", uptime: 3.05, t: 0 });
  });

  it("finds a reply after a kernel message on the same line, and ignores lines that are not replies", () => {
    expect(parseReply("[   12.5] random: crng init done@@EXIT 0 14.00@@")?.word).toBe("EXIT");
    expect(parseReply("[    0.000000] Booting Linux on physical CPU 0x0000000000 [0x411fd070]")).toBeNull();
    expect(parseReply("@@READY@@")).toBeNull(); // no uptime: not from agent.sh
  });
});

describe("decodeFrame", () => {
  it("decodes any bytes framed as agent.sh prints them", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      expect(decodeFrame(lines(b), b.length, sha(b))).toEqual(b);
    }));
  });

  it("skips kernel messages on their own lines between base64 lines", () => {
    const b = new Uint8Array(randomBytes(300));
    const body = lines(b);
    body.splice(2, 0, "[   33.1] sysrq: Show Memory", "");
    expect(decodeFrame(body, b.length, sha(b))).toEqual(b);
  });

  it("reports a line cut by a kernel message, or a lost line, instead of returning wrong bytes", () => {
    const b = new Uint8Array(randomBytes(300));
    const cut = lines(b);
    cut[1] = `${cut[1]?.slice(0, 30)}[   33.1] sysrq: Show Memory`;
    expect(decodeFrame(cut, b.length, sha(b))).toMatch(/^the payload is not base64 of gzip/);
    const lost = lines(b);
    lost.splice(1, 1);
    expect(decodeFrame(lost, b.length, sha(b))).toMatch(/^the payload is not base64 of gzip/);
    expect(decodeFrame(lines(b.subarray(1)), b.length, sha(b))).toBe("299 bytes arrived, the frame says 300");
    const other = new Uint8Array(b);
    other[7] = (other[7] ?? 0) ^ 1;
    expect(decodeFrame(lines(other), b.length, sha(b))).toMatch(/^sha256 [0-9a-f]{64} is not the frame's [0-9a-f]{64}$/);
  });
});

describe("frameIn", () => {
  it("finds the frame NAME in a whole console (guest/emulated.sh sends one without an ACK) and decodes it", () => {
    const b = new Uint8Array(randomBytes(500));
    const other = new Uint8Array(randomBytes(20));
    const frame = (name: string, x: Uint8Array) => [`@@BEGIN ${name} ${x.length} ${sha(x)} 2.50@@`, ...lines(x), `@@END ${name} 2.61@@`];
    const console = ["[    1.5] Run /init as init process", "@@VMCORE 833298432 2.40@@", ...frame("vmcore", other), ...frame("vmcore.head", b), "@@DONE 2.70@@"];
    expect(frameIn(console, "vmcore.head")).toEqual(b);
    expect(frameIn(console, "vmcore")).toEqual(other);
    expect(frameIn(console, "dmesg")).toBe("no frame dmesg on the console");
    expect(frameIn(console.slice(0, -2), "vmcore.head")).toBe("frame vmcore.head has no end line");
  });
});

describe("encodeRequest", () => {
  it("ends the request line with the payload's length and SHA-256, then writes base64 of its gzip on no line of its own", () => {
    const payload = new TextEncoder().encode("cat /proc/iomem");
    const [line, text, ...rest] = encodeRequest(["RUN"], payload).split("\n");
    expect(rest).toEqual([]);
    expect(line).toBe(`RUN ${text?.length} ${sha(payload)}`);
    expect(new Uint8Array(gunzipSync(Buffer.from(text ?? "", "base64")))).toEqual(payload);
    expect(encodeRequest(["GET", "/tmp/target.capture"])).toBe("GET /tmp/target.capture\n");
  });
});

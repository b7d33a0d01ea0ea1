import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InputError } from "../../toolchain/bytes/index.js";
import { CpioWalker } from "../../toolchain/initrd/index.js";

/** Two archives by GNU cpio: newc and newc with checksums ("crc", magic 070702). */
const tree = mkdtempSync(join(tmpdir(), "cpio-"));
writeFileSync(join(tree, "a"), "x".repeat(1001));
writeFileSync(join(tree, "longer-name.txt"), "");
const cpio = (format: string): Uint8Array =>
  new Uint8Array(execFileSync("cpio", ["-o", "-H", format, "--quiet"], { cwd: tree, input: "a\nlonger-name.txt\n" }));
const NEWC = cpio("newc");
const CRC = cpio("crc");

function walk(data: Uint8Array, chunk: number): CpioWalker {
  const w = new CpioWalker((o) => o);
  for (let i = 0; i < data.length; i += chunk) expect(w.push(data.subarray(i, i + chunk))).toBe(Math.min(chunk, data.length - i));
  w.finish(data.length);
  return w;
}

describe("CpioWalker follows newc entries as init/initramfs.c does", () => {
  it("counts entries and closes the archive at TRAILER!!!, however the data is chunked", () => {
    for (const data of [NEWC, CRC]) {
      for (const chunk of [1, 3, 110, 4096, data.length]) {
        const w = walk(data, chunk);
        expect([w.entries, w.open, w.atBoundary, w.lastName, w.pos]).toEqual([3, false, true, "TRAILER!!!", data.length]);
      }
    }
  });

  it("stops at a byte that starts no entry, and at a cpio magic that is not 4-byte aligned", () => {
    const w = new CpioWalker((o) => o);
    const data = new Uint8Array([...NEWC, 0, 0, 0x1f, 0x8b]);
    expect(w.push(data)).toBe(NEWC.length + 2);
    expect(w.pos).toBe(NEWC.length + 2);
    const odd = new CpioWalker((o) => o);
    expect(odd.push(new Uint8Array([0, ...NEWC]))).toBe(1);
  });

  it("reports an entry cut in its header, name or data, with the offset it needs", () => {
    const cut = (n: number): string => {
      const w = new CpioWalker((o) => o);
      w.push(NEWC.subarray(0, n));
      try {
        w.finish(n);
      } catch (e) {
        if (e instanceof InputError) return `${e.code} ${e.message}`;
        throw e;
      }
      return "ok";
    };
    expect(cut(50)).toMatch(/^TRUNCATED .*cpio entry 1 at 0x0 ends inside its header: it needs the data up to 0x6e but the data ends at 0x32/);
    expect(cut(111)).toMatch(/cpio entry 1 at 0x0 ends inside its name/);
    expect(cut(200)).toMatch(/cpio entry 1 "a" at 0x0 ends inside its data: it needs the data up to 0x45c but the data ends at 0xc8/);
  });

  it("refuses a header field that is not hex, naming the field and its offset", () => {
    const bad = NEWC.slice();
    bad.set(new TextEncoder().encode("0000zz00"), 6 + 8 * 6); // c_filesize
    const w = new CpioWalker((o) => `x+${o}`);
    let err: unknown;
    try {
      w.push(bad);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).message).toMatch(/the cpio header at 0x0 has c_filesize "0000zz00", not 8 hex digits \(at x\+54\)/);
  });
});

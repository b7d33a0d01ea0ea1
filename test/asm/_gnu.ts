import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The independent producer: GNU as for AArch64 (`aarch64-linux-gnu-as`, with
 * the SHA-2 extension) and objcopy, giving the raw bytes of `.text`.
 */
export function gnuAssemble(source: string): Uint8Array {
  const dir = mkdtempSync(join(tmpdir(), "purgatory-gas-"));
  try {
    writeFileSync(join(dir, "in.S"), source.endsWith("\n") ? source : source + "\n");
    execFileSync("aarch64-linux-gnu-as", ["-march=armv8-a+sha2", "-o", join(dir, "in.o"), join(dir, "in.S")], { stdio: "pipe" });
    execFileSync("aarch64-linux-gnu-objcopy", ["-O", "binary", "-j", ".text", join(dir, "in.o"), join(dir, "out.bin")], { stdio: "pipe" });
    return new Uint8Array(readFileSync(join(dir, "out.bin")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

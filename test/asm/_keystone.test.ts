import { describe, expect, it } from "vitest";
import { KEYSTONE_TEXT_LIMIT, KeystoneEngine, KeystoneFailure } from "../../toolchain/asm/_keystone.js";

describe("KeystoneEngine", () => {
  it("assembles AArch64 little-endian", async () => {
    const ks = await KeystoneEngine.load();
    expect(Buffer.from(await ks.assemble("nop\nret", 0n)).toString("hex")).toBe("1f2003d5c0035fd6");
  });

  it("turns an error into a KeystoneFailure", async () => {
    const ks = await KeystoneEngine.load();
    await expect(ks.assemble("mov w0, #0x84000009", 0n)).rejects.toBeInstanceOf(KeystoneFailure);
  });

  it("turns stderr output (`.section .text` assembles to nothing) into a failure", async () => {
    const ks = await KeystoneEngine.load();
    await expect(ks.assemble(".section .text\nnop", 0n)).rejects.toMatchObject({ kind: "stderr" });
  });

  it("reloads the instance after a trap (`.text` then `.data`) and keeps working", async () => {
    const ks = await KeystoneEngine.load();
    await expect(ks.assemble(".text\nnop\n.data\nnop", 0n)).rejects.toMatchObject({ kind: "trap" });
    expect(ks.loads).toBe(2);
    expect(Buffer.from(await ks.assemble("nop", 0n)).toString("hex")).toBe("1f2003d5");
  });

  it("refuses text longer than KEYSTONE_TEXT_LIMIT without trying it (from ~75,600 bytes the copy onto the WASM stack traps)", async () => {
    const ks = await KeystoneEngine.load();
    const nops = (bytes: number): string => Array(Math.floor(bytes / 4)).fill("nop").join("\n");
    expect((await ks.assemble(nops(KEYSTONE_TEXT_LIMIT), 0n)).length).toBe(4 * Math.floor(KEYSTONE_TEXT_LIMIT / 4));
    await expect(ks.assemble(nops(80_000), 0n)).rejects.toMatchObject({ kind: "size" });
    expect(ks.loads).toBe(1);
  });
});

import { describe, expect, it } from "vitest";
import { getAssembler } from "../../toolchain/asm/index.js";
import { expandTemplateFile } from "../../toolchain/purgatory/index.js";
import { describeRun, runBareMetal } from "../../toolchain/qemu/index.js";
import { pseudoRandom, sha256hex } from "./_scene.js";

// The two SHA-256 routines, purgatory-src/sha256.S (scalar) and sha256-ce.S
// (the SHA-256 instructions), run on the emulated CPU (QEMU virt, cortex-a57,
// EL1, MMU off: Device memory) against node:crypto, through
// templates/sha256-harness.S: one QEMU run hashes a whole batch of messages
// and prints one digest per line.

const HARNESS_AT = 0x4020_0000n;
const TABLE_AT = 0x4100_0000n;
const DATA_AT = 0x4200_0000n;

/** Lays the messages out back to back from DATA_AT, each at a start offset of 0..7 mod 8. */
function batch(messages: readonly Uint8Array[]): { table: Uint8Array; data: Uint8Array } {
  const table = new Uint8Array(8 + 16 * messages.length);
  const tv = new DataView(table.buffer);
  tv.setBigUint64(0, BigInt(messages.length), true);
  let at = 0;
  const starts = messages.map((m, i) => {
    at += i % 8; // vary the alignment of each start
    const start = at;
    at += m.length;
    return start;
  });
  const data = new Uint8Array(at);
  for (const [i, m] of messages.entries()) {
    data.set(m, starts[i]);
    tv.setBigUint64(8 + 16 * i, DATA_AT + BigInt(starts[i]!), true);
    tv.setBigUint64(16 + 16 * i, BigInt(m.length), true);
  }
  return { table, data };
}

type Routine = "sha256" | "sha256_ce";

async function hashOnCpu(routine: Routine, messages: readonly Uint8Array[]): Promise<string[]> {
  const harness = await (await getAssembler()).assemble(expandTemplateFile("sha256-harness.S", { table: TABLE_AT, routine }), { address: HARNESS_AT });
  const { table, data } = batch(messages);
  const r = await runBareMetal({
    machine: "virt",
    images: [
      { addr: HARNESS_AT, bytes: harness.bytes },
      { addr: TABLE_AT, bytes: table },
      { addr: DATA_AT, bytes: data },
    ],
    entry: HARNESS_AT,
    timeoutMs: 90_000,
  });
  const lines = r.console.split("\r\n");
  expect(r.exitCode === 0 && lines.at(-2) === "done", describeRun(r)).toBe(true);
  return lines.slice(0, -2);
}

describe.each(["sha256", "sha256_ce"] as const)("%s on QEMU", (routine) => {
  it("matches node:crypto on 1,000+ messages: every length 0..300, the padding boundaries, random lengths and alignments", async () => {
    const lengths: number[] = [];
    for (let n = 0; n <= 300; n++) lengths.push(n);
    for (const block of [64, 128, 192, 256, 512, 1024]) for (const d of [-10, -9, -8, -7, -2, -1, 0, 1]) lengths.push(block + d);
    const rnd = pseudoRandom(4 * 1000, 0x5eed);
    for (let i = 0; lengths.length < 1100; i++) lengths.push(((rnd[i * 2]! << 8) | rnd[i * 2 + 1]!) % 2048);
    const messages = lengths.map((n, i) => pseudoRandom(n, i + 1));
    const got = await hashOnCpu(routine, messages);
    expect(got).toHaveLength(messages.length);
    for (const [i, m] of messages.entries()) expect(got[i], `message ${i}, ${m.length} bytes`).toBe(sha256hex(m));
  }, 120_000);

  it("matches node:crypto on multi-MiB inputs, aligned and not", async () => {
    const messages = [pseudoRandom(3 * 1024 * 1024, 7), pseudoRandom(5 * 1024 * 1024 + 61, 8), new Uint8Array(2 * 1024 * 1024)];
    expect(await hashOnCpu(routine, messages)).toEqual(messages.map(sha256hex));
  }, 120_000);
});

import { cpus, loadavg } from "node:os";
import {
  type FdtNode,
  encodeString,
  encodeStrings,
  encodeU32,
  encodeU64,
  parseFdt,
  serializeFdt,
} from "../toolchain/fdt/index.js";

/**
 * Parse and serialize throughput on a 1 MiB blob of many small nodes (like a
 * big SoC tree: reg, compatible, interrupts, clocks, status ...).
 *
 *   npx tsc -p tsconfig.json && node dist/bench/fdt-throughput.js [SECONDS]
 *
 * Each measurement runs for about SECONDS (default 2) after a warm-up and
 * prints MB/s (10^6 bytes of blob per second) by wall clock and by CPU time.
 */

const seconds = Number(process.argv[2] ?? 2);

function device(i: number): FdtNode {
  const props: [string, Uint8Array][] = [
    ["compatible", encodeStrings([`acme,dev${i % 97}`, "acme,generic-device"])],
    ["reg", encodeU32([0, 0x1000_0000 + i * 0x1000, 0, 0x1000])],
    ["interrupts", encodeU32([0, i % 988, 4])],
    ["clocks", encodeU32([1, i % 16])],
    ["clock-names", encodeStrings(["apb_pclk", "core"])],
    ["status", encodeString(i % 3 ? "okay" : "disabled")],
    ["acme,seed", encodeU64(BigInt(i) * 0x9e37_79b9_7f4a_7c15n & 0xffff_ffff_ffff_ffffn)],
    ["dma-coherent", new Uint8Array(0)],
  ];
  const name = `dev@${(0x1000_0000 + i * 0x1000).toString(16)}`;
  return { name, properties: props.map(([n, value]) => ({ name: n, value })), children: [] };
}

/** A blob of at least 1 MiB; the tree that built it is dropped, so only the blob stays live. */
function buildBlob(): { blob: Uint8Array; nodes: number } {
  const children: FdtNode[] = [];
  let blob: Uint8Array = new Uint8Array(0);
  while (blob.length < 1 << 20) {
    for (let k = 0; k < 256; k++) children.push(device(children.length));
    blob = serializeFdt({
      bootCpuidPhys: 0,
      reservations: [],
      root: { name: "", properties: [{ name: "#address-cells", value: encodeU32(2) }, { name: "#size-cells", value: encodeU32(2) }], children: [{ name: "soc", properties: [], children }] },
    });
  }
  return { blob, nodes: children.length };
}
const { blob, nodes } = buildBlob();

function rate(what: string, f: () => void): void {
  for (let i = 0; i < 5; i++) f(); // warm-up: let the JIT settle
  let runs = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  while (performance.now() - t0 < seconds * 1000) {
    f();
    runs++;
  }
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const cpu = (c.user + c.system) / 1e6;
  const mbs = (s: number) => ((blob.length * runs) / s / 1e6).toFixed(1).padStart(7);
  console.log(`${what.padEnd(10)} ${mbs(wall)} MB/s wall, ${mbs(cpu)} MB/s CPU  (${runs} runs, ${((1000 * wall) / runs).toFixed(2)} ms each)`);
}

console.log(`fdt throughput: blob of ${blob.length} bytes, ${nodes + 2} nodes, ${nodes * 8 + 2} properties`);
// Other work on the machine slows the wall-clock figure; CPU time is steadier.
console.log(`load average ${loadavg()[0]!.toFixed(2)} on ${cpus().length} CPUs`);
rate("parse", () => parseFdt(blob));
const tree = parseFdt(blob);
rate("serialize", () => serializeFdt(tree));

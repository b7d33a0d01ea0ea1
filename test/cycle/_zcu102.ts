import { readFileSync } from "node:fs";
import type { Assets } from "../../scripts/assets.js";
import {
  addNode,
  decodeU32,
  deleteProperty,
  encodeString,
  encodeU32,
  parseFdt,
  serializeFdt,
  setProperty,
  type FdtNode,
} from "../../toolchain/fdt/index.js";

/**
 * The ZCU102 device tree the xlnx-zcu102 guests of the cycles boot with.
 *
 * Debian's zynqmp-zcu102-rev1.0.dtb takes UART0's clocks, power domain and
 * pins from the ZynqMP firmware (PMU firmware and ATF), which QEMU does not
 * run: it marks the firmware node disabled, so xilinx_uartps never probes,
 * userspace gets no console, and only earlycon prints (the kernel log). A
 * guest the host talks to needs console input, so this copy gives UART0 what
 * the firmware would: a fixed 100 MHz reference clock (the board's
 * uart0_ref), and no power domain or pin control to wait for. Nothing else
 * changes; the kernel then registers ttyPS0 at 0xff000000.
 */
export const ZCU102_UART0 = "/axi/serial@ff000000";
export const ZCU102_UART_CLOCK_HZ = 100_000_000;

export function zcu102GuestDtb(assets: Assets): Uint8Array {
  let tree = parseFdt(new Uint8Array(readFileSync(assets.genericKernel.zcu102Dtb.path)));
  let top = 0;
  const visit = (n: FdtNode): void => {
    const p = n.properties.find((x) => x.name === "phandle")?.value;
    if (p !== undefined) top = Math.max(top, decodeU32(p));
    n.children.forEach(visit);
  };
  visit(tree.root);
  const clock = top + 1;
  tree = addNode(tree, "/uart-ref-clock");
  tree = setProperty(tree, "/uart-ref-clock", "compatible", encodeString("fixed-clock"));
  tree = setProperty(tree, "/uart-ref-clock", "#clock-cells", encodeU32(0));
  tree = setProperty(tree, "/uart-ref-clock", "clock-frequency", encodeU32(ZCU102_UART_CLOCK_HZ));
  tree = setProperty(tree, "/uart-ref-clock", "phandle", encodeU32(clock));
  // clock-names = "uart_clk", "pclk": both from the one fixed clock.
  tree = setProperty(tree, ZCU102_UART0, "clocks", encodeU32([clock, clock]));
  for (const name of ["power-domains", "pinctrl-0", "pinctrl-names"]) tree = deleteProperty(tree, ZCU102_UART0, name);
  return serializeFdt(tree);
}
